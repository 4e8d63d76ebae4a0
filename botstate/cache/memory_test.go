package cache

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMemoryBoundedEvictsExpiredFirst(t *testing.T) {
	ctx := context.Background()
	m := newMemory(4, time.Hour)
	defer m.Close()
	_ = m.Set(ctx, "old1", []byte("x"), 10*time.Millisecond)
	_ = m.Set(ctx, "old2", []byte("x"), 10*time.Millisecond)
	_ = m.Set(ctx, "keep1", []byte("x"), 0)
	_ = m.Set(ctx, "keep2", []byte("x"), 0)
	time.Sleep(30 * time.Millisecond)

	_ = m.Set(ctx, "new", []byte("x"), 0) // full: the two expired entries go
	for _, k := range []string{"keep1", "keep2", "new"} {
		if _, ok, _ := m.Get(ctx, k); !ok {
			t.Errorf("%s was evicted while expired entries were available", k)
		}
	}
	if n := len(m.items); n != 3 {
		t.Errorf("%d entries after the sweep, want 3", n)
	}

	// Full of live entries: writes still succeed and the bound holds.
	for i := range 20 {
		if _, err := m.Incr(ctx, fmt.Sprint("ctr", i), time.Minute); err != nil {
			t.Fatal(err)
		}
		if n := len(m.items); n > 4 {
			t.Fatalf("%d entries, bound is 4", n)
		}
	}
	// Overwriting an existing key never evicts.
	m.mu.Lock()
	before := len(m.items)
	var some string
	for k := range m.items {
		some = k
		break
	}
	m.mu.Unlock()
	_ = m.Set(ctx, some, []byte("y"), 0)
	if len(m.items) != before {
		t.Fatalf("overwrite changed the entry count")
	}
}

func TestMemoryEvictsSoonestExpiring(t *testing.T) {
	ctx := context.Background()
	m := newMemory(evictSample, time.Hour) // every entry is in the sample
	defer m.Close()
	_ = m.Set(ctx, "soon", []byte("x"), time.Minute)
	for i := 1; i < evictSample; i++ {
		_ = m.Set(ctx, fmt.Sprint("late", i), []byte("x"), time.Hour)
	}
	m.lastSweep = m.now() // no sweep: eviction by sampling
	_ = m.Set(ctx, "new", []byte("x"), 0)
	if _, ok, _ := m.Get(ctx, "soon"); ok {
		t.Fatal("the entry closest to expiry survived")
	}
}

func TestMemoryJanitorSweepsAndStops(t *testing.T) {
	ctx := context.Background()
	m := newMemory(100, 20*time.Millisecond)
	_ = m.Set(ctx, "a", []byte("x"), 5*time.Millisecond)
	_ = m.Set(ctx, "b", []byte("x"), 0)
	deadline := time.Now().Add(2 * time.Second)
	for {
		m.mu.Lock()
		n := len(m.items)
		m.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d entries, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = m.Close()
	select {
	case <-m.done:
	default:
		t.Fatal("janitor still running after Close")
	}
	if _, err := m.Incr(ctx, "a", time.Second); err != ErrClosed {
		t.Fatalf("Incr after Close = %v, want ErrClosed", err)
	}
}
