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
	sign := func(_ context.Context, key string, ttl time.Duration, ct string) (string, error) {
		if ttl != dataURLTTL {
			t.Errorf("signed for %v", ttl)
		}
		n++
		return fmt.Sprintf("u/%s/%s/%d", key, ct, n), nil
	}
	ctx := context.Background()
	a, _ := c.get(ctx, "org/a", "text/plain", dataURLTTL, sign)
	b, _ := c.get(ctx, "org/a", "text/plain", dataURLTTL, sign)
	if a != b || n != 1 {
		t.Fatalf("a recent URL is not reused: %q %q, %d signatures", a, b, n)
	}
	if o, _ := c.get(ctx, "org/b", "text/plain", dataURLTTL, sign); o == a || n != 2 {
		t.Fatalf("another key got %q", o)
	}
	// The content type is part of the URL (response-content-type).
	if o, _ := c.get(ctx, "org/a", "text/html", dataURLTTL, sign); o == a || n != 3 {
		t.Fatalf("another content type got %q", o)
	}
	// Older than a fifth of its lifetime: signed anew, so whoever gets it
	// always has at least four fifths of dataURLTTL to run.
	c.m[getURLKey{"org/a", "text/plain"}] = signedURL{a, time.Now().Add(-dataURLTTL / 5)}
	if s, _ := c.get(ctx, "org/a", "text/plain", dataURLTTL, sign); s == a || n != 4 {
		t.Fatalf("a stale URL was reused: %q", s)
	}
	// A full cache drops what is stale and keeps working.
	for i := range getURLMax + 10 {
		c.get(ctx, fmt.Sprintf("k/%d", i), "", dataURLTTL, sign)
	}
	if len(c.m) > getURLMax {
		t.Fatalf("%d entries", len(c.m))
	}
}
