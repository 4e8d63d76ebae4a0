package app

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	current := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }

	if got := tuneGC(func(string) string { return "" }); got != DefaultGOGC || current() != DefaultGOGC {
		t.Fatalf("GOGC unset: tuneGC says %d, the runtime has %d, want %d", got, current(), DefaultGOGC)
	}
	// With GOGC set the runtime has already applied it: tuneGC leaves it.
	debug.SetGCPercent(150)
	if got := tuneGC(func(k string) string { return map[string]string{"GOGC": "150"}[k] }); got != 150 || current() != 150 {
		t.Fatalf("GOGC=150: tuneGC says %d, the runtime has %d", got, current())
	}
}
