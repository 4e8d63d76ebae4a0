package eval_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botvectordb/eval"
	"github.com/botserver-go/botserver-go/botvectordb/index/indextest"
	"github.com/botserver-go/botserver-go/botvectordb/retrieve"
)

// TestRecallAt5 prints recall@5 of the local embedder alone, full-text
// alone and hybrid, and fails when one falls below what it reached when
// the set was written (a quality regression).
func TestRecallAt5(t *testing.T) {
	pool := indextest.NewPool(t)
	res, err := eval.Run(context.Background(), pool, embed.NewLocal(0), 5)
	if err != nil {
		t.Fatal(err)
	}
	qs, _ := eval.Questions()
	fmt.Printf("kb-eval: %d questions                 recall@%d  recall@1\n", len(qs), res.K)
	fmt.Printf("kb-eval:   vector (local-hash-v1/384)  %.2f      %.2f\n", res.Vector, res.At1[retrieve.Vector])
	fmt.Printf("kb-eval:   full-text (tsvector)        %.2f      %.2f\n", res.Text, res.At1[retrieve.Text])
	fmt.Printf("kb-eval:   hybrid (RRF)                %.2f      %.2f\n", res.Hybrid, res.At1[retrieve.Hybrid])
	for mode, name := range map[retrieve.Mode]string{retrieve.Vector: "vector", retrieve.Text: "full-text", retrieve.Hybrid: "hybrid"} {
		for _, q := range res.Misses[mode] {
			t.Logf("%s missed: %s", name, q)
		}
	}
	if res.Vector < floorVector || res.Text < floorText || res.Hybrid < floorHybrid {
		t.Fatalf("recall regressed: vector %.2f (floor %.2f), text %.2f (floor %.2f), hybrid %.2f (floor %.2f)",
			res.Vector, floorVector, res.Text, floorText, res.Hybrid, floorHybrid)
	}
}

// Floors: a little under the recall measured when the set was written.
const (
	floorVector = 0.85
	floorText   = 0.95
	floorHybrid = 0.95
)
