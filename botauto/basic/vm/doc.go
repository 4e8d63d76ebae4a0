// Package vm runs compiled bot BASIC programs: the value model, the bytecode
// format (Program, Proc, Instr with a constant pool; procedures are separate
// code blocks), the built-in functions, HEAR validation and a resumable
// stack machine.
//
// A run never blocks on the user: at HEAR, Run returns Status Waiting with
// the whole machine state serialised (versioned JSON, see StateFormat), and
// Resume continues it on a fresh Machine, in this process or another one.
// Every Run/Resume has step, wall-clock, memory and call-depth budgets.
// Keywords the VM cannot perform go through Host; conversation keywords
// (TALK, ADD SUGGESTION, SET CONTEXT, ...) become Outputs.
package vm
