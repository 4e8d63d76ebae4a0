package syntax

// The AST. Every node carries the position of its first token so that the
// compiler and the VM can point a bot author at the exact line and column.

// Expr is an expression node.
type Expr interface{ At() Pos }

// Stmt is a statement node.
type Stmt interface{ At() Pos }

// Node positions.
type node struct{ P Pos }

// At returns the node's position.
func (n node) At() Pos { return n.P }

type (
	// NumberLit is a numeric literal.
	NumberLit struct {
		node
		Value float64
	}
	// StringLit is a string without interpolation.
	StringLit struct {
		node
		Value string
	}
	// Interp is a string with ${expr} parts; Parts alternate freely between
	// *StringLit and other expressions.
	Interp struct {
		node
		Parts []Expr
	}
	// BoolLit is TRUE or FALSE.
	BoolLit struct {
		node
		Value bool
	}
	// NullLit is NULL (also NOTHING).
	NullLit struct{ node }
	// Ident is a variable (or, in a call, a function) name as written.
	Ident struct {
		node
		Name string
	}
	// ErrValue is ERR / ERROR MESSAGE: the message of the last error.
	ErrValue struct{ node }
	// ArrayLit is [a, b, c].
	ArrayLit struct {
		node
		Elems []Expr
	}
	// Unary is -x or NOT x.
	Unary struct {
		node
		Op string
		X  Expr
	}
	// Binary is x op y; Op is upper-case (AND, OR, MOD, IN, NOT IN, +, ...).
	Binary struct {
		node
		Op   string
		X, Y Expr
	}
	// Call is name(args): a FUNCTION, a built-in, or a(i) on an array variable.
	Call struct {
		node
		Name string
		Args []Expr
	}
	// Index is x[i].
	Index struct {
		node
		X, Index Expr
	}
	// Member is x.name.
	Member struct {
		node
		X    Expr
		Name string
	}
	// WithMember is .name inside a WITH block.
	WithMember struct {
		node
		Name string
	}
	// KeywordExpr is a keyword that yields a value, e.g. LLM "prompt".
	KeywordExpr struct {
		node
		Keyword *Keyword
		Args    []Expr
		Clauses map[string]Expr
	}
	// BadExpr stands in for an expression that did not parse.
	BadExpr struct{ node }
)

type (
	// Assign is target = value (also SET target = value).
	Assign struct {
		node
		Target Expr // *Ident, *Index, *Member, *Call (a(i) on an array)
		Value  Expr
	}
	// CallStmt calls a SUB or FUNCTION (or a built-in) and discards the result.
	CallStmt struct {
		node
		Name string
		Args []Expr
	}
	// If is a block or single-line IF.
	If struct {
		node
		Cond    Expr
		Then    []Stmt
		ElseIfs []ElseIf
		Else    []Stmt
	}
	// ElseIf is one ELSEIF / ELSE IF branch.
	ElseIf struct {
		node
		Cond Expr
		Body []Stmt
	}
	// For is FOR v = from TO to [STEP step] ... NEXT.
	For struct {
		node
		Var            *Ident
		From, To, Step Expr // Step may be nil
		Body           []Stmt
	}
	// ForEach is FOR EACH v IN list ... NEXT.
	ForEach struct {
		node
		Var  *Ident
		List Expr
		Body []Stmt
	}
	// While is WHILE c ... WEND.
	While struct {
		node
		Cond Expr
		Body []Stmt
	}
	// Do is DO [WHILE|UNTIL c] ... LOOP [WHILE|UNTIL c].
	Do struct {
		node
		Pre, Post           Expr // either may be nil
		PreUntil, PostUntil bool
		Body                []Stmt
	}
	// Exit is EXIT FOR|DO|WHILE|FUNCTION|SUB.
	Exit struct {
		node
		What string
	}
	// Select is SELECT CASE subject ... END SELECT.
	Select struct {
		node
		Subject Expr
		Cases   []Case
		Else    []Stmt
	}
	// Case is one CASE line; a value with Hi != nil is the range Lo TO Hi.
	Case struct {
		node
		Values []CaseValue
		Body   []Stmt
	}
	// CaseValue is v or lo TO hi.
	CaseValue struct {
		Lo, Hi Expr
	}
	// Proc is FUNCTION or SUB.
	Proc struct {
		node
		Name   string
		Params []*Ident
		IsFunc bool
		Body   []Stmt
	}
	// Return is RETURN [value].
	Return struct {
		node
		Value Expr
	}
	// With is WITH target ... END WITH; plain `key = value` inside sets target.key.
	With struct {
		node
		Target *Ident
		Body   []Stmt
	}
	// WithSet is key = value inside a WITH block.
	WithSet struct {
		node
		Key   string
		Value Expr
	}
	// OnError is ON ERROR RESUME NEXT (Resume) or ON ERROR GOTO 0.
	OnError struct {
		node
		Resume bool
	}
	// Throw is THROW message.
	Throw struct {
		node
		Msg Expr
	}
	// Hear is HEAR var [AS TYPE | AS menu...].
	Hear struct {
		node
		Var  *Ident
		Type string // upper-case type name, "" for any text
		Menu []Expr // options: strings or one array
	}
	// KeywordStmt is any table-driven keyword used as a statement.
	KeywordStmt struct {
		node
		Keyword *Keyword
		Args    []Expr
		Clauses map[string]Expr
	}
	// Block is BEGIN TALK ... END TALK or BEGIN MAIL to ... END MAIL.
	Block struct {
		node
		Kind string // TALK or MAIL
		Args []Expr // BEGIN MAIL's recipient
		Body Expr   // the text, with ${} interpolation
	}
	// Param declares a tool parameter.
	Param struct {
		node
		Name        string
		Type        string
		Like        Expr // literal or nil
		Description string
		Enum        []string
		Optional    bool
	}
	// Description is the tool's DESCRIPTION "...".
	Description struct {
		node
		Text string
	}
	// Table is TABLE name ... END TABLE.
	Table struct {
		node
		Name   string
		Fields []Field
	}
	// Field is one `name AS TYPE` line of a TABLE.
	Field struct {
		P    Pos
		Name string
		Type string
	}
)

// File is a parsed .bas file. Procs are also listed separately from Stmts
// because they are compiled as separate code blocks.
type File struct {
	Name        string
	Stmts       []Stmt
	Procs       []*Proc
	Params      []*Param
	Description *Description
	Tables      []*Table
}
