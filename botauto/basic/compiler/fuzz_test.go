package compiler

import (
	"context"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

// FuzzCompileRun: compiling and running any input (with tight budgets, and
// resuming any HEAR) never panics and never hangs.
func FuzzCompileRun(f *testing.F) {
	for _, c := range conformance {
		f.Add(c.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, _ := Compile("fuzz.bas", src)
		if p == nil {
			return
		}
		opts := testOptions()
		opts.Limits = vm.Limits{MaxSteps: 20_000, MaxDuration: 200 * time.Millisecond, MaxMemory: 1 << 20, MaxDepth: 50}
		res := vm.Run(context.Background(), p, opts)
		for i := 0; i < 3 && res.Status == vm.Waiting; i++ {
			res = vm.Resume(context.Background(), p, res.State, "1", opts)
		}
		if res.Status == vm.Failed && res.Err.Limit == "" && len(res.Err.Msg) > 9 && res.Err.Msg[:9] == "internal " {
			t.Fatalf("VM bug: %v", res.Err)
		}
	})
}
