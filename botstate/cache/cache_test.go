package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botserver-go/botserver-go/botstate/cache"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// The contract every implementation honours, run against each of them.
func TestMemoryContract(t *testing.T) {
	runContract(t, func(t *testing.T) cache.Cache {
		c := cache.NewMemory()
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
}

func TestRedisContract(t *testing.T) {
	runContract(t, func(t *testing.T) cache.Cache {
		c, _ := testutil.NewRedis(t)
		return c
	})
}

func runContract(t *testing.T, newCache func(t *testing.T) cache.Cache) {
	ctx := context.Background()

	t.Run("GetMissing", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		v, ok, err := c.Get(ctx, "nope")
		if err != nil || ok || v != nil {
			t.Fatalf("Get(missing) = %q, %v, %v; want nil, false, nil", v, ok, err)
		}
	})

	t.Run("SetGetOverwrite", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		val := []byte("hello")
		mustSet(t, c, "k", val, 0)
		val[0] = 'J' // the cache must have kept its own copy
		expectValue(t, c, "k", "hello")
		got, _, _ := c.Get(ctx, "k")
		got[0] = 'Y' // and hand out copies
		expectValue(t, c, "k", "hello")
		mustSet(t, c, "k", []byte("world"), time.Minute)
		expectValue(t, c, "k", "world")
	})

	t.Run("EmptyValueIsPresent", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		mustSet(t, c, "empty", nil, 0)
		v, ok, err := c.Get(ctx, "empty")
		if err != nil || !ok || len(v) != 0 {
			t.Fatalf("Get(empty) = %q, %v, %v; want \"\", true, nil", v, ok, err)
		}
	})

	t.Run("OddKeys", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		for i, k := range []string{"a b", "ключ", "x:y:z", "*?[]", strings.Repeat("k", 1000)} {
			mustSet(t, c, k, fmt.Appendf(nil, "%d", i), 0)
			expectValue(t, c, k, fmt.Sprint(i))
		}
	})

	t.Run("TTLExpires", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		mustSet(t, c, "short", []byte("x"), 150*time.Millisecond)
		mustSet(t, c, "forever", []byte("y"), 0)
		mustSet(t, c, "negative", []byte("z"), -time.Second) // <= 0: no expiry
		expectValue(t, c, "short", "x")
		time.Sleep(300 * time.Millisecond)
		expectMissing(t, c, "short")
		expectValue(t, c, "forever", "y")
		expectValue(t, c, "negative", "z")
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		mustSet(t, c, "k", []byte("v"), 0)
		if err := c.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		expectMissing(t, c, "k")
		if err := c.Delete(ctx, "never-was"); err != nil {
			t.Fatalf("Delete(missing) = %v, want nil", err)
		}
	})

	t.Run("IncrCounts", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		for want := int64(1); want <= 3; want++ {
			if n := mustIncr(t, c, "n", time.Minute); n != want {
				t.Fatalf("Incr = %d, want %d", n, want)
			}
		}
		expectValue(t, c, "n", "3") // decimal text on both implementations
		mustSet(t, c, "n", []byte("41"), 0)
		if n := mustIncr(t, c, "n", time.Minute); n != 42 {
			t.Fatalf("Incr after Set 41 = %d, want 42", n)
		}
	})

	t.Run("IncrExpiresFromFirstIncrement", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		const ttl = 500 * time.Millisecond
		mustIncr(t, c, "w", ttl)
		time.Sleep(300 * time.Millisecond)
		if n := mustIncr(t, c, "w", ttl); n != 2 {
			t.Fatalf("second Incr = %d, want 2", n)
		}
		// 600ms after the first increment: expired, unless the second
		// increment wrongly pushed the expiry to 800ms.
		time.Sleep(300 * time.Millisecond)
		if n := mustIncr(t, c, "w", ttl); n != 1 {
			t.Fatalf("Incr after the window = %d, want 1 (a new window)", n)
		}
	})

	t.Run("IncrGivesExpiryToCounterWithout", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		mustSet(t, c, "c", []byte("5"), 0)
		if n := mustIncr(t, c, "c", 150*time.Millisecond); n != 6 {
			t.Fatalf("Incr = %d, want 6", n)
		}
		time.Sleep(300 * time.Millisecond)
		expectMissing(t, c, "c")
	})

	t.Run("IncrNonInteger", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		mustSet(t, c, "s", []byte("abc"), 0)
		if n, err := c.Incr(ctx, "s", time.Minute); err == nil {
			t.Fatalf("Incr(non-integer) = %d, nil; want an error", n)
		}
		expectValue(t, c, "s", "abc")
	})

	t.Run("IncrConcurrent", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		const workers, each = 20, 25
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					n, err := c.Incr(ctx, "hot", time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[n] {
						t.Errorf("Incr returned %d twice", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		expectValue(t, c, "hot", fmt.Sprint(workers*each))
	})
}

// Redis-specific: keys carry the prefix, and Incr's expiry is set once.
func TestRedisPrefixAndExpiry(t *testing.T) {
	ctx := context.Background()
	c1, p1 := testutil.NewRedis(t)
	c2, _ := testutil.NewRedis(t)
	mustSet(t, c1, "shared", []byte("one"), 0)
	expectMissing(t, c2, "shared")

	opt, err := redis.ParseURL(testutil.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	if v, err := rc.Get(ctx, p1+"shared").Result(); err != nil || v != "one" {
		t.Fatalf("raw GET %sshared = %q, %v; want \"one\"", p1, v, err)
	}

	mustIncr(t, c1, "ctr", 10*time.Second)
	first := rc.PTTL(ctx, p1+"ctr").Val()
	if first <= 0 || first > 10*time.Second {
		t.Fatalf("PTTL after first Incr = %v, want (0, 10s]", first)
	}
	time.Sleep(50 * time.Millisecond)
	mustIncr(t, c1, "ctr", time.Hour)
	if again := rc.PTTL(ctx, p1+"ctr").Val(); again > first {
		t.Fatalf("PTTL grew from %v to %v: a later Incr reset the expiry", first, again)
	}
}

func TestNewWithoutURLIsInProcess(t *testing.T) {
	c, err := cache.New(context.Background(), "", "p:")
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, c, "k", []byte("v"), 0)
	expectValue(t, c, "k", "v")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(context.Background(), "k"); !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestNewUnreachableNamesHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cache.New(ctx, "redis://127.0.0.1:1/0", "")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("New(unreachable) = %v, want an error naming 127.0.0.1:1", err)
	}
}

func TestNewBadURLHidesPassword(t *testing.T) {
	for _, u := range []string{"redis://user:s3cret@host:notaport/0", "http://user:s3cret@host/0"} {
		_, err := cache.New(context.Background(), u, "")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) = %v, want an error without the password", u, err)
		}
	}
}

func mustSet(t *testing.T, c cache.Cache, k string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := c.Set(context.Background(), k, v, ttl); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}

func mustIncr(t *testing.T, c cache.Cache, k string, ttl time.Duration) int64 {
	t.Helper()
	n, err := c.Incr(context.Background(), k, ttl)
	if err != nil {
		t.Fatalf("Incr(%q): %v", k, err)
	}
	return n
}

func expectValue(t *testing.T, c cache.Cache, k, want string) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), k)
	if err != nil || !ok || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v, %v; want %q, true, nil", k, v, ok, err, want)
	}
}

func expectMissing(t *testing.T, c cache.Cache, k string) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), k)
	if err != nil || ok {
		t.Fatalf("Get(%q) = %q, %v, %v; want missing", k, v, ok, err)
	}
}
