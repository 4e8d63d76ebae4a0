// Package compiler turns parsed bot BASIC (package syntax) into a vm.Program:
// bytecode with a constant pool, the script body and every FUNCTION/SUB as
// separate code blocks, keyword call sites, HEAR sites, triggers and tool
// metadata. Like the parser it reports every error it finds, with line:column.
//
// Scoping follows the reference: variables are script-scoped. Inside a
// FUNCTION or SUB only its parameters (and the compiler's hidden loop slots)
// are local, so recursion works on parameters.
package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/botserver-go/botserver-go/botauto/basic/syntax"
	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

// Version is part of every program version hash: a saved state is only
// resumed by the compiler output it was saved from.
const Version = "basic-1"

// Compile parses and compiles a .bas file. The program is nil when there are
// diagnostics.
func Compile(name, src string) (*vm.Program, []syntax.Diagnostic) {
	f, diags := syntax.Parse(name, src)
	p, cdiags := CompileFile(f, src)
	diags = append(diags, cdiags...)
	if len(diags) > 0 {
		sort.SliceStable(diags, func(i, j int) bool {
			a, b := diags[i].Pos, diags[j].Pos
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		if len(diags) > syntax.MaxDiagnostics {
			diags = diags[:syntax.MaxDiagnostics]
		}
		return nil, diags
	}
	return p, nil
}

// CompileFile compiles a parsed file; src only feeds the version hash.
func CompileFile(f *syntax.File, src string) (*vm.Program, []syntax.Diagnostic) {
	h := sha256.Sum256([]byte(Version + "\x00" + f.Name + "\x00" + src))
	c := &compiler{
		prog:     &vm.Program{Name: f.Name, Version: hex.EncodeToString(h[:8]), Params: f.Params, Tables: f.Tables},
		consts:   map[string]int{},
		globals:  map[string]int{},
		procs:    map[string]int{},
		assigned: map[string]bool{},
	}
	if f.Description != nil {
		c.prog.Description = f.Description.Text
	}
	c.prog.Procs = []*vm.Proc{{Name: "(script)"}}
	for _, s := range f.Stmts {
		c.collect(s)
	}
	for _, p := range f.Params {
		c.assigned[strings.ToLower(p.Name)] = true
		c.global(p.Name)
	}
	// Declare procedures first so calls may precede definitions.
	for _, p := range f.Procs {
		key := strings.ToLower(p.Name)
		if _, _, _, ok := vm.LookupBuiltin(p.Name); ok {
			c.errorf(p.P, "%s is a built-in function; choose another name", strings.ToUpper(p.Name))
			continue
		}
		if i, dup := c.procs[key]; dup {
			c.errorf(p.P, "%s is already defined at %s", p.Name, c.decl[i].P)
			continue
		}
		locals := make([]string, len(p.Params))
		for i, q := range p.Params {
			locals[i] = strings.ToLower(q.Name)
		}
		c.procs[key] = len(c.prog.Procs)
		c.decl = append(c.decl, p)
		c.prog.Procs = append(c.prog.Procs, &vm.Proc{Name: p.Name, IsFunc: p.IsFunc, NParams: len(p.Params), Locals: locals})
	}
	c.cur, c.curDecl = c.prog.Procs[0], nil
	c.stmts(f.Stmts)
	for i, p := range c.decl {
		c.cur, c.curDecl = c.prog.Procs[i+1], p
		c.stmts(p.Body)
		c.emit(vm.OpNull, 0, 0, p.P)
		c.emit(vm.OpReturn, 0, 0, p.P)
	}
	for _, pr := range c.prog.Procs {
		sort.Slice(pr.Segs, func(i, j int) bool { return pr.Segs[i].Start < pr.Segs[j].Start })
	}
	return c.prog, c.diags
}

type loop struct {
	kind   string // FOR DO WHILE
	breaks []int
}

type slot struct {
	local bool
	idx   int
}

type compiler struct {
	prog     *vm.Program
	diags    []syntax.Diagnostic
	consts   map[string]int
	globals  map[string]int
	procs    map[string]int
	decl     []*syntax.Proc // decl[i] is Procs[i+1]
	assigned map[string]bool
	cur      *vm.Proc
	curDecl  *syntax.Proc
	loops    []*loop
	withs    []slot
	hidden   int
}

func (c *compiler) errorf(p syntax.Pos, format string, args ...any) {
	c.diags = append(c.diags, syntax.Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) emit(op vm.Op, a, b int, p syntax.Pos) int {
	c.cur.Code = append(c.cur.Code, vm.Instr{Op: op, A: int32(a), B: int32(b)})
	c.cur.Pos = append(c.cur.Pos, p)
	return len(c.cur.Code) - 1
}

func (c *compiler) here() int { return len(c.cur.Code) }

func (c *compiler) patch(i int) { c.cur.Code[i].A = int32(c.here()) }

// seg marks [start, here) as one statement for ON ERROR RESUME NEXT.
func (c *compiler) seg(start int) {
	if c.here() > start {
		c.cur.Segs = append(c.cur.Segs, vm.Seg{Start: int32(start), End: int32(c.here())})
	}
}

func (c *compiler) constant(v vm.Value) int {
	return intern(c.consts, &c.prog.Consts, v.Kind().String()+":"+v.String(), v)
}

func (c *compiler) global(name string) int {
	key := strings.ToLower(name)
	return intern(c.globals, &c.prog.Globals, key, key)
}

// intern returns v's index in list, appending it the first time key is seen.
func intern[T any](index map[string]int, list *[]T, key string, v T) int {
	if i, ok := index[key]; ok {
		return i
	}
	*list = append(*list, v)
	index[key] = len(*list) - 1
	return len(*list) - 1
}

// variable resolves a name: a parameter of the current procedure, else a global.
func (c *compiler) variable(name string) slot {
	key := strings.ToLower(name)
	if c.curDecl != nil {
		for i, q := range c.curDecl.Params {
			if strings.EqualFold(q.Name, key) {
				return slot{true, i}
			}
		}
	}
	return slot{false, c.global(key)}
}

// temp allocates a hidden slot for loop limits, WITH targets and the like.
func (c *compiler) temp() slot {
	c.hidden++
	name := fmt.Sprintf("$%d", c.hidden)
	if c.curDecl != nil {
		c.cur.Locals = append(c.cur.Locals, name)
		return slot{true, len(c.cur.Locals) - 1}
	}
	return slot{false, c.global(name)}
}

func (c *compiler) load(s slot, p syntax.Pos) {
	if s.local {
		c.emit(vm.OpLoadL, s.idx, 0, p)
	} else {
		c.emit(vm.OpLoadG, s.idx, 0, p)
	}
}

func (c *compiler) store(s slot, p syntax.Pos) {
	if s.local {
		c.emit(vm.OpStoreL, s.idx, 0, p)
	} else {
		c.emit(vm.OpStoreG, s.idx, 0, p)
	}
}

// collect records every name the script assigns, so that name(i) can be told
// apart from an unknown function.
func (c *compiler) collect(s syntax.Stmt) {
	mark := func(name string) { c.assigned[strings.ToLower(name)] = true }
	switch s := s.(type) {
	case *syntax.Assign:
		switch t := s.Target.(type) {
		case *syntax.Ident:
			mark(t.Name)
		}
	case *syntax.For:
		mark(s.Var.Name)
		c.collectAll(s.Body)
	case *syntax.ForEach:
		mark(s.Var.Name)
		c.collectAll(s.Body)
	case *syntax.Hear:
		mark(s.Var.Name)
	case *syntax.With:
		mark(s.Target.Name)
		c.collectAll(s.Body)
	case *syntax.If:
		c.collectAll(s.Then)
		for _, e := range s.ElseIfs {
			c.collectAll(e.Body)
		}
		c.collectAll(s.Else)
	case *syntax.While:
		c.collectAll(s.Body)
	case *syntax.Do:
		c.collectAll(s.Body)
	case *syntax.Select:
		for _, cs := range s.Cases {
			c.collectAll(cs.Body)
		}
		c.collectAll(s.Else)
	case *syntax.Proc:
		for _, q := range s.Params {
			mark(q.Name)
		}
		c.collectAll(s.Body)
	}
}

func (c *compiler) collectAll(l []syntax.Stmt) {
	for _, s := range l {
		c.collect(s)
	}
}

func (c *compiler) stmts(l []syntax.Stmt) {
	for _, s := range l {
		c.stmt(s)
	}
}

func (c *compiler) stmt(s syntax.Stmt) {
	start := c.here()
	p := s.At()
	switch s := s.(type) {
	case *syntax.Assign:
		c.assign(s)
		c.seg(start)
	case *syntax.WithSet:
		if len(c.withs) == 0 {
			c.errorf(p, "%s = ... with a leading dot needs a WITH block", s.Key)
			return
		}
		c.load(c.withs[len(c.withs)-1], p)
		c.expr(s.Value)
		c.emit(vm.OpSetMember, c.constant(vm.Str(s.Key)), 0, p)
		c.seg(start)
	case *syntax.CallStmt:
		c.call(p, s.Name, s.Args, true)
		c.emit(vm.OpPop, 0, 0, p)
		c.seg(start)
	case *syntax.If:
		c.expr(s.Cond)
		next := c.emit(vm.OpJumpFalse, 0, 0, p)
		c.seg(start)
		c.stmts(s.Then)
		var ends []int
		for _, ei := range s.ElseIfs {
			ends = append(ends, c.emit(vm.OpJump, 0, 0, ei.P))
			c.patch(next)
			st := c.here()
			c.expr(ei.Cond)
			next = c.emit(vm.OpJumpFalse, 0, 0, ei.P)
			c.seg(st)
			c.stmts(ei.Body)
		}
		if s.Else != nil {
			ends = append(ends, c.emit(vm.OpJump, 0, 0, p))
			c.patch(next)
			c.stmts(s.Else)
		} else {
			c.patch(next)
		}
		for _, e := range ends {
			c.patch(e)
		}
	case *syntax.For:
		v := c.variable(s.Var.Name)
		lim, step := c.temp(), c.temp()
		c.expr(s.From)
		c.store(v, p)
		c.expr(s.To)
		c.store(lim, p)
		if s.Step != nil {
			c.expr(s.Step)
		} else {
			c.emit(vm.OpConst, c.constant(vm.Num(1)), 0, p)
		}
		c.store(step, p)
		c.seg(start)
		top := c.here()
		c.load(v, p)
		c.load(lim, p)
		c.load(step, p)
		c.emit(vm.OpForCond, 0, 0, p)
		exit := c.emit(vm.OpJumpFalse, 0, 0, p)
		c.seg(top)
		l := c.pushLoop("FOR")
		c.stmts(s.Body)
		inc := c.here()
		c.load(v, p)
		c.load(step, p)
		c.emit(vm.OpAdd, 0, 0, p)
		c.store(v, p)
		c.seg(inc)
		c.emit(vm.OpJump, top, 0, p)
		c.patch(exit)
		c.popLoop(l)
	case *syntax.ForEach:
		v := c.variable(s.Var.Name)
		list, idx := c.temp(), c.temp()
		c.expr(s.List)
		c.store(list, p)
		c.emit(vm.OpConst, c.constant(vm.Num(0)), 0, p)
		c.store(idx, p)
		c.seg(start)
		top := c.here()
		c.load(list, p)
		c.load(idx, p)
		c.emit(vm.OpIterHas, 0, 0, p)
		exit := c.emit(vm.OpJumpFalse, 0, 0, p)
		c.load(list, p)
		c.load(idx, p)
		c.emit(vm.OpIndex, 0, 0, p)
		c.store(v, p)
		c.seg(top)
		l := c.pushLoop("FOR")
		c.stmts(s.Body)
		inc := c.here()
		c.load(idx, p)
		c.emit(vm.OpConst, c.constant(vm.Num(1)), 0, p)
		c.emit(vm.OpAdd, 0, 0, p)
		c.store(idx, p)
		c.seg(inc)
		c.emit(vm.OpJump, top, 0, p)
		c.patch(exit)
		c.popLoop(l)
	case *syntax.While:
		top := c.here()
		c.expr(s.Cond)
		exit := c.emit(vm.OpJumpFalse, 0, 0, p)
		c.seg(top)
		l := c.pushLoop("WHILE")
		c.stmts(s.Body)
		c.emit(vm.OpJump, top, 0, p)
		c.patch(exit)
		c.popLoop(l)
	case *syntax.Do:
		top := c.here()
		exit := -1
		if s.Pre != nil {
			c.expr(s.Pre)
			if s.PreUntil {
				exit = c.emit(vm.OpJumpTrue, 0, 0, p)
			} else {
				exit = c.emit(vm.OpJumpFalse, 0, 0, p)
			}
			c.seg(top)
		}
		l := c.pushLoop("DO")
		c.stmts(s.Body)
		if s.Post != nil {
			st := c.here()
			c.expr(s.Post)
			if s.PostUntil {
				c.emit(vm.OpJumpFalse, top, 0, s.Post.At())
			} else {
				c.emit(vm.OpJumpTrue, top, 0, s.Post.At())
			}
			c.seg(st)
		} else {
			c.emit(vm.OpJump, top, 0, p)
		}
		if exit >= 0 {
			c.patch(exit)
		}
		c.popLoop(l)
	case *syntax.Exit:
		switch s.What {
		case "FUNCTION", "SUB":
			if c.curDecl == nil || c.curDecl.IsFunc != (s.What == "FUNCTION") {
				c.errorf(p, "EXIT %s outside a %s", s.What, s.What)
				return
			}
			c.emit(vm.OpNull, 0, 0, p)
			c.emit(vm.OpReturn, 0, 0, p)
		default:
			for i := len(c.loops) - 1; i >= 0; i-- {
				if c.loops[i].kind == s.What {
					c.loops[i].breaks = append(c.loops[i].breaks, c.emit(vm.OpJump, 0, 0, p))
					return
				}
			}
			c.errorf(p, "EXIT %s outside a %s loop", s.What, s.What)
		}
	case *syntax.Select:
		subj := c.temp()
		c.expr(s.Subject)
		c.store(subj, p)
		c.seg(start)
		var ends []int
		for _, cs := range s.Cases {
			st := c.here()
			var hits []int
			for _, v := range cs.Values {
				c.load(subj, cs.P)
				c.expr(v.Lo)
				if v.Hi != nil {
					c.expr(v.Hi)
					c.emit(vm.OpBetween, 0, 0, cs.P)
				} else {
					c.emit(vm.OpEq, 0, 0, cs.P)
				}
				hits = append(hits, c.emit(vm.OpJumpTrue, 0, 0, cs.P))
			}
			next := c.emit(vm.OpJump, 0, 0, cs.P)
			c.seg(st)
			for _, h := range hits {
				c.patch(h)
			}
			c.stmts(cs.Body)
			ends = append(ends, c.emit(vm.OpJump, 0, 0, cs.P))
			c.patch(next)
		}
		c.stmts(s.Else)
		for _, e := range ends {
			c.patch(e)
		}
	case *syntax.Proc:
		// compiled as its own block by CompileFile
	case *syntax.Return:
		if c.curDecl != nil && !c.curDecl.IsFunc && s.Value != nil {
			c.errorf(p, "a SUB cannot return a value; use FUNCTION")
		}
		if s.Value != nil {
			c.expr(s.Value)
		} else {
			c.emit(vm.OpNull, 0, 0, p)
		}
		if c.curDecl != nil {
			c.emit(vm.OpReturn, 0, 0, p)
		} else {
			c.emit(vm.OpEnd, 0, 0, p)
		}
		c.seg(start)
	case *syntax.With:
		v := c.variable(s.Target.Name)
		w := c.temp()
		c.load(v, p)
		c.emit(vm.OpEnsureObj, 0, 0, p)
		c.store(v, p)
		c.load(v, p)
		c.store(w, p)
		c.seg(start)
		c.withs = append(c.withs, w)
		c.stmts(s.Body)
		c.withs = c.withs[:len(c.withs)-1]
	case *syntax.OnError:
		a := 0
		if s.Resume {
			a = 1
		}
		c.emit(vm.OpOnError, a, 0, p)
	case *syntax.Throw:
		c.expr(s.Msg)
		c.emit(vm.OpThrow, 0, 0, p)
		c.seg(start)
	case *syntax.Hear:
		if s.Type == "" && len(s.Menu) == 1 {
			if id, ok := s.Menu[0].(*syntax.Ident); ok && !c.assigned[strings.ToLower(id.Name)] {
				c.errorf(id.P, "unknown HEAR type %s (use STRING, INTEGER, NUMBER, BOOLEAN, DATE, EMAIL, MOBILE, URL, UUID, ZIPCODE, MONEY, HOUR, NAME, or a menu)", id.Name)
			}
		}
		for _, e := range s.Menu {
			c.expr(e)
		}
		v := c.variable(s.Var.Name)
		c.prog.Hears = append(c.prog.Hears, vm.HearSite{Var: s.Var.Name, Local: v.local, Slot: v.idx, Type: s.Type, NMenu: len(s.Menu)})
		c.emit(vm.OpHear, len(c.prog.Hears)-1, 0, p)
		c.seg(start)
	case *syntax.KeywordStmt:
		if s.Keyword.Trigger {
			c.trigger(s)
		}
		c.keyword(p, s.Keyword, s.Args, s.Clauses)
		c.emit(vm.OpPop, 0, 0, p)
		c.seg(start)
	case *syntax.Block:
		k := syntax.LookupKeyword("TALK")
		args := []syntax.Expr{s.Body}
		if s.Kind == "MAIL" {
			k, args = syntax.BeginMail, append(append([]syntax.Expr{}, s.Args...), s.Body)
		}
		c.keyword(p, k, args, nil)
		c.emit(vm.OpPop, 0, 0, p)
		c.seg(start)
	case *syntax.Param, *syntax.Description, *syntax.Table:
		// declarations: tool metadata and tables, no code
	default:
		c.errorf(p, "statement not supported")
	}
}

func (c *compiler) pushLoop(kind string) *loop {
	l := &loop{kind: kind}
	c.loops = append(c.loops, l)
	return l
}

func (c *compiler) popLoop(l *loop) {
	for _, b := range l.breaks {
		c.patch(b)
	}
	c.loops = c.loops[:len(c.loops)-1]
}

func (c *compiler) trigger(s *syntax.KeywordStmt) {
	t := vm.Trigger{Keyword: s.Keyword.Name(), Pos: s.P}
	lit := func(e syntax.Expr) string {
		switch x := e.(type) {
		case *syntax.StringLit:
			return x.Value
		case *syntax.NumberLit:
			return vm.FormatNumber(x.Value)
		}
		c.errorf(e.At(), "%s needs text in quotes, so it can be registered when the bot loads", s.Keyword.Phrase)
		return ""
	}
	for _, a := range s.Args {
		t.Args = append(t.Args, lit(a))
	}
	for k, v := range s.Clauses {
		if t.Clauses == nil {
			t.Clauses = map[string]string{}
		}
		t.Clauses[k] = lit(v)
	}
	c.prog.Triggers = append(c.prog.Triggers, t)
}

func (c *compiler) keyword(p syntax.Pos, k *syntax.Keyword, args []syntax.Expr, clauses map[string]syntax.Expr) {
	for i, a := range args {
		if id, ok := a.(*syntax.Ident); ok && i == 0 && k.BareName && clauses["AS"] != nil {
			c.emit(vm.OpConst, c.constant(vm.Str(id.Name)), 0, a.At())
			continue
		}
		c.expr(a)
	}
	names := make([]string, 0, len(clauses))
	for n := range clauses {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.expr(clauses[n])
	}
	c.prog.Calls = append(c.prog.Calls, vm.KeywordCall{Keyword: k, NArgs: len(args), Clauses: names})
	c.emit(vm.OpKeyword, len(c.prog.Calls)-1, 0, p)
}

func (c *compiler) assign(s *syntax.Assign) {
	p := s.P
	switch t := s.Target.(type) {
	case *syntax.Ident:
		c.expr(s.Value)
		c.store(c.variable(t.Name), p)
	case *syntax.Member:
		if id, ok := t.X.(*syntax.Ident); ok {
			// x.k = v on an unset x makes x an object
			v := c.variable(id.Name)
			c.load(v, p)
			c.emit(vm.OpEnsureObj, 0, 0, p)
			c.store(v, p)
		}
		c.expr(t.X)
		c.expr(s.Value)
		c.emit(vm.OpSetMember, c.constant(vm.Str(t.Name)), 0, t.P)
	case *syntax.Index:
		c.expr(t.X)
		c.expr(t.Index)
		c.expr(s.Value)
		c.emit(vm.OpSetIndex, 0, 0, t.P)
	case *syntax.Call:
		if _, _, _, ok := vm.LookupBuiltin(t.Name); ok || c.procs[strings.ToLower(t.Name)] != 0 {
			c.errorf(p, "cannot assign to a call of %s", t.Name)
			return
		}
		if len(t.Args) != 1 {
			c.errorf(p, "an index in ( ) takes one value")
			return
		}
		c.load(c.variable(t.Name), p)
		c.expr(t.Args[0])
		c.expr(s.Value)
		c.emit(vm.OpSetIndex, 0, 0, t.P)
	}
}

// call compiles name(args): a user procedure, a built-in, or a(i) on an array variable.
func (c *compiler) call(p syntax.Pos, name string, args []syntax.Expr, stmt bool) {
	key := strings.ToLower(name)
	if i, ok := c.procs[key]; ok {
		pr := c.prog.Procs[i]
		if len(args) != pr.NParams {
			c.errorf(p, "%s takes %d %s, found %d", pr.Name, pr.NParams, plural(pr.NParams, "argument"), len(args))
		}
		if !stmt && !pr.IsFunc {
			c.errorf(p, "%s is a SUB and has no value; make it a FUNCTION", pr.Name)
		}
		for _, a := range args {
			c.expr(a)
		}
		c.emit(vm.OpCall, i, len(args), p)
		return
	}
	if idx, min, max, ok := vm.LookupBuiltin(name); ok {
		if len(args) < min || max >= 0 && len(args) > max {
			want := fmt.Sprintf("%d to %d", min, max)
			switch {
			case max < 0:
				want = fmt.Sprintf("at least %d", min)
			case min == max:
				want = fmt.Sprint(min)
			}
			c.errorf(p, "%s takes %s %s, found %d", strings.ToUpper(name), want, plural(max, "argument"), len(args))
		}
		for _, a := range args {
			c.expr(a)
		}
		c.emit(vm.OpBuiltin, idx, len(args), p)
		return
	}
	if !stmt && c.assigned[key] && len(args) == 1 {
		c.load(c.variable(name), p)
		c.expr(args[0])
		c.emit(vm.OpIndex, 0, 0, p)
		return
	}
	if stmt {
		c.errorf(p, "unknown statement or procedure %s", name)
	} else {
		c.errorf(p, "unknown function %s", name)
	}
	c.emit(vm.OpNull, 0, 0, p)
}

func plural(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

var binops = map[string]vm.Op{
	"+": vm.OpAdd, "-": vm.OpSub, "*": vm.OpMul, "/": vm.OpDiv, "MOD": vm.OpMod, "^": vm.OpPow,
	"&": vm.OpConcat, "=": vm.OpEq, "<>": vm.OpNe, "<": vm.OpLt, ">": vm.OpGt, "<=": vm.OpLe,
	">=": vm.OpGe, "IN": vm.OpIn, "NOT IN": vm.OpNotIn,
}

func (c *compiler) expr(e syntax.Expr) {
	p := e.At()
	switch e := e.(type) {
	case *syntax.NumberLit:
		c.emit(vm.OpConst, c.constant(vm.Num(e.Value)), 0, p)
	case *syntax.StringLit:
		c.emit(vm.OpConst, c.constant(vm.Str(e.Value)), 0, p)
	case *syntax.BoolLit:
		if e.Value {
			c.emit(vm.OpTrue, 0, 0, p)
		} else {
			c.emit(vm.OpFalse, 0, 0, p)
		}
	case *syntax.NullLit, *syntax.BadExpr:
		c.emit(vm.OpNull, 0, 0, p)
	case *syntax.Interp:
		for _, x := range e.Parts {
			c.expr(x)
		}
		c.emit(vm.OpInterp, len(e.Parts), 0, p)
	case *syntax.Ident:
		key := strings.ToLower(e.Name)
		if !c.assigned[key] {
			// NOW, TODAY, RND ... may be written without parentheses
			if idx, min, _, ok := vm.LookupBuiltin(e.Name); ok && min == 0 {
				c.emit(vm.OpBuiltin, idx, 0, p)
				return
			}
		}
		c.load(c.variable(e.Name), p)
	case *syntax.ErrValue:
		c.emit(vm.OpErr, 0, 0, p)
	case *syntax.ArrayLit:
		for _, x := range e.Elems {
			c.expr(x)
		}
		c.emit(vm.OpArray, len(e.Elems), 0, p)
	case *syntax.Unary:
		c.expr(e.X)
		if e.Op == "NOT" {
			c.emit(vm.OpNot, 0, 0, p)
		} else {
			c.emit(vm.OpNeg, 0, 0, p)
		}
	case *syntax.Binary:
		c.expr(e.X)
		switch e.Op {
		case "AND", "OR":
			op := vm.OpAndJump
			if e.Op == "OR" {
				op = vm.OpOrJump
			}
			j := c.emit(op, 0, 0, p)
			c.expr(e.Y)
			c.emit(vm.OpBool, 0, 0, p)
			c.patch(j)
		default:
			c.expr(e.Y)
			c.emit(binops[e.Op], 0, 0, p)
		}
	case *syntax.Call:
		c.call(p, e.Name, e.Args, false)
	case *syntax.Index:
		c.expr(e.X)
		c.expr(e.Index)
		c.emit(vm.OpIndex, 0, 0, p)
	case *syntax.Member:
		c.expr(e.X)
		c.emit(vm.OpMember, c.constant(vm.Str(e.Name)), 0, p)
	case *syntax.WithMember:
		if len(c.withs) == 0 {
			c.errorf(p, ".%s needs a WITH block", e.Name)
			c.emit(vm.OpNull, 0, 0, p)
			return
		}
		c.load(c.withs[len(c.withs)-1], p)
		c.emit(vm.OpMember, c.constant(vm.Str(e.Name)), 0, p)
	case *syntax.KeywordExpr:
		if !e.Keyword.Value {
			c.errorf(p, "%s has no value", e.Keyword.Phrase)
		}
		c.keyword(p, e.Keyword, e.Args, e.Clauses)
	default:
		c.errorf(p, "expression not supported")
		c.emit(vm.OpNull, 0, 0, p)
	}
}
