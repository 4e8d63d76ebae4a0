package vm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/botserver-go/botserver-go/botauto/basic/syntax"
)

// Limits bound one Run or Resume. Zero fields take the defaults.
type Limits struct {
	MaxSteps    int64         // instructions executed
	MaxDuration time.Duration // wall clock, host calls included
	MaxMemory   int64         // approximate bytes of strings, arrays and objects allocated
	MaxDepth    int           // nested FUNCTION/SUB calls
}

// DefaultLimits suit a conversation turn; tools and schedules may pass their own.
var DefaultLimits = Limits{MaxSteps: 5_000_000, MaxDuration: 10 * time.Second, MaxMemory: 64 << 20, MaxDepth: 200}

func (l Limits) withDefaults() Limits {
	if l.MaxSteps <= 0 {
		l.MaxSteps = DefaultLimits.MaxSteps
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = DefaultLimits.MaxDuration
	}
	if l.MaxMemory <= 0 {
		l.MaxMemory = DefaultLimits.MaxMemory
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	return l
}

// Options configure a run.
type Options struct {
	Host        Host             // service keywords; nil answers "<service> is not available"
	Limits      Limits           // per Run/Resume
	Vars        map[string]Value // preset variables (param-* config, tool arguments); case-insensitive
	Now         func() time.Time // clock for NOW/TODAY; time.Now if nil
	Rand        func() float64   // RND/RANDOM source in [0,1); math/rand/v2 if nil
	HearRetries int              // re-asks of an invalid typed HEAR before giving up (default 3)
	Log         func(string)     // PRINT lines also go here when set
}

// Status is how a run ended.
type Status uint8

// Run outcomes.
const (
	Done    Status = iota // the script finished; Result.Value is its RETURN value
	Waiting               // suspended at HEAR; Result.State resumes it
	Failed                // ended with Result.Err
)

func (s Status) String() string { return [...]string{"done", "waiting", "failed"}[s] }

// Output is something the script produced for the conversation, in order.
// Kind: talk, suggestion (Name = message|text|context|tool, Text = label,
// Value = payload), clear_suggestions, switcher (Name = id, Text = label),
// clear_switchers, context (Name, Text), use_kb, clear_kb, use_tool,
// clear_tools, transfer (Name = queue), set_user (Value), log, wait (Value = seconds).
type Output struct {
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	Text  string `json:"text,omitempty"`
	Value string `json:"value,omitempty"`
}

// HearRequest describes the input a waiting script expects.
type HearRequest struct {
	Var        string     `json:"var"`
	Type       string     `json:"type,omitempty"`
	Options    []string   `json:"options,omitempty"` // menu: offer as suggestion buttons
	Retries    int        `json:"retries"`           // invalid answers so far
	MaxRetries int        `json:"max_retries"`
	Pos        syntax.Pos `json:"pos"`
}

// Result is the outcome of Run or Resume.
type Result struct {
	Status  Status
	Outputs []Output
	Value   Value        // Done: the top-level RETURN value (a tool's result)
	Hear    *HearRequest // Waiting
	State   []byte       // Waiting: serialised machine state for Resume
	Err     *Error       // Failed
	Steps   int64
}

// Error is a run-time error with the script position it happened at.
type Error struct {
	Pos   syntax.Pos
	Msg   string
	Limit string // "steps", "time", "memory", "depth" when a budget ended the run
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// limitErr ends a run whatever ON ERROR says: budgets must not be catchable.
type limitErr struct{ kind, msg string }

func (e *limitErr) Error() string { return e.msg }

type frame struct {
	proc       int
	pc         int
	locals     []Value
	base       int // stack height when the frame started
	resumeNext bool
}

type pendingHear struct {
	Site    int      `json:"site"`
	Options []string `json:"options,omitempty"`
	Retries int      `json:"retries,omitempty"`
}

// Machine runs one conversation's script. It is not safe for concurrent use;
// between turns its state lives in the bytes Result.State holds.
type Machine struct {
	prog    *Program
	opts    Options
	lim     Limits
	ctx     context.Context
	globals []Value
	frames  []frame
	stack   []Value
	errMsg  string
	pending *pendingHear
	out     []Output

	steps     int64
	nextCheck int64 // step count at which the clock and context are checked next
	mem       int64
	deadline  time.Time
}

func newMachine(ctx context.Context, p *Program, opts Options) *Machine {
	if opts.Host == nil {
		opts.Host = UnavailableHost{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.HearRetries <= 0 {
		opts.HearRetries = 3
	}
	m := &Machine{prog: p, opts: opts, lim: opts.Limits.withDefaults(), ctx: ctx}
	m.deadline = time.Now().Add(m.lim.MaxDuration)
	return m
}

// Run starts p from the beginning.
func Run(ctx context.Context, p *Program, opts Options) *Result {
	_, res := Start(ctx, p, opts)
	return res
}

// Start is Run that also returns the Machine, so a caller that keeps the
// conversation in memory can Answer without decoding the state again.
func Start(ctx context.Context, p *Program, opts Options) (*Machine, *Result) {
	m := newMachine(ctx, p, opts)
	m.globals = make([]Value, len(p.Globals))
	for name, v := range opts.Vars {
		if i, ok := p.Global(strings.ToLower(name)); ok {
			m.globals[i] = v
		}
	}
	m.frames = []frame{{proc: 0, locals: make([]Value, len(p.Procs[0].Locals))}}
	return m, m.run()
}

// Resume continues a script suspended at HEAR with the user's input, on a
// fresh Machine. state must come from a Result of the same program version
// (see StateVersion).
func Resume(ctx context.Context, p *Program, state []byte, input string, opts Options) *Result {
	m := newMachine(ctx, p, opts)
	if err := m.decode(state); err != nil {
		return &Result{Status: Failed, Err: &Error{Msg: err.Error()}}
	}
	return m.Answer(ctx, input)
}

// Answer continues this Machine, which must be waiting at HEAR, with input.
// Budgets start afresh: they are per turn.
func (m *Machine) Answer(ctx context.Context, input string) *Result {
	m.ctx, m.out, m.steps, m.mem, m.nextCheck = ctx, nil, 0, 0, 0
	m.deadline = time.Now().Add(m.lim.MaxDuration)
	if m.pending == nil {
		return &Result{Status: Failed, Err: &Error{Msg: "the script is not waiting for input"}}
	}
	site := m.prog.Hears[m.pending.Site]
	v, ok := validate(site.Type, m.pending.Options, input)
	if !ok {
		m.pending.Retries++
		if m.pending.Retries < m.opts.HearRetries {
			m.out = append(m.out, Output{Kind: "talk", Text: reask(site.Type, m.pending.Options)})
			return m.suspend()
		}
		v = Null // give up: the script sees null and can check ISNULL
	}
	m.pending = nil
	if site.Local {
		m.frames[len(m.frames)-1].locals[site.Slot] = v
	} else {
		m.globals[site.Slot] = v
	}
	return m.run()
}

func (m *Machine) run() *Result {
	res := &Result{}
	err := m.exec()
	res.Steps = m.steps
	var e *Error
	switch {
	case err == nil && m.pending != nil:
		r := m.suspend()
		r.Steps = m.steps
		return r
	case err == nil:
		res.Status = Done
		if len(m.stack) > 0 {
			res.Value = m.stack[len(m.stack)-1]
		}
	case errors.As(err, &e):
		res.Status, res.Err = Failed, e
	default:
		res.Status, res.Err = Failed, &Error{Msg: err.Error()}
	}
	res.Outputs = m.out
	return res
}

func (m *Machine) suspend() *Result {
	site := m.prog.Hears[m.pending.Site]
	state, err := m.encode()
	if err != nil {
		return &Result{Status: Failed, Outputs: m.out, Err: &Error{Msg: "saving state: " + err.Error()}}
	}
	pos := syntax.Pos{}
	if fr := m.frames[len(m.frames)-1]; fr.pc > 0 {
		pos = m.prog.Procs[fr.proc].Pos[fr.pc-1]
	}
	return &Result{Status: Waiting, Outputs: m.out, State: state, Steps: m.steps, Hear: &HearRequest{
		Var: site.Var, Type: site.Type, Options: m.pending.Options,
		Retries: m.pending.Retries, MaxRetries: m.opts.HearRetries, Pos: pos,
	}}
}

func (m *Machine) push(v Value) { m.stack = append(m.stack, v) }
func (m *Machine) pop() Value {
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v
}

func (m *Machine) alloc(n int64) error {
	m.mem += n
	if m.mem > m.lim.MaxMemory {
		return &limitErr{"memory", fmt.Sprintf("memory limit exceeded (%d bytes)", m.lim.MaxMemory)}
	}
	return nil
}

// exec runs until the script ends, suspends at HEAR, or fails.
func (m *Machine) exec() (err error) {
	defer func() {
		// A VM bug or a doctored state must fail this conversation, never the worker.
		if r := recover(); r != nil {
			err = &Error{Msg: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	for {
		err := m.loop()
		if err == nil {
			return nil
		}
		if !m.handle(err) {
			return m.locate(err)
		}
	}
}

func (m *Machine) locate(err error) *Error {
	fr := m.frames[len(m.frames)-1]
	pos := syntax.Pos{}
	if pr := m.prog.Procs[fr.proc]; fr.pc > 0 && fr.pc <= len(pr.Pos) {
		pos = pr.Pos[fr.pc-1]
	}
	e := &Error{Pos: pos, Msg: err.Error()}
	var le *limitErr
	if errors.As(err, &le) {
		e.Limit = le.kind
		e.Msg = fmt.Sprintf("%s at line %d", le.msg, pos.Line)
	}
	return e
}

// handle applies ON ERROR RESUME NEXT: the innermost frame that asked for it
// continues after the statement that failed; ERR holds the message.
func (m *Machine) handle(err error) bool {
	var le *limitErr
	if errors.As(err, &le) {
		return false
	}
	for i := len(m.frames) - 1; i >= 0; i-- {
		fr := &m.frames[i]
		if !fr.resumeNext {
			continue
		}
		m.errMsg = err.Error()
		m.frames = m.frames[:i+1]
		m.stack = m.stack[:fr.base]
		pr := m.prog.Procs[fr.proc]
		at := int32(fr.pc - 1)
		j := sort.Search(len(pr.Segs), func(k int) bool { return pr.Segs[k].End > at })
		if j < len(pr.Segs) && pr.Segs[j].Start <= at {
			fr.pc = int(pr.Segs[j].End)
		}
		return true
	}
	return false
}

func (m *Machine) loop() error {
	fr := &m.frames[len(m.frames)-1]
	pr := m.prog.Procs[fr.proc]
	code := pr.Code
	for {
		if fr.pc >= len(code) { // falling off the end returns null
			if len(m.frames) == 1 {
				m.stack = m.stack[:0]
				m.push(Null)
				return nil
			}
			m.push(Null)
			m.ret()
			fr = &m.frames[len(m.frames)-1]
			pr = m.prog.Procs[fr.proc]
			code = pr.Code
			continue
		}
		in := code[fr.pc]
		fr.pc++
		m.steps++
		if m.steps > m.lim.MaxSteps {
			return &limitErr{"steps", fmt.Sprintf("step limit exceeded (%d steps)", m.lim.MaxSteps)}
		}
		if m.steps >= m.nextCheck {
			m.nextCheck = m.steps + 1024
			if time.Now().After(m.deadline) {
				return &limitErr{"time", fmt.Sprintf("time limit exceeded (%s)", m.lim.MaxDuration)}
			}
			if err := m.ctx.Err(); err != nil {
				return &limitErr{"time", "run cancelled: " + err.Error()}
			}
		}
		switch in.Op {
		case OpNop:
		case OpConst:
			m.push(m.prog.Consts[in.A])
		case OpNull:
			m.push(Null)
		case OpTrue:
			m.push(Bool(true))
		case OpFalse:
			m.push(Bool(false))
		case OpLoadG:
			m.push(m.globals[in.A])
		case OpStoreG:
			m.globals[in.A] = m.pop()
		case OpLoadL:
			m.push(fr.locals[in.A])
		case OpStoreL:
			fr.locals[in.A] = m.pop()
		case OpPop:
			m.pop()
		case OpAdd, OpSub, OpMul, OpDiv, OpMod, OpPow, OpConcat, OpEq, OpNe, OpLt, OpGt, OpLe, OpGe, OpIn, OpNotIn:
			y := m.pop()
			x := &m.stack[len(m.stack)-1]
			if x.k == NumberKind && y.k == NumberKind && in.Op <= OpMul {
				// fast path for the hot loop arithmetic
				switch in.Op {
				case OpAdd:
					x.n += y.n
				case OpSub:
					x.n -= y.n
				case OpMul:
					x.n *= y.n
				}
				continue
			}
			r, err := m.binary(in.Op, *x, y)
			if err != nil {
				return err
			}
			m.stack[len(m.stack)-1] = r
		case OpNeg:
			x := m.stack[len(m.stack)-1]
			f, ok := x.Number()
			if !ok {
				return fmt.Errorf("cannot negate %s", describe(x))
			}
			m.stack[len(m.stack)-1] = Num(-f)
		case OpNot:
			m.stack[len(m.stack)-1] = Bool(!m.stack[len(m.stack)-1].Truthy())
		case OpBool:
			m.stack[len(m.stack)-1] = Bool(m.stack[len(m.stack)-1].Truthy())
		case OpJump:
			fr.pc = int(in.A)
		case OpJumpFalse:
			if !m.pop().Truthy() {
				fr.pc = int(in.A)
			}
		case OpJumpTrue:
			if m.pop().Truthy() {
				fr.pc = int(in.A)
			}
		case OpAndJump:
			if !m.stack[len(m.stack)-1].Truthy() {
				m.stack[len(m.stack)-1] = Bool(false)
				fr.pc = int(in.A)
			} else {
				m.pop()
			}
		case OpOrJump:
			if m.stack[len(m.stack)-1].Truthy() {
				m.stack[len(m.stack)-1] = Bool(true)
				fr.pc = int(in.A)
			} else {
				m.pop()
			}
		case OpIndex:
			i := m.pop()
			r, err := index(m.stack[len(m.stack)-1], i)
			if err != nil {
				return err
			}
			m.stack[len(m.stack)-1] = r
		case OpSetIndex:
			v, i, x := m.pop(), m.pop(), m.pop()
			if err := m.setIndex(x, i, v); err != nil {
				return err
			}
		case OpMember:
			x := m.stack[len(m.stack)-1]
			name := m.prog.Consts[in.A].s
			switch x.k {
			case ObjectKind:
				m.stack[len(m.stack)-1], _ = x.o.Get(name)
			case NullKind:
				// reading a field of nothing is nothing: FIND results may be empty
			default:
				return fmt.Errorf("cannot read .%s of %s", name, describe(x))
			}
		case OpSetMember:
			v, x := m.pop(), m.pop()
			name := m.prog.Consts[in.A].s
			if x.k != ObjectKind {
				return fmt.Errorf("cannot set .%s on %s", name, describe(x))
			}
			if err := m.alloc(int64(len(name)) + 48); err != nil {
				return err
			}
			x.o.Set(name, v)
		case OpEnsureObj:
			switch x := m.stack[len(m.stack)-1]; x.k {
			case NullKind:
				m.stack[len(m.stack)-1] = NewObject()
			case ObjectKind:
			default:
				return fmt.Errorf("cannot set a field on %s", describe(x))
			}
		case OpArray:
			n := int(in.A)
			items := make([]Value, n)
			copy(items, m.stack[len(m.stack)-n:])
			m.stack = m.stack[:len(m.stack)-n]
			if err := m.alloc(int64(24 + 16*n)); err != nil {
				return err
			}
			m.push(NewArray(items...))
		case OpInterp:
			n := int(in.A)
			var b strings.Builder
			for _, v := range m.stack[len(m.stack)-n:] {
				b.WriteString(v.String())
			}
			m.stack = m.stack[:len(m.stack)-n]
			if err := m.alloc(int64(b.Len())); err != nil {
				return err
			}
			m.push(Str(b.String()))
		case OpBuiltin:
			n := int(in.B)
			args := m.stack[len(m.stack)-n:]
			// Built-ins over big text or lists cost more than one step, so
			// that LEN(hugeText) in a loop still meets the budgets.
			for _, a := range args {
				switch a.k {
				case StringKind:
					m.steps += int64(len(a.s) >> 8)
				case ArrayKind:
					m.steps += int64(len(a.a.Items) >> 4)
				}
			}
			r, err := builtins[in.A].fn(m, args)
			if err != nil {
				return fmt.Errorf("%s: %w", builtins[in.A].name, err)
			}
			m.stack = m.stack[:len(m.stack)-n]
			m.push(r)
		case OpCall:
			if len(m.frames) >= m.lim.MaxDepth {
				return &limitErr{"depth", fmt.Sprintf("call depth limit exceeded (%d nested calls)", m.lim.MaxDepth)}
			}
			callee := m.prog.Procs[in.A]
			n := int(in.B)
			locals := make([]Value, len(callee.Locals))
			copy(locals, m.stack[len(m.stack)-n:])
			m.stack = m.stack[:len(m.stack)-n]
			m.frames = append(m.frames, frame{proc: int(in.A), locals: locals, base: len(m.stack)})
			fr = &m.frames[len(m.frames)-1]
			pr, code = callee, callee.Code
		case OpReturn:
			m.ret()
			fr = &m.frames[len(m.frames)-1]
			pr = m.prog.Procs[fr.proc]
			code = pr.Code
		case OpEnd:
			v := m.pop()
			m.stack = append(m.stack[:0], v)
			m.frames = m.frames[:1]
			m.frames[0].pc = len(m.prog.Procs[0].Code)
			return nil
		case OpKeyword:
			if err := m.keyword(int(in.A), pr.Pos[fr.pc-1]); err != nil {
				return err
			}
		case OpHear:
			site := m.prog.Hears[in.A]
			var opts []string
			for _, v := range m.stack[len(m.stack)-site.NMenu:] {
				if v.k == ArrayKind {
					for _, x := range v.a.Items {
						opts = append(opts, x.String())
					}
				} else {
					opts = append(opts, v.String())
				}
			}
			m.stack = m.stack[:len(m.stack)-site.NMenu]
			m.pending = &pendingHear{Site: int(in.A), Options: opts}
			return nil
		case OpErr:
			m.push(Str(m.errMsg))
		case OpOnError:
			fr.resumeNext = in.A == 1
		case OpThrow:
			return errors.New(m.pop().String())
		case OpForCond:
			step, lim, i := m.pop(), m.pop(), m.pop()
			if step.k == NumberKind && lim.k == NumberKind && i.k == NumberKind && step.n != 0 {
				m.push(Bool(step.n > 0 && i.n <= lim.n || step.n < 0 && i.n >= lim.n))
				continue
			}
			s, ok1 := step.Number()
			l, ok2 := lim.Number()
			x, ok3 := i.Number()
			switch {
			case !ok1 || !ok2 || !ok3:
				return fmt.Errorf("FOR needs numbers, found %s TO %s STEP %s", describe(i), describe(lim), describe(step))
			case s == 0:
				return errors.New("FOR STEP 0 would loop forever")
			}
			m.push(Bool(s > 0 && x <= l || s < 0 && x >= l))
		case OpIterHas:
			i, list := m.pop(), m.pop()
			switch list.k {
			case ArrayKind:
				m.push(Bool(int(i.n) < len(list.a.Items)))
			case NullKind:
				m.push(Bool(false))
			default:
				return fmt.Errorf("FOR EACH needs an array, found %s", describe(list))
			}
		case OpBetween:
			hi, lo, x := m.pop(), m.pop(), m.pop()
			c1, err1 := compare(lo, x)
			c2, err2 := compare(x, hi)
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			m.push(Bool(c1 <= 0 && c2 <= 0))
		default:
			return fmt.Errorf("bad instruction %d", in.Op)
		}
	}
}

// ret pops the current frame; the return value is on top of the stack.
func (m *Machine) ret() {
	v := m.pop()
	fr := m.frames[len(m.frames)-1]
	m.stack = m.stack[:fr.base]
	m.frames = m.frames[:len(m.frames)-1]
	m.push(v)
}

func describe(v Value) string {
	switch v.k {
	case NullKind:
		return "null"
	case StringKind:
		s := v.s
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return fmt.Sprintf("text %q", s)
	case NumberKind:
		return "number " + FormatNumber(v.n)
	}
	return v.k.String()
}

func (m *Machine) binary(op Op, x, y Value) (Value, error) {
	switch op {
	case OpEq:
		return Bool(equal(x, y)), nil
	case OpNe:
		return Bool(!equal(x, y)), nil
	case OpLt, OpGt, OpLe, OpGe:
		c, err := compare(x, y)
		if err != nil {
			return Null, err
		}
		switch op {
		case OpLt:
			return Bool(c < 0), nil
		case OpGt:
			return Bool(c > 0), nil
		case OpLe:
			return Bool(c <= 0), nil
		}
		return Bool(c >= 0), nil
	case OpIn, OpNotIn:
		r, err := contains(y, x)
		return Bool(r == (op == OpIn)), err
	case OpConcat:
		return m.concat(x, y)
	case OpAdd:
		// + with text on either side concatenates (reference: Operators).
		if x.k == StringKind || y.k == StringKind {
			return m.concat(x, y)
		}
	}
	a, ok1 := x.Number()
	b, ok2 := y.Number()
	if !ok1 || !ok2 || x.k == ArrayKind || x.k == ObjectKind || y.k == ArrayKind || y.k == ObjectKind {
		bad := x
		if ok1 {
			bad = y
		}
		return Null, fmt.Errorf("%s needs numbers, found %s", opName[op], describe(bad))
	}
	switch op {
	case OpAdd:
		return Num(a + b), nil
	case OpSub:
		return Num(a - b), nil
	case OpMul:
		return Num(a * b), nil
	case OpDiv:
		if b == 0 {
			return Null, errors.New("division by zero")
		}
		return Num(a / b), nil
	case OpMod:
		if b == 0 {
			return Null, errors.New("MOD by zero")
		}
		return Num(math.Mod(a, b)), nil
	case OpPow:
		return Num(math.Pow(a, b)), nil
	}
	return Null, fmt.Errorf("bad operator")
}

var opName = map[Op]string{OpAdd: "+", OpSub: "-", OpMul: "*", OpDiv: "/", OpMod: "MOD", OpPow: "^"}

func (m *Machine) concat(x, y Value) (Value, error) {
	s := x.String() + y.String()
	if err := m.alloc(int64(len(s))); err != nil {
		return Null, err
	}
	return Str(s), nil
}

// contains is IN: element of an array, substring of a string, key of an object.
func contains(hay, needle Value) (bool, error) {
	switch hay.k {
	case ArrayKind:
		for _, x := range hay.a.Items {
			if equal(x, needle) {
				return true, nil
			}
		}
		return false, nil
	case StringKind:
		return strings.Contains(hay.s, needle.String()), nil
	case ObjectKind:
		_, ok := hay.o.Get(needle.String())
		return ok, nil
	case NullKind:
		return false, nil
	}
	return false, fmt.Errorf("IN needs an array or text on the right, found %s", describe(hay))
}

func index(x, i Value) (Value, error) {
	switch x.k {
	case ArrayKind:
		n, err := arrayIndex(i, len(x.a.Items))
		if err != nil {
			return Null, err
		}
		return x.a.Items[n], nil
	case ObjectKind:
		v, _ := x.o.Get(i.String())
		return v, nil
	case StringKind:
		r := []rune(x.s)
		n, err := arrayIndex(i, len(r))
		if err != nil {
			return Null, err
		}
		return Str(string(r[n])), nil
	case NullKind:
		return Null, nil
	}
	return Null, fmt.Errorf("cannot index %s", describe(x))
}

func arrayIndex(i Value, n int) (int, error) {
	f, ok := i.Number()
	if !ok || f != math.Trunc(f) {
		return 0, fmt.Errorf("index must be a whole number, found %s", describe(i))
	}
	if f < 0 || int(f) >= n {
		return 0, fmt.Errorf("index %s is out of range (the array has %d elements, 0 to %d)", FormatNumber(f), n, n-1)
	}
	return int(f), nil
}

func (m *Machine) setIndex(x, i, v Value) error {
	switch x.k {
	case ArrayKind:
		n, err := arrayIndex(i, len(x.a.Items)+1)
		if err != nil {
			return err
		}
		if n == len(x.a.Items) { // a[LEN(a)] = v appends
			if err := m.alloc(16); err != nil {
				return err
			}
			x.a.Items = append(x.a.Items, v)
			return nil
		}
		x.a.Items[n] = v
		return nil
	case ObjectKind:
		if err := m.alloc(48); err != nil {
			return err
		}
		x.o.Set(i.String(), v)
		return nil
	}
	return fmt.Errorf("cannot set an element of %s", describe(x))
}
