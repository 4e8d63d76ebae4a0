package syntax

import (
	"fmt"
	"strings"
)

// MaxDiagnostics caps the errors reported for one file; after that many the
// rest are usually consequences of the first ones.
const MaxDiagnostics = 50

// maxNesting bounds expression and block nesting so a hostile script cannot
// overflow the parser's stack.
const maxNesting = 200

// Parse parses a .bas file. It always returns a File (possibly partial) and
// every problem found, each with line:column, in source order.
func Parse(name, src string) (*File, []Diagnostic) {
	toks, diags := Lex(src)
	p := &parser{toks: toks, diags: diags, file: &File{Name: name}}
	p.file.Stmts = p.parseBlock()
	for p.tok().Kind != EOF { // a closer nobody owns at top level was skipped already
		p.next()
	}
	return p.file, sortDiags(p.diags)
}

// ParseExpr parses a single expression (used for ${} and by tests).
func ParseExpr(src string) (Expr, []Diagnostic) {
	toks, diags := Lex(src)
	p := &parser{toks: toks, diags: diags, file: &File{}}
	var e Expr = &BadExpr{}
	p.try(func() {
		e = p.expr()
		if p.tok().Kind != EOF && p.tok().Kind != NL {
			p.failf(p.tok().Pos, "unexpected %s after the expression", p.tok().describe())
		}
	})
	return e, sortDiags(p.diags)
}

func sortDiags(d []Diagnostic) []Diagnostic {
	// Stable insertion sort by position: lists are short.
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && less(d[j].Pos, d[j-1].Pos); j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
	if len(d) > MaxDiagnostics {
		d = d[:MaxDiagnostics]
	}
	return d
}

func less(a, b Pos) bool { return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col }

type openBlock struct {
	kind string // IF FOR DO WHILE SELECT FUNCTION SUB WITH TABLE
	pos  Pos
}

var closersOf = map[string][]string{
	"IF":       {"ELSE", "ELSEIF", "END IF"},
	"FOR":      {"NEXT"},
	"DO":       {"LOOP"},
	"WHILE":    {"WEND"},
	"SELECT":   {"CASE", "END SELECT"},
	"FUNCTION": {"END FUNCTION"},
	"SUB":      {"END SUB"},
	"WITH":     {"END WITH"},
	"TABLE":    {"END TABLE"},
}

var endOf = map[string]string{
	"IF": "END IF", "FOR": "NEXT", "DO": "LOOP", "WHILE": "WEND", "SELECT": "END SELECT",
	"FUNCTION": "END FUNCTION", "SUB": "END SUB", "WITH": "END WITH", "TABLE": "END TABLE",
}

var orphanMsg = map[string]string{
	"ELSE": "ELSE without IF", "ELSEIF": "ELSEIF without IF", "END IF": "END IF without IF",
	"NEXT": "NEXT without FOR", "LOOP": "LOOP without DO", "WEND": "WEND without WHILE",
	"CASE": "CASE outside SELECT CASE", "END SELECT": "END SELECT without SELECT CASE",
	"END FUNCTION": "END FUNCTION without FUNCTION", "END SUB": "END SUB without SUB",
	"END WITH": "END WITH without WITH", "END TABLE": "END TABLE without TABLE",
	"END TALK": "END TALK without BEGIN TALK", "END MAIL": "END MAIL without BEGIN MAIL",
}

// reserved words cannot be variable names.
var reserved = map[string]bool{
	"IF": true, "THEN": true, "ELSE": true, "ELSEIF": true, "END": true, "ENDIF": true,
	"FOR": true, "EACH": true, "IN": true, "TO": true, "STEP": true, "NEXT": true,
	"DO": true, "LOOP": true, "WHILE": true, "UNTIL": true, "WEND": true, "SELECT": true,
	"CASE": true, "FUNCTION": true, "SUB": true, "WITH": true, "EXIT": true, "RETURN": true,
	"CALL": true, "ON": true, "THROW": true, "AND": true, "OR": true, "NOT": true,
	"MOD": true, "TRUE": true, "FALSE": true, "NULL": true, "NOTHING": true, "AS": true,
}

type bailout struct{}

type parser struct {
	toks       []Token
	i          int
	diags      []Diagnostic
	file       *File
	blocks     []openBlock
	withDepth  int
	singleLine int
	depth      int
}

func (p *parser) tok() Token { return p.toks[p.i] }
func (p *parser) peekTok(n int) Token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() Token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	p.diags = append(p.diags, Diagnostic{pos, fmt.Sprintf(format, args...)})
}

// failf reports an error and abandons the current statement.
func (p *parser) failf(pos Pos, format string, args ...any) {
	p.errorf(pos, format, args...)
	panic(bailout{})
}

// try runs f; if f bails out, the rest of the physical line is skipped.
func (p *parser) try(f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, is := r.(bailout); !is {
				panic(r)
			}
			p.skipLine()
			ok = false
		}
	}()
	f()
	return true
}

func (p *parser) skipLine() {
	for k := p.tok().Kind; k != NL && k != EOF; k = p.tok().Kind {
		p.next()
	}
}

func (p *parser) isWord(w string) bool { return p.tok().Kind == Word && p.tok().Upper() == w }
func (p *parser) isOp(op string) bool  { return p.tok().Kind == Op && p.tok().Text == op }

func (p *parser) acceptWord(w string) bool {
	if p.isWord(w) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expectWord(w, context string) Token {
	if !p.isWord(w) {
		p.failf(p.tok().Pos, "expected %s %s, found %s", w, context, p.tok().describe())
	}
	return p.next()
}

func (p *parser) expectOp(op, context string) Token {
	if !p.isOp(op) {
		p.failf(p.tok().Pos, "expected %q %s, found %s", op, context, p.tok().describe())
	}
	return p.next()
}

func (p *parser) ident(context string) *Ident {
	t := p.tok()
	if t.Kind != Word {
		p.failf(t.Pos, "expected a name %s, found %s", context, t.describe())
	}
	if reserved[t.Upper()] {
		p.failf(t.Pos, "%s is a reserved word and cannot be used as a name", t.Upper())
	}
	p.next()
	return &Ident{node{t.Pos}, t.Text}
}

func (p *parser) atTerminator() bool {
	k := p.tok().Kind
	return k == NL || k == Sep || k == EOF || p.singleLine > 0 && p.isWord("ELSE")
}

// endStmt checks that the statement ends here.
func (p *parser) endStmt() {
	if !p.atTerminator() {
		p.failf(p.tok().Pos, "unexpected %s after the statement", p.tok().describe())
	}
}

// closerAt returns the block-closing phrase at the current token, if any.
func (p *parser) closerAt() string {
	t := p.tok()
	if t.Kind != Word {
		return ""
	}
	switch w := t.Upper(); w {
	case "ELSE", "ELSEIF", "NEXT", "LOOP", "WEND", "CASE":
		return w
	case "ENDIF":
		return "END IF"
	case "END":
		switch n := p.peekTok(1).Upper(); n {
		case "IF", "SUB", "FUNCTION", "SELECT", "WITH", "TABLE", "TALK", "MAIL":
			return "END " + n
		}
	}
	return ""
}

func (p *parser) consumeCloser(c string) {
	p.next()
	if strings.HasPrefix(c, "END ") && p.tok().Upper() != "ENDIF" && p.isWord(c[4:]) {
		p.next()
	}
}

func (p *parser) owned(c string) bool {
	for i := len(p.blocks) - 1; i >= 0; i-- {
		for _, x := range closersOf[p.blocks[i].kind] {
			if x == c {
				return true
			}
		}
	}
	return false
}

// parseBlock parses statements up to a closer owned by an open block, or EOF.
func (p *parser) parseBlock() []Stmt {
	var out []Stmt
	for {
		switch p.tok().Kind {
		case NL, Sep:
			p.next()
			continue
		case EOF:
			return out
		}
		if c := p.closerAt(); c != "" {
			if p.owned(c) {
				return out
			}
			p.errorf(p.tok().Pos, "%s", orphanMsg[c])
			p.skipLine()
			continue
		}
		if s := p.statement(); s != nil {
			out = append(out, s)
		}
	}
}

// block parses the body of kind opened at pos and consumes its closer;
// it returns the closer found ("" when the block was left unclosed).
func (p *parser) block(kind string, pos Pos, accept ...string) ([]Stmt, string) {
	p.blocks = append(p.blocks, openBlock{kind, pos})
	if len(p.blocks) > maxNesting {
		p.blocks = p.blocks[:len(p.blocks)-1]
		p.failf(pos, "blocks are nested too deeply")
	}
	body := p.parseBlock()
	p.blocks = p.blocks[:len(p.blocks)-1]
	c := p.closerAt()
	for _, a := range accept {
		if c == a {
			return body, c
		}
	}
	where := "the end of the file"
	if c != "" {
		where = fmt.Sprintf("%s at %s", c, p.tok().Pos)
	}
	name := kind
	if kind == "SELECT" {
		name = "SELECT CASE"
	}
	p.errorf(pos, "%s has no matching %s (reached %s)", name, endOf[kind], where)
	return body, ""
}

// statement parses one statement; on error it reports and skips the line.
func (p *parser) statement() (s Stmt) {
	if len(p.diags) >= MaxDiagnostics*2 {
		p.skipLine()
		return nil
	}
	p.try(func() { s = p.stmt() })
	return s
}

func (p *parser) stmt() Stmt {
	t := p.tok()
	pos := t.Pos
	if t.Kind == Op && t.Text == "." && p.withDepth > 0 {
		p.next()
		key := p.ident("after \".\"")
		p.expectOp("=", "after ."+key.Name)
		v := p.expr()
		p.endStmt()
		return &WithSet{node{pos}, key.Name, v}
	}
	if t.Kind != Word {
		p.failf(pos, "expected a statement, found %s", t.describe())
	}
	up := t.Upper()
	if p.peekTok(1).Kind == Op && p.peekTok(1).Text == "=" && !reserved[up] {
		return p.assign()
	}
	switch up {
	case "IF":
		return p.ifStmt()
	case "FOR":
		return p.forStmt()
	case "DO":
		return p.doStmt()
	case "WHILE":
		return p.whileStmt()
	case "SELECT":
		return p.selectStmt()
	case "FUNCTION", "SUB":
		return p.procStmt()
	case "WITH":
		return p.withStmt()
	case "EXIT":
		p.next()
		w := p.tok()
		switch w.Upper() {
		case "FOR", "DO", "WHILE", "FUNCTION", "SUB":
			p.next()
		default:
			p.failf(w.Pos, "expected FOR, DO, WHILE, FUNCTION or SUB after EXIT, found %s", w.describe())
		}
		p.endStmt()
		return &Exit{node{pos}, w.Upper()}
	case "RETURN":
		p.next()
		var v Expr
		if !p.atTerminator() {
			v = p.expr()
		}
		p.endStmt()
		return &Return{node{pos}, v}
	case "CALL":
		p.next()
		name := p.ident("after CALL")
		var args []Expr
		if p.isOp("(") {
			args = p.parenArgs()
		}
		p.endStmt()
		return &CallStmt{node{pos}, name.Name, args}
	case "ON":
		if p.peekTok(1).Upper() == "ERROR" {
			p.next()
			p.next()
			if p.acceptWord("RESUME") {
				p.expectWord("NEXT", "after ON ERROR RESUME")
				p.endStmt()
				return &OnError{node{pos}, true}
			}
			if p.acceptWord("GOTO") {
				if n := p.tok(); n.Kind == Number && n.Num == 0 {
					p.next()
					p.endStmt()
					return &OnError{node{pos}, false}
				}
			}
			p.failf(pos, "expected ON ERROR RESUME NEXT or ON ERROR GOTO 0")
		}
	case "THROW":
		p.next()
		v := p.expr()
		p.endStmt()
		return &Throw{node{pos}, v}
	case "HEAR":
		return p.hearStmt()
	case "PARAM":
		return p.paramStmt()
	case "DESCRIPTION":
		p.next()
		s := p.tok()
		if s.Kind != String {
			p.failf(s.Pos, "expected the description text in quotes after DESCRIPTION, found %s", s.describe())
		}
		p.next()
		p.endStmt()
		d := &Description{node{pos}, s.Text}
		if p.file.Description != nil {
			p.errorf(pos, "DESCRIPTION is already given at %s", p.file.Description.P)
		} else {
			p.file.Description = d
		}
		return d
	case "TABLE":
		return p.tableStmt()
	case "BEGIN":
		return p.beginStmt()
	case "SET":
		if n := p.peekTok(1); n.Kind == Word && p.peekTok(2).Kind == Op && (p.peekTok(2).Text == "=" || p.peekTok(2).Text == "." || p.peekTok(2).Text == "[") {
			p.next()
			return p.assign()
		}
	case "END":
		p.failf(pos, "END must be followed by IF, FUNCTION, SUB, SELECT, WITH, TABLE, TALK or MAIL")
	}
	if k, n := p.matchKeyword(false); k != nil {
		for i := 0; i < n; i++ {
			p.next()
		}
		args, clauses := p.keywordArgs(k, pos)
		p.endStmt()
		return &KeywordStmt{node{pos}, k, args, clauses}
	}
	if reserved[up] {
		p.failf(pos, "unexpected %s", up)
	}
	// A procedure call, or an assignment to an element or member.
	target := p.postfix()
	if p.isOp("=") {
		p.next()
		return p.finishAssign(pos, target)
	}
	switch x := target.(type) {
	case *Call:
		p.endStmt()
		return &CallStmt{node{pos}, x.Name, x.Args}
	case *Ident:
		var args []Expr
		if !p.atTerminator() {
			args = p.exprList()
		}
		p.endStmt()
		return &CallStmt{node{pos}, x.Name, args}
	}
	p.failf(p.tok().Pos, "expected \"=\" or a statement, found %s", p.tok().describe())
	return nil
}

// matchKeyword finds the longest keyword phrase at the current token;
// valueOnly restricts it to keywords that yield a value.
func (p *parser) matchKeyword(valueOnly bool) (*Keyword, int) {
	for _, k := range keywordsByFirst[p.tok().Upper()] {
		if valueOnly && !k.Value {
			continue
		}
		words := strings.Fields(k.Phrase)
		ok := true
		for i, w := range words {
			if p.peekTok(i).Upper() != w {
				ok = false
				break
			}
		}
		if ok {
			return k, len(words)
		}
	}
	return nil, 0
}

func (p *parser) keywordArgs(k *Keyword, pos Pos) ([]Expr, map[string]Expr) {
	var args []Expr
	isClause := func() bool {
		for _, c := range k.Clauses {
			if p.isWord(c) {
				return true
			}
		}
		return false
	}
	if k.Max != 0 && !p.atTerminator() && !isClause() {
		args = p.exprList()
	}
	var clauses map[string]Expr
	for isClause() {
		w := p.next()
		if clauses == nil {
			clauses = map[string]Expr{}
		}
		if _, dup := clauses[w.Upper()]; dup {
			p.failf(w.Pos, "%s is given twice", w.Upper())
		}
		clauses[w.Upper()] = p.expr()
	}
	p.arity(k, pos, len(args))
	if k.Required != "" && clauses[k.Required] == nil {
		p.failf(pos, "%s needs %s, as in: %s name %s \"text\"", k.Phrase, k.Required, k.Phrase, k.Required)
	}
	return args, clauses
}

func (p *parser) exprList() []Expr {
	list := []Expr{p.expr()}
	for p.isOp(",") {
		p.next()
		list = append(list, p.expr())
	}
	return list
}

func (p *parser) parenArgs() []Expr {
	open := p.expectOp("(", "")
	var args []Expr
	if !p.isOp(")") {
		args = p.exprList()
	}
	if !p.isOp(")") {
		p.failf(p.tok().Pos, "expected \")\" to close \"(\" at %s, found %s", open.Pos, p.tok().describe())
	}
	p.next()
	return args
}

func (p *parser) assign() Stmt {
	pos := p.tok().Pos
	target := p.postfix()
	p.expectOp("=", "in the assignment")
	return p.finishAssign(pos, target)
}

func (p *parser) finishAssign(pos Pos, target Expr) Stmt {
	switch target.(type) {
	case *Ident, *Index, *Member, *Call:
	case *WithMember:
		v := p.expr()
		p.endStmt()
		return &WithSet{node{pos}, target.(*WithMember).Name, v}
	default:
		p.failf(pos, "cannot assign to this expression")
	}
	var v Expr
	// x = KEYWORD args: a value keyword with arguments without parentheses.
	if k, n := p.matchKeyword(true); k != nil {
		after := p.peekTok(n)
		if !(after.Kind == Op && after.Text == "(") && startsOperand(after) {
			kp := p.tok().Pos
			for i := 0; i < n; i++ {
				p.next()
			}
			args, clauses := p.keywordArgs(k, kp)
			v = &KeywordExpr{node{kp}, k, args, clauses}
		}
	}
	if v == nil {
		v = p.expr()
	}
	p.endStmt()
	if id, ok := target.(*Ident); ok && p.withDepth > 0 {
		return &WithSet{node{pos}, id.Name, v}
	}
	return &Assign{node{pos}, target, v}
}

func startsOperand(t Token) bool {
	switch t.Kind {
	case String, Number:
		return true
	case Word:
		u := t.Upper()
		return !reserved[u] || u == "TRUE" || u == "FALSE" || u == "NULL" || u == "NOT"
	case Op:
		return t.Text == "[" || t.Text == "-"
	}
	return false
}

// ifStmt: block IF when THEN ends the line, single-line IF otherwise.
func (p *parser) ifStmt() Stmt {
	pos := p.next().Pos
	single := false
	for j := p.i; p.toks[j].Kind != NL && p.toks[j].Kind != EOF; j++ {
		if p.toks[j].Upper() == "THEN" && p.toks[j+1].Kind != NL && p.toks[j+1].Kind != EOF {
			single = true
		}
	}
	s := &If{node: node{pos}}
	s.Cond = &BadExpr{node{pos}}
	headerOK := p.try(func() {
		s.Cond = p.expr()
		if !p.isWord("THEN") {
			p.errorf(p.tok().Pos, "expected THEN after the IF condition, found %s", p.tok().describe())
			if single {
				panic(bailout{})
			}
			p.skipLine()
			return
		}
		p.next()
	})
	if single {
		if !headerOK {
			return s
		}
		p.singleLine++
		defer func() { p.singleLine-- }()
		s.Then = p.inlineStmts()
		if p.acceptWord("ELSE") {
			s.Else = p.inlineStmts()
		}
		p.endStmt()
		return s
	}
	var c string
	s.Then, c = p.block("IF", pos, "ELSE", "ELSEIF", "END IF")
	for c == "ELSEIF" || c == "ELSE" && p.peekTok(1).Upper() == "IF" {
		ep := p.tok().Pos
		p.next()
		if c == "ELSE" {
			p.next()
		}
		ei := ElseIf{node: node{ep}, Cond: &BadExpr{node{ep}}}
		p.try(func() {
			ei.Cond = p.expr()
			p.expectWord("THEN", "after the ELSEIF condition")
			p.endStmt()
		})
		ei.Body, c = p.block("IF", pos, "ELSE", "ELSEIF", "END IF")
		s.ElseIfs = append(s.ElseIfs, ei)
	}
	if c == "ELSE" {
		p.next()
		p.try(p.endStmt)
		s.Else, c = p.block("IF", pos, "END IF")
	}
	if c == "END IF" {
		p.consumeCloser(c)
		p.endStmt()
	}
	return s
}

// inlineStmts parses ':'-separated statements of a single-line IF.
func (p *parser) inlineStmts() []Stmt {
	var out []Stmt
	for {
		if p.atTerminator() && p.tok().Kind != Sep {
			return out
		}
		if p.tok().Kind == Sep {
			p.next()
			continue
		}
		out = append(out, p.stmt())
	}
}

func (p *parser) forStmt() Stmt {
	pos := p.next().Pos
	if p.acceptWord("EACH") {
		s := &ForEach{node: node{pos}}
		s.Var = &Ident{node{pos}, "_"}
		s.List = &BadExpr{node{pos}}
		p.try(func() {
			s.Var = p.ident("after FOR EACH")
			p.expectWord("IN", "after FOR EACH "+s.Var.Name)
			s.List = p.expr()
			p.endStmt()
		})
		var c string
		s.Body, c = p.block("FOR", pos, "NEXT")
		if c != "" {
			p.next()
			p.nextVar(s.Var)
		}
		return s
	}
	s := &For{node: node{pos}}
	s.Var = &Ident{node{pos}, "_"}
	s.From, s.To = &BadExpr{node{pos}}, &BadExpr{node{pos}}
	p.try(func() {
		s.Var = p.ident("after FOR")
		p.expectOp("=", "after FOR "+s.Var.Name)
		s.From = p.expr()
		p.expectWord("TO", "in the FOR loop")
		s.To = p.expr()
		if p.acceptWord("STEP") {
			s.Step = p.expr()
		}
		p.endStmt()
	})
	var c string
	s.Body, c = p.block("FOR", pos, "NEXT")
	if c != "" {
		p.next()
		p.nextVar(s.Var)
	}
	return s
}

// nextVar checks the optional variable after NEXT.
func (p *parser) nextVar(v *Ident) {
	p.try(func() {
		if p.tok().Kind == Word && !p.atTerminator() {
			t := p.next()
			if !strings.EqualFold(t.Text, v.Name) {
				p.errorf(t.Pos, "NEXT %s does not match FOR %s at %s", t.Text, v.Name, v.P)
			}
		}
		p.endStmt()
	})
}

func (p *parser) doStmt() Stmt {
	pos := p.next().Pos
	s := &Do{node: node{pos}}
	p.try(func() {
		if p.isWord("WHILE") || p.isWord("UNTIL") {
			s.PreUntil = p.next().Upper() == "UNTIL"
			s.Pre = p.expr()
		}
		p.endStmt()
	})
	var c string
	s.Body, c = p.block("DO", pos, "LOOP")
	if c != "" {
		lp := p.next().Pos
		p.try(func() {
			if p.isWord("WHILE") || p.isWord("UNTIL") {
				s.PostUntil = p.next().Upper() == "UNTIL"
				s.Post = p.expr()
				if s.Pre != nil {
					p.errorf(lp, "a DO loop has a condition after DO or after LOOP, not both")
				}
			}
			p.endStmt()
		})
	}
	return s
}

func (p *parser) whileStmt() Stmt {
	pos := p.next().Pos
	s := &While{node: node{pos}, Cond: &BadExpr{node{pos}}}
	p.try(func() {
		s.Cond = p.expr()
		p.endStmt()
	})
	var c string
	s.Body, c = p.block("WHILE", pos, "WEND")
	if c != "" {
		p.next()
		p.try(p.endStmt)
	}
	return s
}

func (p *parser) selectStmt() Stmt {
	pos := p.next().Pos
	s := &Select{node: node{pos}, Subject: &BadExpr{node{pos}}}
	p.try(func() {
		p.expectWord("CASE", "after SELECT")
		s.Subject = p.expr()
		p.endStmt()
	})
	body, c := p.block("SELECT", pos, "CASE", "END SELECT")
	if len(body) > 0 {
		p.errorf(body[0].At(), "statements after SELECT CASE must be inside a CASE")
	}
	for c == "CASE" {
		cp := p.next().Pos
		cs := Case{node: node{cp}}
		isElse := false
		p.try(func() {
			if p.acceptWord("ELSE") {
				isElse = true
				if s.Else != nil {
					p.errorf(cp, "CASE ELSE is given twice")
				}
			} else {
				for {
					v := CaseValue{Lo: p.expr()}
					if p.acceptWord("TO") {
						v.Hi = p.expr()
					}
					cs.Values = append(cs.Values, v)
					if !p.isOp(",") {
						break
					}
					p.next()
				}
			}
			p.endStmt()
		})
		cs.Body, c = p.block("SELECT", pos, "CASE", "END SELECT")
		if isElse {
			s.Else = append([]Stmt{}, cs.Body...)
			if s.Else == nil {
				s.Else = []Stmt{}
			}
		} else {
			if s.Else != nil {
				p.errorf(cp, "CASE after CASE ELSE is never reached")
			}
			s.Cases = append(s.Cases, cs)
		}
	}
	if c == "END SELECT" {
		p.consumeCloser(c)
		p.try(p.endStmt)
	}
	return s
}

func (p *parser) procStmt() Stmt {
	t := p.next()
	pos := t.Pos
	kind := t.Upper()
	s := &Proc{node: node{pos}, IsFunc: kind == "FUNCTION", Name: "_"}
	if len(p.blocks) > 0 {
		p.errorf(pos, "%s must be at the top level of the file, not inside %s", kind, p.blocks[len(p.blocks)-1].kind)
	}
	p.try(func() {
		s.Name = p.ident("after " + kind).Name
		if p.isOp("(") {
			p.next()
			for !p.isOp(")") {
				s.Params = append(s.Params, p.ident("of a parameter"))
				if p.acceptWord("AS") { // types of parameters are accepted and ignored
					p.ident("of a type")
				}
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			p.expectOp(")", "after the parameters")
		}
		p.endStmt()
	})
	var c string
	s.Body, c = p.block(kind, pos, "END "+kind)
	if c != "" {
		p.consumeCloser(c)
		p.try(p.endStmt)
	}
	if len(p.blocks) == 0 {
		p.file.Procs = append(p.file.Procs, s)
	}
	return s
}

func (p *parser) withStmt() Stmt {
	pos := p.next().Pos
	s := &With{node: node{pos}, Target: &Ident{node{pos}, "_"}}
	p.try(func() {
		s.Target = p.ident("after WITH")
		p.endStmt()
	})
	p.withDepth++
	var c string
	s.Body, c = p.block("WITH", pos, "END WITH")
	p.withDepth--
	if c != "" {
		p.consumeCloser(c)
		p.try(p.endStmt)
	}
	return s
}

func (p *parser) hearStmt() Stmt {
	pos := p.next().Pos
	s := &Hear{node: node{pos}}
	s.Var = p.ident("after HEAR")
	if p.acceptWord("AS") {
		t := p.tok()
		if t.Kind == Word && HearTypes[t.Upper()] && (p.peekTok(1).Kind == NL || p.peekTok(1).Kind == EOF || p.peekTok(1).Kind == Sep) {
			p.next()
			s.Type = t.Upper()
		} else {
			s.Menu = p.exprList()
		}
	}
	p.endStmt()
	return s
}

func (p *parser) paramStmt() Stmt {
	pos := p.next().Pos
	s := &Param{node: node{pos}}
	s.Name = p.ident("after PARAM").Name
	p.expectWord("AS", "after PARAM "+s.Name)
	tt := p.tok()
	s.Type = p.ident("of the PARAM type").Name
	s.Type = strings.ToUpper(s.Type)
	if !ParamTypes[s.Type] {
		p.errorf(tt.Pos, "unknown PARAM type %s (use STRING, INTEGER, NUMBER, BOOLEAN, DATE, EMAIL, URL, ...)", s.Type)
	}
	for !p.atTerminator() {
		w := p.tok()
		switch w.Upper() {
		case "LIKE":
			p.next()
			s.Like = p.primary()
			switch s.Like.(type) {
			case *StringLit, *NumberLit, *BoolLit:
			default:
				p.errorf(s.Like.At(), "LIKE needs a literal example such as \"Lisbon\" or 42")
			}
		case "DESCRIPTION":
			p.next()
			d := p.tok()
			if d.Kind != String {
				p.failf(d.Pos, "expected the description text in quotes, found %s", d.describe())
			}
			p.next()
			s.Description = d.Text
		case "ENUM":
			p.next()
			var list []Expr
			if p.isOp("[") {
				list = p.primary().(*ArrayLit).Elems
			} else {
				list = p.exprList()
			}
			for _, e := range list {
				sl, ok := e.(*StringLit)
				if !ok {
					p.failf(e.At(), "ENUM values must be strings in quotes")
				}
				s.Enum = append(s.Enum, sl.Value)
			}
		case "OPTIONAL":
			p.next()
			s.Optional = true
		default:
			p.failf(w.Pos, "expected LIKE, DESCRIPTION, ENUM or OPTIONAL in PARAM, found %s", w.describe())
		}
	}
	for _, q := range p.file.Params {
		if strings.EqualFold(q.Name, s.Name) {
			p.errorf(pos, "PARAM %s is already declared at %s", s.Name, q.P)
		}
	}
	p.file.Params = append(p.file.Params, s)
	return s
}

func (p *parser) tableStmt() Stmt {
	pos := p.next().Pos
	s := &Table{node: node{pos}, Name: "_"}
	p.try(func() {
		s.Name = p.ident("after TABLE").Name
		p.endStmt()
	})
	p.blocks = append(p.blocks, openBlock{"TABLE", pos})
	for {
		for p.tok().Kind == NL || p.tok().Kind == Sep {
			p.next()
		}
		if p.tok().Kind == EOF || p.closerAt() != "" {
			break
		}
		p.try(func() {
			f := Field{P: p.tok().Pos}
			f.Name = p.ident("of a field").Name
			p.expectWord("AS", "after the field name")
			f.Type = strings.ToUpper(p.ident("of the field type").Name)
			// A size stays in the type ("STRING(100)"); other options
			// (e.g. KEY) are skipped.
			if p.isOp("(") {
				for !p.atTerminator() && !p.isOp(")") {
					f.Type += p.next().Text
				}
				if p.isOp(")") {
					f.Type += p.next().Text
				}
			}
			for !p.atTerminator() {
				p.next()
			}
			s.Fields = append(s.Fields, f)
		})
	}
	p.blocks = p.blocks[:len(p.blocks)-1]
	if p.closerAt() == "END TABLE" {
		p.consumeCloser("END TABLE")
		p.try(p.endStmt)
	} else {
		p.errorf(pos, "TABLE has no matching END TABLE")
	}
	p.file.Tables = append(p.file.Tables, s)
	return s
}

func (p *parser) beginStmt() Stmt {
	pos := p.next().Pos
	kind := p.tok().Upper()
	if kind != "TALK" && kind != "MAIL" {
		p.failf(p.tok().Pos, "expected TALK or MAIL after BEGIN, found %s", p.tok().describe())
	}
	p.next()
	s := &Block{node: node{pos}, Kind: kind}
	if kind == "MAIL" {
		s.Args = []Expr{p.expr()}
	}
	if p.tok().Kind != NL {
		p.failf(p.tok().Pos, "BEGIN %s must be alone on its line, found %s", kind, p.tok().describe())
	}
	p.next()
	if p.tok().Kind != Raw {
		p.failf(pos, "BEGIN %s has no matching END %s", kind, kind)
	}
	raw := p.next()
	var parts []Expr
	for i, l := range raw.Raw {
		if i > 0 {
			parts = append(parts, &StringLit{node{l.Pos}, "\n"})
		}
		cols := make([]int, len(l.Text))
		for j := range cols {
			cols[j] = l.Pos.Col + j
		}
		parts = append(parts, p.interpParts(l.Text, cols, l.Pos)...)
	}
	s.Body = joinParts(pos, parts)
	if p.closerAt() != "END "+kind {
		p.errorf(pos, "BEGIN %s has no matching END %s", kind, kind)
		return s
	}
	p.consumeCloser("END " + kind)
	p.endStmt()
	return s
}

// ---- expressions ----

func (p *parser) expr() Expr {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		p.failf(p.tok().Pos, "expression is nested too deeply")
	}
	return p.or()
}

func (p *parser) binary(next func() Expr, ops ...string) Expr {
	x := next()
	for {
		t := p.tok()
		op := ""
		for _, o := range ops {
			if t.Kind == Op && t.Text == o || t.Kind == Word && t.Upper() == o {
				op = o
			}
		}
		if op == "" {
			return x
		}
		p.next()
		x = &Binary{node{t.Pos}, op, x, next()}
	}
}

func (p *parser) or() Expr  { return p.binary(p.and, "OR") }
func (p *parser) and() Expr { return p.binary(p.not, "AND") }
func (p *parser) not() Expr {
	if p.isWord("NOT") {
		t := p.next()
		return &Unary{node{t.Pos}, "NOT", p.not()}
	}
	return p.cmp()
}

func (p *parser) cmp() Expr {
	x := p.concat()
	for {
		t := p.tok()
		op := ""
		switch {
		case t.Kind == Op && (t.Text == "=" || t.Text == "<>" || t.Text == "<" || t.Text == ">" || t.Text == "<=" || t.Text == ">="):
			op = t.Text
		case t.Upper() == "IN":
			op = "IN"
		case t.Upper() == "NOT" && p.peekTok(1).Upper() == "IN":
			op = "NOT IN"
			p.next()
		}
		if op == "" {
			return x
		}
		p.next()
		x = &Binary{node{t.Pos}, op, x, p.concat()}
	}
}

func (p *parser) concat() Expr { return p.binary(p.add, "&") }
func (p *parser) add() Expr    { return p.binary(p.mod, "+", "-") }
func (p *parser) mod() Expr    { return p.binary(p.mul, "MOD") }
func (p *parser) mul() Expr    { return p.binary(p.unary, "*", "/") }

func (p *parser) unary() Expr {
	if p.isOp("-") || p.isOp("+") {
		t := p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxNesting {
			p.failf(t.Pos, "expression is nested too deeply")
		}
		x := p.unary()
		if t.Text == "+" {
			return x
		}
		if n, ok := x.(*NumberLit); ok {
			return &NumberLit{node{t.Pos}, -n.Value}
		}
		return &Unary{node{t.Pos}, "-", x}
	}
	return p.pow()
}

// pow is right-associative and binds tighter than unary minus: -2^2 = -4.
func (p *parser) pow() Expr {
	x := p.postfix()
	if p.isOp("^") {
		t := p.next()
		return &Binary{node{t.Pos}, "^", x, p.unary()}
	}
	return x
}

func (p *parser) postfix() Expr {
	x := p.primary()
	for {
		t := p.tok()
		switch {
		case t.Kind == Op && t.Text == "[":
			p.next()
			i := p.expr()
			p.expectOp("]", "to close \"[\"")
			x = &Index{node{t.Pos}, x, i}
		case t.Kind == Op && t.Text == "." && p.peekTok(1).Kind == Word:
			p.next()
			x = &Member{node{t.Pos}, x, p.next().Text}
		case t.Kind == Op && t.Text == "(":
			if _, isCall := x.(*Call); isCall {
				return x
			}
			args := p.parenArgs()
			if len(args) != 1 {
				p.failf(t.Pos, "an index in ( ) takes one value")
			}
			x = &Index{node{t.Pos}, x, args[0]}
		default:
			return x
		}
	}
}

func (p *parser) primary() Expr {
	t := p.tok()
	switch t.Kind {
	case Number:
		p.next()
		return &NumberLit{node{t.Pos}, t.Num}
	case String:
		p.next()
		return joinParts(t.Pos, p.interpParts(t.Text, t.Cols, t.Pos))
	case Op:
		switch t.Text {
		case "(":
			p.next()
			x := p.expr()
			p.expectOp(")", "to close \"(\" at "+t.Pos.String())
			return x
		case "[":
			p.next()
			a := &ArrayLit{node: node{t.Pos}}
			for !p.isOp("]") {
				a.Elems = append(a.Elems, p.expr())
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			p.expectOp("]", "to close \"[\" at "+t.Pos.String())
			return a
		case ".":
			if p.withDepth > 0 && p.peekTok(1).Kind == Word {
				p.next()
				return &WithMember{node{t.Pos}, p.next().Text}
			}
		}
	case Word:
		up := t.Upper()
		switch up {
		case "TRUE", "FALSE":
			p.next()
			return &BoolLit{node{t.Pos}, up == "TRUE"}
		case "NULL", "NOTHING":
			p.next()
			return &NullLit{node{t.Pos}}
		case "ERR":
			p.next()
			return &ErrValue{node{t.Pos}}
		case "ERROR":
			if p.peekTok(1).Upper() == "MESSAGE" {
				p.next()
				p.next()
				return &ErrValue{node{t.Pos}}
			}
		}
		if k, n := p.matchKeyword(true); k != nil && (n > 1 || p.peekTok(1).Kind == Op && p.peekTok(1).Text == "(") {
			for i := 0; i < n; i++ {
				p.next()
			}
			var args []Expr
			var clauses map[string]Expr
			// KEYWORD(args) reads like a function call, so it can sit inside
			// a larger expression: NVL(GET BOT MEMORY("k"), 0) + 1.
			if p.isOp("(") {
				args = p.parenArgs()
				p.arity(k, t.Pos, len(args))
			} else {
				args, clauses = p.keywordArgs(k, t.Pos)
			}
			return &KeywordExpr{node{t.Pos}, k, args, clauses}
		}
		if reserved[up] && !(up == "MOD" && p.peekTok(1).Kind == Op && p.peekTok(1).Text == "(") {
			break
		}
		p.next()
		if p.isOp("(") {
			return &Call{node{t.Pos}, t.Text, p.parenArgs()}
		}
		return &Ident{node{t.Pos}, t.Text}
	}
	p.failf(t.Pos, "expected a value, found %s", t.describe())
	return nil
}

// interpParts splits string text on ${expr}; cols maps byte offsets to columns.
func (p *parser) interpParts(s string, cols []int, at Pos) []Expr {
	col := func(i int) int {
		if i < len(cols) {
			return cols[i]
		}
		if len(cols) > 0 {
			return cols[len(cols)-1] + 1
		}
		return at.Col
	}
	var parts []Expr
	lit := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' || s[i+1] != '{' {
			continue
		}
		end, depth, inStr := -1, 0, false
		for j := i + 2; j < len(s) && end < 0; j++ {
			switch c := s[j]; {
			case c == '"':
				inStr = !inStr
			case inStr:
			case c == '{':
				depth++
			case c == '}':
				if depth == 0 {
					end = j
				}
				depth--
			}
		}
		if end < 0 {
			p.errorf(Pos{at.Line, col(i)}, "${ is not closed with }")
			break
		}
		if i > lit {
			parts = append(parts, &StringLit{node{Pos{at.Line, col(lit)}}, s[lit:i]})
		}
		code := s[i+2 : end]
		cp := Pos{at.Line, col(i + 2)}
		if strings.TrimSpace(code) == "" {
			p.errorf(Pos{at.Line, col(i)}, "${} is empty: put an expression inside")
		} else {
			toks, d := lexAt(code, cp)
			p.diags = append(p.diags, d...)
			sub := &parser{toks: toks, file: p.file, withDepth: p.withDepth, depth: p.depth}
			var e Expr = &BadExpr{node{cp}}
			sub.try(func() {
				e = sub.expr()
				if sub.tok().Kind != EOF {
					sub.failf(sub.tok().Pos, "unexpected %s inside ${}", sub.tok().describe())
				}
			})
			p.diags = append(p.diags, sub.diags...)
			parts = append(parts, e)
		}
		lit = end + 1
		i = end
	}
	if lit < len(s) || len(parts) == 0 {
		parts = append(parts, &StringLit{node{Pos{at.Line, col(lit)}}, s[lit:]})
	}
	return parts
}

func joinParts(pos Pos, parts []Expr) Expr {
	if len(parts) == 1 {
		if sl, ok := parts[0].(*StringLit); ok {
			return &StringLit{node{pos}, sl.Value}
		}
	}
	// merge adjacent literals
	var out []Expr
	for _, e := range parts {
		if sl, ok := e.(*StringLit); ok && len(out) > 0 {
			if prev, ok := out[len(out)-1].(*StringLit); ok {
				out[len(out)-1] = &StringLit{prev.node, prev.Value + sl.Value}
				continue
			}
		}
		out = append(out, e)
	}
	if len(out) == 1 {
		if sl, ok := out[0].(*StringLit); ok {
			return &StringLit{node{pos}, sl.Value}
		}
	}
	return &Interp{node{pos}, out}
}

// arity reports a keyword given the wrong number of arguments.
func (p *parser) arity(k *Keyword, pos Pos, n int) {
	if n < k.Min || k.Max >= 0 && n > k.Max {
		var want string
		switch {
		case k.Max < 0:
			want = fmt.Sprintf("at least %d", k.Min)
		case k.Min == k.Max:
			want = fmt.Sprintf("%d", k.Min)
		default:
			want = fmt.Sprintf("%d to %d", k.Min, k.Max)
		}
		noun := "arguments"
		if want == "1" {
			noun = "argument"
		}
		p.failf(pos, "%s takes %s %s, found %d", k.Phrase, want, noun, n)
	}
}
