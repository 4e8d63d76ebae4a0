package vm

import (
	"encoding/json"
	"fmt"
	"math"
)

// StateFormat versions the serialised machine state. Bump it when the layout
// changes; Resume refuses other formats instead of misreading them.
const StateFormat = 1

// The state is JSON: readable in a database console, stable across Go
// versions, and independent of Go type names (unlike gob). Arrays and objects
// live in a heap table and values refer to them by id, so shared references
// and self-containing arrays survive a round trip.
type savedState struct {
	Format  int          `json:"format"`
	Program string       `json:"program"` // Program.Version the state belongs to
	Name    string       `json:"name"`
	Globals []any        `json:"globals"`
	Frames  []savedFrame `json:"frames"`
	Stack   []any        `json:"stack,omitempty"`
	Err     string       `json:"err,omitempty"`
	Hear    *pendingHear `json:"hear,omitempty"`
	Heap    []savedRef   `json:"heap,omitempty"`
}

type savedFrame struct {
	Proc       int   `json:"proc"`
	PC         int   `json:"pc"`
	Locals     []any `json:"locals,omitempty"`
	Base       int   `json:"base"`
	ResumeNext bool  `json:"resume_next,omitempty"`
}

type savedRef struct {
	Array  []any    `json:"a,omitempty"`
	IsObj  bool     `json:"o,omitempty"`
	Keys   []string `json:"k,omitempty"`
	Values []any    `json:"v,omitempty"`
}

// StateVersion returns the program version a saved state needs, so that the
// caller can load that version (or fail clearly if it is gone).
func StateVersion(state []byte) (string, error) {
	var s struct {
		Format  int    `json:"format"`
		Program string `json:"program"`
	}
	if err := json.Unmarshal(state, &s); err != nil {
		return "", fmt.Errorf("saved state is not readable: %v", err)
	}
	if s.Format != StateFormat {
		return "", fmt.Errorf("saved state has format %d, this runtime reads format %d", s.Format, StateFormat)
	}
	return s.Program, nil
}

type encoder struct {
	arrays  map[*Array]int
	objects map[*Object]int
	heap    []savedRef
}

func (e *encoder) val(v Value) any {
	switch v.k {
	case BoolKind:
		return v.n != 0
	case NumberKind:
		if math.IsNaN(v.n) || math.IsInf(v.n, 0) {
			return map[string]any{"n": FormatNumber(v.n)}
		}
		return v.n
	case StringKind:
		return v.s
	case ArrayKind:
		id, ok := e.arrays[v.a]
		if !ok {
			id = len(e.heap)
			e.arrays[v.a] = id
			e.heap = append(e.heap, savedRef{})
			items := make([]any, len(v.a.Items))
			for i, x := range v.a.Items {
				items[i] = e.val(x)
			}
			if items == nil {
				items = []any{}
			}
			e.heap[id] = savedRef{Array: items}
		}
		return map[string]any{"r": id}
	case ObjectKind:
		id, ok := e.objects[v.o]
		if !ok {
			id = len(e.heap)
			e.objects[v.o] = id
			e.heap = append(e.heap, savedRef{})
			r := savedRef{IsObj: true, Keys: append([]string(nil), v.o.keys...)}
			for _, k := range v.o.keys {
				r.Values = append(r.Values, e.val(v.o.m[k]))
			}
			e.heap[id] = r
		}
		return map[string]any{"r": id}
	}
	return nil
}

func (e *encoder) vals(vs []Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = e.val(v)
	}
	return out
}

func (m *Machine) encode() ([]byte, error) {
	e := &encoder{arrays: map[*Array]int{}, objects: map[*Object]int{}}
	s := savedState{Format: StateFormat, Program: m.prog.Version, Name: m.prog.Name, Err: m.errMsg, Hear: m.pending}
	s.Globals = e.vals(m.globals)
	for _, f := range m.frames {
		s.Frames = append(s.Frames, savedFrame{Proc: f.proc, PC: f.pc, Locals: e.vals(f.locals), Base: f.base, ResumeNext: f.resumeNext})
	}
	s.Stack = e.vals(m.stack)
	s.Heap = e.heap
	return json.Marshal(s)
}

type decoder struct{ heap []Value }

func (d *decoder) val(x any) (Value, error) {
	switch t := x.(type) {
	case nil:
		return Null, nil
	case bool:
		return Bool(t), nil
	case float64:
		return Num(t), nil
	case string:
		return Str(t), nil
	case map[string]any:
		if n, ok := t["n"].(string); ok {
			switch n {
			case "Infinity":
				return Num(math.Inf(1)), nil
			case "-Infinity":
				return Num(math.Inf(-1)), nil
			}
			return Num(math.NaN()), nil
		}
		id, ok := t["r"].(float64)
		if !ok || id < 0 || int(id) >= len(d.heap) {
			return Null, fmt.Errorf("bad reference in saved state")
		}
		return d.heap[int(id)], nil
	}
	return Null, fmt.Errorf("bad value in saved state")
}

func (d *decoder) vals(xs []any, want int) ([]Value, error) {
	if want >= 0 && len(xs) != want {
		return nil, fmt.Errorf("saved state does not fit the program (slot count)")
	}
	out := make([]Value, len(xs))
	for i, x := range xs {
		v, err := d.val(x)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (m *Machine) decode(b []byte) error {
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("saved state is not readable: %v", err)
	}
	if s.Format != StateFormat {
		return fmt.Errorf("saved state has format %d, this runtime reads format %d", s.Format, StateFormat)
	}
	if s.Program != m.prog.Version {
		return fmt.Errorf("saved state belongs to version %s of %s, not %s: load that version to resume", s.Program, s.Name, m.prog.Version)
	}
	d := &decoder{heap: make([]Value, len(s.Heap))}
	for i, r := range s.Heap { // shells first: references may point forward
		if r.IsObj {
			d.heap[i] = NewObject()
		} else {
			d.heap[i] = NewArray()
		}
	}
	for i, r := range s.Heap {
		if r.IsObj {
			if len(r.Keys) != len(r.Values) {
				return fmt.Errorf("bad object in saved state")
			}
			for j, k := range r.Keys {
				v, err := d.val(r.Values[j])
				if err != nil {
					return err
				}
				d.heap[i].o.Set(k, v)
			}
		} else {
			items, err := d.vals(r.Array, -1)
			if err != nil {
				return err
			}
			d.heap[i].a.Items = items
		}
	}
	var err error
	if m.globals, err = d.vals(s.Globals, len(m.prog.Globals)); err != nil {
		return err
	}
	if m.stack, err = d.vals(s.Stack, -1); err != nil {
		return err
	}
	if len(s.Frames) == 0 {
		return fmt.Errorf("saved state has no frames")
	}
	for _, f := range s.Frames {
		if f.Proc < 0 || f.Proc >= len(m.prog.Procs) || f.PC < 0 || f.PC > len(m.prog.Procs[f.Proc].Code) || f.Base < 0 || f.Base > len(m.stack) {
			return fmt.Errorf("saved state does not fit the program (frame)")
		}
		locals, err := d.vals(f.Locals, len(m.prog.Procs[f.Proc].Locals))
		if err != nil {
			return err
		}
		m.frames = append(m.frames, frame{proc: f.Proc, pc: f.PC, locals: locals, base: f.Base, resumeNext: f.ResumeNext})
	}
	if s.Hear != nil && (s.Hear.Site < 0 || s.Hear.Site >= len(m.prog.Hears)) {
		return fmt.Errorf("saved state does not fit the program (hear)")
	}
	m.errMsg, m.pending = s.Err, s.Hear
	return nil
}
