package vm

import "github.com/botserver-go/botserver-go/botauto/basic/syntax"

// Op is an instruction opcode.
type Op uint8

// Opcodes. A and B are the operands of Instr; "pop x" is the stack effect.
const (
	OpNop       Op = iota
	OpConst        // push Consts[A]
	OpNull         // push null
	OpTrue         // push true
	OpFalse        // push false
	OpLoadG        // push Globals[A]
	OpStoreG       // pop into Globals[A]
	OpLoadL        // push frame local A
	OpStoreL       // pop into frame local A
	OpPop          // drop top
	OpAdd          // arithmetic and comparison: pop y, x; push x op y
	OpSub          //
	OpMul          //
	OpDiv          //
	OpMod          //
	OpPow          //
	OpConcat       // & : always text
	OpEq           //
	OpNe           //
	OpLt           //
	OpGt           //
	OpLe           //
	OpGe           //
	OpIn           // x IN y (array element or substring)
	OpNotIn        //
	OpNeg          // pop x; push -x
	OpNot          // pop x; push NOT x
	OpBool         // pop x; push truthiness of x
	OpJump         // pc = A
	OpJumpFalse    // pop x; if falsy pc = A
	OpJumpTrue     // pop x; if truthy pc = A
	OpAndJump      // if top falsy: replace by false, pc = A; else pop (short-circuit AND)
	OpOrJump       // if top truthy: replace by true, pc = A; else pop (short-circuit OR)
	OpIndex        // pop i, x; push x[i]
	OpSetIndex     // pop v, i, x; x[i] = v
	OpMember       // pop x; push x.(Consts[A])
	OpSetMember    // pop v, x; x.(Consts[A]) = v
	OpEnsureObj    // top: null becomes a new object (x.k = v on an unset x)
	OpArray        // pop A values; push an array of them
	OpInterp       // pop A values; push their text concatenated
	OpBuiltin      // pop B args; push builtins[A](args)
	OpCall         // pop B args; call Procs[A]; push its result
	OpReturn       // pop v; return v from the procedure
	OpEnd          // pop v; the script ends with result v
	OpKeyword      // Calls[A]: pop its args and clauses; push the result
	OpHear         // Hears[A]: pop its menu values; suspend for input
	OpErr          // push ERR (the last error message)
	OpOnError      // A=1: ON ERROR RESUME NEXT; A=0: ON ERROR GOTO 0
	OpThrow        // pop msg; raise it
	OpForCond      // pop step, limit, i; push whether the FOR loop continues
	OpIterHas      // pop i, list; push i < LEN(list) (errors if not an array)
	OpBetween      // pop hi, lo, x; push lo <= x <= hi (CASE lo TO hi)
)

// Instr is one instruction: 12 bytes, operands index tables of the Program.
type Instr struct {
	Op   Op
	A, B int32
}

// Seg is a statement's code range: ON ERROR RESUME NEXT continues at End
// when an error happens inside [Start, End).
type Seg struct{ Start, End int32 }

// Proc is a compiled code block: the script body (Procs[0]) or a FUNCTION/SUB.
type Proc struct {
	Name    string
	IsFunc  bool
	NParams int
	Locals  []string // names of local slots (parameters first; hidden slots start with $)
	Code    []Instr
	Pos     []syntax.Pos // source position of every instruction
	Segs    []Seg        // sorted by Start, non-overlapping
}

// KeywordCall is one call site of a table-driven keyword.
type KeywordCall struct {
	Keyword *syntax.Keyword
	NArgs   int
	Clauses []string // clause names, in the order their values are pushed
}

// HearSite is one HEAR statement.
type HearSite struct {
	Var   string // as written
	Local bool
	Slot  int
	Type  string // "" or a syntax.HearTypes name
	NMenu int    // menu values pushed before OpHear
}

// Trigger is a SET SCHEDULE / ON EMAIL / ON EVENT / WEBHOOK declaration; the
// package loader registers it without running the script.
type Trigger struct {
	Keyword string            `json:"keyword"`
	Args    []string          `json:"args"`
	Clauses map[string]string `json:"clauses,omitempty"`
	Pos     syntax.Pos        `json:"pos"`
}

// Program is a compiled .bas file. It is immutable and safe to share between
// goroutines; a Machine holds the per-run state.
type Program struct {
	Name     string
	Version  string // hash of compiler version + source; saved states name it
	Consts   []Value
	Globals  []string // lower-case names; hidden slots start with $
	Procs    []*Proc  // Procs[0] is the script body
	Calls    []KeywordCall
	Hears    []HearSite
	Triggers []Trigger

	// Tool metadata (see package tools).
	Params      []*syntax.Param
	Description string
	Tables      []*syntax.Table
}

// Global returns the slot of a global variable (lower-case name).
func (p *Program) Global(name string) (int, bool) {
	for i, g := range p.Globals {
		if g == name {
			return i, true
		}
	}
	return 0, false
}
