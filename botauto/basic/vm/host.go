package vm

import (
	"context"
	"fmt"
	"strings"

	"github.com/botserver-go/botserver-go/botauto/basic/syntax"
)

// Call is one service keyword call, e.g. SEND MAIL to, subject, body.
type Call struct {
	Keyword string           // canonical phrase: "SEND MAIL" also for SEND EMAIL
	Service string           // syntax.Keyword.Service: llm, kb, memory, http, drive, tables, mail, ...
	Args    []Value          // positional arguments
	Clauses map[string]Value // named clauses (AS, FROM, SUBJECT)
	Pos     syntax.Pos
}

// Host runs the keywords the VM cannot run itself. The service implements it
// (LLM, HTTP with its SSRF guard, bot tables, mail, ...); errors it returns
// become script errors that ON ERROR RESUME NEXT can catch.
type Host interface {
	Call(ctx context.Context, c *Call) (Value, error)
}

// HostFunc adapts a function to Host.
type HostFunc func(ctx context.Context, c *Call) (Value, error)

// Call implements Host.
func (f HostFunc) Call(ctx context.Context, c *Call) (Value, error) { return f(ctx, c) }

// UnavailableHost is the default host: every service keyword fails clearly.
type UnavailableHost struct{}

// Call implements Host.
func (UnavailableHost) Call(_ context.Context, c *Call) (Value, error) {
	return Null, fmt.Errorf("%s is not available (%s)", c.Service, c.Keyword)
}

// keyword runs Calls[i]: conversation keywords become outputs, triggers are
// no-ops at run time, everything else goes to the Host.
func (m *Machine) keyword(i int, pos syntax.Pos) error {
	kc := m.prog.Calls[i]
	n := kc.NArgs + len(kc.Clauses)
	vals := m.stack[len(m.stack)-n:]
	args := append([]Value(nil), vals[:kc.NArgs]...)
	var clauses map[string]Value
	for j, c := range kc.Clauses {
		if clauses == nil {
			clauses = map[string]Value{}
		}
		clauses[c] = vals[kc.NArgs+j]
	}
	m.stack = m.stack[:len(m.stack)-n]
	k := kc.Keyword
	switch {
	case k.Trigger:
		m.push(Null)
		return nil
	case k.Service == "":
		m.push(Null)
		return m.output(k.Name(), args, clauses)
	}
	v, err := m.opts.Host.Call(m.ctx, &Call{Keyword: k.Name(), Service: k.Service, Args: args, Clauses: clauses, Pos: pos})
	if err != nil {
		return fmt.Errorf("%s: %w", k.Name(), err)
	}
	if err := m.alloc(size(v)); err != nil {
		return err
	}
	m.push(v)
	return nil
}

func arg(args []Value, i int) string {
	if i < len(args) {
		return args[i].String()
	}
	return ""
}

// output maps a conversation keyword to an Output for the caller.
func (m *Machine) output(name string, args []Value, clauses map[string]Value) error {
	as, hasAs := clauses["AS"]
	o := Output{}
	switch name {
	case "TALK":
		o = Output{Kind: "talk", Text: arg(args, 0)}
	case "SET USER":
		o = Output{Kind: "set_user", Value: arg(args, 0)}
	case "ADD SUGGESTION":
		if hasAs {
			o = Output{Kind: "suggestion", Name: "context", Text: as.String(), Value: arg(args, 0)}
		} else {
			o = Output{Kind: "suggestion", Name: "message", Text: arg(args, 0), Value: arg(args, 0)}
		}
	case "ADD SUGGESTION TEXT":
		o = Output{Kind: "suggestion", Name: "text", Text: as.String(), Value: arg(args, 0)}
	case "ADD SUGGESTION TOOL":
		label := arg(args, 0)
		if hasAs {
			label = as.String()
		}
		o = Output{Kind: "suggestion", Name: "tool", Text: label, Value: arg(args, 0)}
	case "CLEAR SUGGESTIONS":
		o = Output{Kind: "clear_suggestions"}
	case "ADD SWITCHER":
		o = Output{Kind: "switcher", Name: arg(args, 0), Text: as.String()}
	case "CLEAR SWITCHERS":
		o = Output{Kind: "clear_switchers"}
	case "SET CONTEXT":
		o = Output{Kind: "context", Name: arg(args, 0), Text: as.String()}
	case "USE KB":
		o = Output{Kind: "use_kb", Name: arg(args, 0)}
	case "CLEAR KB":
		o = Output{Kind: "clear_kb", Name: arg(args, 0)}
	case "USE TOOL":
		o = Output{Kind: "use_tool", Name: arg(args, 0)}
	case "CLEAR TOOLS":
		o = Output{Kind: "clear_tools"}
	case "TRANSFER TO HUMAN":
		o = Output{Kind: "transfer", Name: arg(args, 0)}
	case "PRINT":
		parts := make([]string, len(args))
		for i, a := range args {
			parts[i] = a.String()
		}
		o = Output{Kind: "log", Text: strings.Join(parts, " ")}
		if m.opts.Log != nil {
			m.opts.Log(o.Text)
		}
	case "WAIT":
		// WAIT never sleeps inside the VM (that would hold a worker): the
		// caller delays the outputs that follow it.
		f, ok := args[0].Number()
		if !ok || f < 0 {
			return fmt.Errorf("WAIT needs a number of seconds, found %s", describe(args[0]))
		}
		o = Output{Kind: "wait", Value: FormatNumber(f)}
	default:
		return fmt.Errorf("%s is not available in this runtime", name)
	}
	if err := m.alloc(int64(len(o.Text) + len(o.Value) + len(o.Name) + 32)); err != nil {
		return err
	}
	m.out = append(m.out, o)
	return nil
}
