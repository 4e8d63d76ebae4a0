package index

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/botserver-go/botserver-go/botstate/embed"
)

func TestDotMatchesScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200; n++ {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		want := embed.Dot(a, b)
		for name, got := range map[string]float32{"dot": dot(a, b), "go": dotGo(a, b)} {
			if math.Abs(float64(got-want)) > 1e-4*math.Max(1, math.Abs(float64(want))) {
				t.Fatalf("%s n=%d: %v, want %v", name, n, got, want)
			}
		}
	}
	if dot(make([]float32, 3), make([]float32, 4)) != 0 {
		t.Fatal("sizes differ: want 0")
	}
}

func BenchmarkDot384(b *testing.B) {
	x, y := make([]float32, 384), make([]float32, 384)
	for i := range x {
		x[i], y[i] = float32(i%7), float32(i%5)
	}
	b.Run("asm", func(b *testing.B) {
		for b.Loop() {
			dot(x, y)
		}
	})
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			dotGo(x, y)
		}
	})
	b.Run("embed", func(b *testing.B) {
		for b.Loop() {
			embed.Dot(x, y)
		}
	})
}
