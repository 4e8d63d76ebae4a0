package compiler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

// fixedNow makes NOW/TODAY deterministic in tests.
var fixedNow = func() time.Time { return time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC) }

func testOptions() vm.Options {
	return vm.Options{Now: fixedNow, Rand: func() float64 { return 0.5 }, Host: recordingHost{}}
}

// recordingHost answers service keywords with a description of the call, so
// tests can see what reached the service boundary.
type recordingHost struct{}

func (recordingHost) Call(_ context.Context, c *vm.Call) (vm.Value, error) {
	parts := make([]string, len(c.Args))
	for i, a := range c.Args {
		parts[i] = a.String()
	}
	if c.Keyword == "FIND" {
		o := vm.NewObject()
		o.Object().Set("open", vm.Str("09:00"))
		return o, nil
	}
	return vm.Str(fmt.Sprintf("<%s %s>", c.Keyword, strings.Join(parts, "|"))), nil
}

func formatOutputs(outs []vm.Output) []string {
	var lines []string
	for _, o := range outs {
		s := o.Kind
		if o.Name != "" {
			s += "(" + o.Name + ")"
		}
		if o.Text != "" {
			s += ": " + o.Text
		}
		if o.Value != "" {
			s += " = " + o.Value
		}
		lines = append(lines, s)
	}
	return lines
}

// transcript runs src, answering HEARs with inputs (state serialised between
// turns), and returns one line per output plus the end status.
func transcript(t testing.TB, src string, inputs ...string) string {
	t.Helper()
	p, diags := Compile("test.bas", src)
	if len(diags) > 0 {
		t.Fatalf("compile: %v", diags)
	}
	ctx := context.Background()
	res := vm.Run(ctx, p, testOptions())
	var lines []string
	for {
		lines = append(lines, formatOutputs(res.Outputs)...)
		if res.Status != vm.Waiting {
			break
		}
		h := res.Hear
		desc := "hear " + h.Var
		if h.Type != "" {
			desc += " AS " + h.Type
		}
		if len(h.Options) > 0 {
			desc += " [" + strings.Join(h.Options, ", ") + "]"
		}
		lines = append(lines, desc)
		if len(inputs) == 0 {
			return strings.Join(lines, "\n")
		}
		res = vm.Resume(ctx, p, res.State, inputs[0], testOptions())
		inputs = inputs[1:]
	}
	switch res.Status {
	case vm.Failed:
		lines = append(lines, "error: "+res.Err.Error())
	case vm.Done:
		if !res.Value.IsNull() {
			lines = append(lines, "return: "+res.Value.String())
		}
	}
	return strings.Join(lines, "\n")
}
