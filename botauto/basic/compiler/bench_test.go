package compiler

import (
	"context"
	"testing"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

func benchProgram(b *testing.B, src string) *vm.Program {
	p, diags := Compile("bench.bas", src)
	if diags != nil {
		b.Fatal(diags)
	}
	return p
}

// BenchmarkLoop1e6 runs a 1e6-iteration loop; ns/step is the VM's cost per
// instruction.
func BenchmarkLoop1e6(b *testing.B) {
	p := benchProgram(b, "total = 0\nFOR i = 1 TO 1000000\n total = total + i MOD 7\nNEXT\nRETURN total")
	opts := vm.Options{Limits: vm.Limits{MaxSteps: 1 << 40}}
	var steps int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := vm.Run(context.Background(), p, opts)
		if res.Status != vm.Done {
			b.Fatal(res.Err)
		}
		steps = res.Steps
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*steps), "ns/step")
	b.ReportMetric(float64(steps), "steps/op")
}

const startBas = `
USE KB "docs"
SET CONTEXT "tone" AS "Answer briefly and kindly."
ADD SWITCHER formal AS "Formal"
hour = HOUR(NOW())
IF hour < 12 THEN
  greeting = "Good morning"
ELSEIF hour < 18 THEN
  greeting = "Good afternoon"
ELSE
  greeting = "Good evening"
END IF
BEGIN TALK
  ${greeting}! I am the demo bot.
  How can I help you today?
END TALK
FOR EACH item IN ["Opening hours", "Orders", "Talk to a person"]
  ADD SUGGESTION TEXT item AS item
NEXT
ADD SUGGESTION TOOL "store_hours" AS "Store hours"
`

// BenchmarkStartBas runs a typical start.bas (the goal: ≤ 100 µs).
func BenchmarkStartBas(b *testing.B) {
	p := benchProgram(b, startBas)
	opts := testOptions()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if res := vm.Run(context.Background(), p, opts); res.Status != vm.Done {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkSuspendResume is one HEAR turn through serialised state (no database).
func BenchmarkSuspendResume(b *testing.B) {
	p := benchProgram(b, "items = SPLIT(\"a b c d e f g h\")\nprofile.name = \"Ana\"\nDO\n HEAR x AS INTEGER\n total = total + x\nLOOP")
	opts := testOptions()
	res := vm.Run(context.Background(), p, opts)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res = vm.Resume(context.Background(), p, res.State, "1", opts)
		if res.Status != vm.Waiting {
			b.Fatal(res.Err)
		}
	}
	b.ReportMetric(float64(len(res.State)), "state-bytes")
}

// BenchmarkCompileStartBas is the cost of (re)compiling on a package reload.
func BenchmarkCompileStartBas(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, d := Compile("start.bas", startBas); d != nil {
			b.Fatal(d)
		}
	}
}
