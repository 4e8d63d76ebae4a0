package lifecycle

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.log = append(r.log, s); r.mu.Unlock() }
func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, " ")
}
func (r *recorder) SetReady(b bool) {
	if b {
		r.add("ready")
	} else {
		r.add("unready")
	}
}

func unit(rec *recorder, name string, deps ...string) Unit {
	return Unit{Name: name, Deps: deps,
		Start: func(context.Context) error { rec.add("start:" + name); return nil },
		Stop:  func(context.Context) error { rec.add("stop:" + name); return nil }}
}

func TestOrderAndDrainSequence(t *testing.T) {
	rec := &recorder{}
	r := &Runner{Readiness: []Readiness{rec}, DrainDelay: time.Millisecond}
	r.Adopt("pool", func(context.Context) error { rec.add("stop:pool"); return nil })
	for _, u := range []Unit{unit(rec, "handlers", "servers"), unit(rec, "servers", "grpc"), unit(rec, "grpc")} {
		if err := r.Add(u); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "start:grpc start:servers start:handlers ready unready stop:handlers stop:servers stop:grpc stop:pool"
	if got := rec.String(); got != want {
		t.Fatalf("sequence\n got %s\nwant %s", got, want)
	}
}

func TestStartFailureStopsStarted(t *testing.T) {
	rec := &recorder{}
	r := &Runner{Readiness: []Readiness{rec}}
	_ = r.Add(unit(rec, "a"))
	_ = r.Add(Unit{Name: "b", Deps: []string{"a"}, Start: func(context.Context) error { return errors.New("boom") }})
	err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start b: boom") {
		t.Fatalf("err = %v", err)
	}
	if got := rec.String(); got != "start:a stop:a" {
		t.Fatalf("got %s", got)
	}
}

func TestLateFailureShutsDown(t *testing.T) {
	rec := &recorder{}
	r := &Runner{}
	_ = r.Add(Unit{Name: "w", Start: func(ctx context.Context) error {
		go func() { time.Sleep(5 * time.Millisecond); Fail(ctx, errors.New("lost connection")) }()
		return nil
	}, Stop: func(context.Context) error { rec.add("stop:w"); return nil }})
	err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "lost connection") || rec.String() != "stop:w" {
		t.Fatalf("err=%v log=%s", err, rec)
	}
}

func TestGraphErrors(t *testing.T) {
	r := &Runner{}
	_ = r.Add(Unit{Name: "a", Deps: []string{"b"}})
	_ = r.Add(Unit{Name: "b", Deps: []string{"a"}})
	if _, err := r.Order(); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("want cycle, got %v", err)
	}
	r = &Runner{}
	_ = r.Add(Unit{Name: "a", Deps: []string{"nope"}})
	if _, err := r.Order(); err == nil || !strings.Contains(err.Error(), `unknown unit "nope"`) {
		t.Fatalf("want unknown, got %v", err)
	}
	if err := r.Add(Unit{Name: "a"}); err == nil {
		t.Fatal("duplicate accepted")
	}
}

func TestStopDeadlineIsShared(t *testing.T) {
	r := &Runner{Timeout: 20 * time.Millisecond}
	var sawDeadline bool
	_ = r.Add(Unit{Name: "slow", Stop: func(ctx context.Context) error {
		<-ctx.Done()
		sawDeadline = true
		return ctx.Err()
	}})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err := r.Shutdown()
	if !sawDeadline || err == nil || time.Since(t0) > 5*time.Second {
		t.Fatalf("err=%v saw=%v", err, sawDeadline)
	}
}
