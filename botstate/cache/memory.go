package cache

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

const (
	// MemoryMaxEntries bounds the in-process cache so a flood of distinct
	// keys (e.g. rate-limit counters for many client IPs) cannot exhaust memory.
	MemoryMaxEntries = 100_000
	// memoryJanitorEvery is how often expired entries are swept.
	memoryJanitorEvery = 30 * time.Second
	// fullSweepEvery limits the O(n) sweep a write into a full cache may
	// trigger; in between, a full cache evicts by sampling so that a
	// flood of new keys costs O(1) per write, not O(n) under the lock.
	fullSweepEvery = time.Second
	// evictSample is how many entries are compared to pick an eviction victim.
	evictSample = 8
)

type memItem struct {
	val []byte
	exp int64 // deadline on m's monotonic clock (ns since m.base); 0 = none
}

type memory struct {
	base      time.Time // monotonic origin: TTLs are immune to wall-clock jumps
	max       int
	mu        sync.Mutex
	items     map[string]memItem
	closed    bool
	lastSweep int64
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewMemory returns an in-process cache with at most MemoryMaxEntries
// entries. When full, a write first drops expired entries, then evicts the
// sampled entry closest to expiry. A janitor goroutine sweeps expired
// entries until Close. Values are copied in and out, so callers may reuse
// their slices.
func NewMemory() Cache { return newMemory(MemoryMaxEntries, memoryJanitorEvery) }

func newMemory(maxEntries int, janitorEvery time.Duration) *memory {
	m := &memory{
		base:      time.Now(),
		max:       maxEntries,
		items:     make(map[string]memItem),
		lastSweep: math.MinInt64 / 2,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go m.janitor(janitorEvery)
	return m
}

func (m *memory) now() int64 { return int64(time.Since(m.base)) }

func (m *memory) deadline(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now + int64(ttl)
}

func (it memItem) live(now int64) bool { return it.exp == 0 || now < it.exp }

func (m *memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	it, ok := m.items[key]
	if !ok || !it.live(m.now()) {
		return nil, false, nil
	}
	return bytes.Clone(it.val), true, nil
}

func (m *memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	v := bytes.Clone(val)
	if v == nil {
		v = []byte{} // a stored empty value is present, not missing
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	now := m.now()
	m.putLocked(now, key, memItem{val: v, exp: m.deadline(now, ttl)})
	return nil
}

func (m *memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.items, key)
	return nil
}

func (m *memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	now := m.now()
	it, ok := m.items[key]
	if !ok || !it.live(now) {
		m.putLocked(now, key, memItem{val: []byte{'1'}, exp: m.deadline(now, ttl)})
		return 1, nil
	}
	// Stored as decimal text, like Redis, so Get sees the same bytes on both.
	n, err := strconv.ParseInt(string(it.val), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cache: incr %q: value is not an integer", key)
	}
	if n == math.MaxInt64 {
		return 0, fmt.Errorf("cache: incr %q: increment would overflow", key)
	}
	n++
	if it.exp == 0 {
		it.exp = m.deadline(now, ttl) // same rule as Redis: a counter without expiry gets one
	}
	it.val = strconv.AppendInt(it.val[:0], n, 10)
	m.items[key] = it
	return n, nil
}

// putLocked stores it under key, making room first when key is new and the
// cache is full.
func (m *memory) putLocked(now int64, key string, it memItem) {
	if _, exists := m.items[key]; !exists && len(m.items) >= m.max {
		if now-m.lastSweep >= int64(fullSweepEvery) {
			m.sweepLocked(now)
		}
		for len(m.items) >= m.max {
			m.evictOneLocked(now)
		}
	}
	m.items[key] = it
}

// evictOneLocked removes, among a few entries in Go's randomised map order,
// an expired one or else the one expiring soonest (no expiry counts as last).
func (m *memory) evictOneLocked(now int64) {
	var victim string
	best, seen := int64(math.MaxInt64), 0
	for k, it := range m.items {
		if !it.live(now) {
			victim = k
			break
		}
		exp := it.exp
		if exp == 0 {
			exp = math.MaxInt64
		}
		if seen == 0 || exp < best {
			victim, best = k, exp
		}
		if seen++; seen == evictSample {
			break
		}
	}
	delete(m.items, victim)
}

func (m *memory) sweepLocked(now int64) {
	m.lastSweep = now
	for k, it := range m.items {
		if !it.live(now) {
			delete(m.items, k)
		}
	}
}

func (m *memory) janitor(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.mu.Lock()
			m.sweepLocked(m.now())
			m.mu.Unlock()
		}
	}
}

// Close stops the janitor and drops every entry. Calling it again is a no-op.
func (m *memory) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
		m.mu.Lock()
		m.closed = true
		m.items = nil
		m.mu.Unlock()
	})
	return nil
}
