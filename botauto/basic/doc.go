// Package basic is the bot BASIC language of botauto
// (../shared/reference/basic.md). It holds no code itself; the work is split
// into packages named for their job:
//
//   - syntax:   lexer, AST, parser with error recovery, the keyword table
//   - compiler: AST → vm.Program (bytecode, constant pool, one code block per
//     FUNCTION/SUB), with semantic checks (unknown function X, argument counts)
//   - vm:       values, built-in functions, HEAR validation, the resumable
//     machine (Run / Start+Answer / Resume), budgets, the Host interface for
//     service keywords, and the versioned JSON state format
//   - tools:    PARAM/DESCRIPTION → OpenAI function JSON schema and argument checks
//
// Typical use:
//
//	prog, diags := compiler.Compile("start.bas", src) // diags: "3:7: unknown function FOO"
//	res := vm.Run(ctx, prog, vm.Options{Host: host, Vars: params})
//	// res.Outputs → the conversation; if res.Status == vm.Waiting, store
//	// res.State and later: vm.Resume(ctx, prog, state, userText, opts)
package basic
