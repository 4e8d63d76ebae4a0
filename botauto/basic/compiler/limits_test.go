package compiler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botauto/basic/syntax"
	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

func runWith(t *testing.T, src string, lim vm.Limits, host vm.Host) *vm.Result {
	t.Helper()
	p, diags := Compile("limits.bas", src)
	if diags != nil {
		t.Fatal(diags)
	}
	opts := testOptions()
	opts.Limits = lim
	if host != nil {
		opts.Host = host
	}
	return vm.Run(context.Background(), p, opts)
}

func TestLimits(t *testing.T) {
	cases := []struct {
		name, src string
		lim       vm.Limits
		host      vm.Host
		kind, msg string
	}{
		{"runaway DO: LOOP hits the step budget", "TALK \"start\"\nDO: LOOP", vm.Limits{MaxSteps: 10_000}, nil,
			"steps", "2:1: step limit exceeded (10000 steps) at line 2"},
		{"ON ERROR does not catch budgets", "ON ERROR RESUME NEXT\nWHILE TRUE\nWEND", vm.Limits{MaxSteps: 1000}, nil,
			"steps", "2:7: step limit exceeded (1000 steps) at line 2"},
		{"wall clock", "DO\nLOOP", vm.Limits{MaxSteps: 1 << 60, MaxDuration: 30 * time.Millisecond}, nil,
			"time", "1:1: time limit exceeded (30ms) at line 1"},
		{"slow host counts against the wall clock", "FOR i = 1 TO 100000\n x = LLM \"q\"\nNEXT", vm.Limits{MaxDuration: 20 * time.Millisecond},
			vm.HostFunc(func(context.Context, *vm.Call) (vm.Value, error) { time.Sleep(time.Millisecond); return vm.Null, nil }),
			"time", "time limit exceeded (20ms) at line"},
		{"memory", "s = \"x\"\nDO\n s = s & s\nLOOP", vm.Limits{MaxMemory: 1 << 20}, nil,
			"memory", "3:8: memory limit exceeded (1048576 bytes) at line 3"},
		{"memory through arrays", "a = []\nDO\n PUSH(a, 1)\nLOOP", vm.Limits{MaxMemory: 1 << 16}, nil,
			"memory", "3:2: memory limit exceeded (65536 bytes) at line 3"},
		{"work on big text counts as steps", "s = \"x\"\nFOR i = 1 TO 20\n s = s & s\nNEXT\nDO\n n = LEN(s)\nLOOP", vm.Limits{MaxSteps: 100_000}, nil,
			"steps", "6:2: step limit exceeded (100000 steps) at line 6"},
		{"deep recursion", "FUNCTION f(n)\n RETURN f(n + 1)\nEND FUNCTION\nTALK f(1)", vm.Limits{MaxDepth: 50}, nil,
			"depth", "2:9: call depth limit exceeded (50 nested calls) at line 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res := runWith(t, tc.src, tc.lim, tc.host)
			if res.Status != vm.Failed || res.Err.Limit != tc.kind || !strings.Contains(res.Err.Error(), tc.msg) {
				t.Fatalf("got %v %#v, want %s limit %q", res.Status, res.Err, tc.kind, tc.msg)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestCancelledContextStopsRun(t *testing.T) {
	p, _ := Compile("c.bas", "DO\nLOOP")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	opts := testOptions()
	opts.Limits = vm.Limits{MaxSteps: 1 << 60}
	res := vm.Run(ctx, p, opts)
	if res.Status != vm.Failed || !strings.Contains(res.Err.Msg, "run cancelled") {
		t.Fatalf("got %v %v", res.Status, res.Err)
	}
}

func TestDefaultHostSaysServiceUnavailable(t *testing.T) {
	p, _ := Compile("m.bas", "TALK \"before\"\nSEND MAIL \"a@b.c\", \"s\", \"body\"\nTALK \"after\"")
	res := vm.Run(context.Background(), p, vm.Options{})
	if res.Status != vm.Failed || res.Err.Error() != "2:1: SEND MAIL: mail is not available (SEND MAIL)" {
		t.Fatalf("got %v %v", res.Status, res.Err)
	}
	if len(res.Outputs) != 1 || res.Outputs[0].Text != "before" {
		t.Fatalf("outputs %v", res.Outputs)
	}
	// ON ERROR RESUME NEXT lets a script degrade gracefully.
	p, _ = Compile("m.bas", "ON ERROR RESUME NEXT\nx = LLM \"hi\"\nTALK \"fallback: \" + ERR")
	res = vm.Run(context.Background(), p, vm.Options{})
	if res.Status != vm.Done || res.Outputs[0].Text != "fallback: LLM: llm is not available (LLM)" {
		t.Fatalf("got %v %v", res.Outputs, res.Err)
	}
}

func TestHostReceivesCall(t *testing.T) {
	var got *vm.Call
	host := vm.HostFunc(func(_ context.Context, c *vm.Call) (vm.Value, error) {
		got = c
		return vm.FromGo(map[string]any{"ok": true}), nil
	})
	res := runWith(t, "ON EMAIL \"x@y.z\" FROM \"boss\"\nr = POST \"https://api.example.com\", body\nTALK r.ok", vm.Limits{}, host)
	if res.Status != vm.Done || res.Outputs[0].Text != "true" {
		t.Fatalf("got %v %v", res.Status, res.Err)
	}
	if got.Keyword != "POST" || got.Service != "http" || len(got.Args) != 2 || got.Args[0].String() != "https://api.example.com" || got.Pos.Line != 2 {
		t.Fatalf("call %+v", got)
	}
	p, _ := Compile("t.bas", "SET SCHEDULE \"0 9 * * 1\"\nON EMAIL \"x@y.z\" FROM \"boss\" SUBJECT \"hi\"\nWEBHOOK \"orders\"")
	if len(p.Triggers) != 3 || p.Triggers[1].Clauses["SUBJECT"] != "hi" || p.Triggers[0].Args[0] != "0 9 * * 1" {
		t.Fatalf("triggers %+v", p.Triggers)
	}
}

func TestVarsPreset(t *testing.T) {
	p, _ := Compile("v.bas", "TALK max_items * 2")
	opts := testOptions()
	opts.Vars = map[string]vm.Value{"MAX_ITEMS": vm.Num(5), "unused": vm.Num(1)}
	res := vm.Run(context.Background(), p, opts)
	if res.Outputs[0].Text != "10" {
		t.Fatalf("got %v", res.Outputs)
	}
}

// A new service keyword is one table row: parser, compiler and VM need no change.
func TestNewKeywordIsATableEntry(t *testing.T) {
	syntax.Register(&syntax.Keyword{Phrase: "send sms", Min: 2, Max: 2, Service: "sms", Value: true})
	var got *vm.Call
	host := vm.HostFunc(func(_ context.Context, c *vm.Call) (vm.Value, error) { got = c; return vm.Str("queued"), nil })
	res := runWith(t, "SEND SMS \"+351900000000\", \"hi\"\nx = SEND SMS \"+1\", \"yo\"\nTALK x", vm.Limits{}, host)
	if res.Status != vm.Done || res.Outputs[0].Text != "queued" || got.Keyword != "SEND SMS" || got.Service != "sms" {
		t.Fatalf("got %v %v %+v", res.Status, res.Err, got)
	}
}
