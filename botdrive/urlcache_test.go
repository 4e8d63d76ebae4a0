package botdrive

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestGetURLsReuse(t *testing.T) {
	var c getURLs
	n := 0
	sign := func(_ context.Context, key string, ttl time.Duration) (string, error) {
		if ttl != dataURLTTL {
			t.Errorf("signed for %v", ttl)
		}
		n++
		return fmt.Sprintf("u/%s/%d", key, n), nil
	}
	ctx := context.Background()
	a, _ := c.get(ctx, "org/a", sign)
	b, _ := c.get(ctx, "org/a", sign)
	if a != b || n != 1 {
		t.Fatalf("a recent URL is not reused: %q %q, %d signatures", a, b, n)
	}
	if o, _ := c.get(ctx, "org/b", sign); o == a || n != 2 {
		t.Fatalf("another key got %q", o)
	}
	// Older than getURLReuse: signed anew, so what the gateway gets always
	// has at least dataURLTTL-getURLReuse to run.
	c.m["org/a"] = signedURL{a, time.Now().Add(-getURLReuse)}
	if s, _ := c.get(ctx, "org/a", sign); s == a || n != 3 {
		t.Fatalf("a stale URL was reused: %q", s)
	}
	// A full cache drops what is stale and keeps working.
	for i := range getURLMax + 10 {
		c.get(ctx, fmt.Sprintf("k/%d", i), sign)
	}
	if len(c.m) > getURLMax {
		t.Fatalf("%d entries", len(c.m))
	}
}
