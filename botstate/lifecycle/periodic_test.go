package lifecycle_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botstate/lifecycle"
)

func TestPeriodicRunsAtStartAndEveryTickUntilStopped(t *testing.T) {
	var calls atomic.Int32
	deadlines := make(chan bool, 100)
	u := lifecycle.Periodic{Name: "p", Every: 10 * time.Millisecond, Timeout: time.Second, AtStart: true,
		Run: func(ctx context.Context) error {
			_, ok := ctx.Deadline()
			deadlines <- ok
			calls.Add(1)
			return errors.New("logged, not fatal")
		}}.Unit()
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("AtStart: %d calls when Start returned, want 1", calls.Load())
	}
	for calls.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := u.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := calls.Load()
	time.Sleep(30 * time.Millisecond)
	if calls.Load() != n {
		t.Fatal("called after Stop returned")
	}
	close(deadlines)
	for ok := range deadlines {
		if !ok {
			t.Fatal("a call had no deadline")
		}
	}
}

func TestPeriodicWithoutIntervalOnlyRunsAtStart(t *testing.T) {
	var calls atomic.Int32
	u := lifecycle.Periodic{Name: "p", AtStart: true, Timeout: time.Second,
		Run: func(context.Context) error { calls.Add(1); return nil }}.Unit()
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := u.Stop(context.Background()); err != nil || calls.Load() != 1 {
		t.Fatalf("calls = %d, %v", calls.Load(), err)
	}
}
