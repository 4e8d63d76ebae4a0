package authz_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botstate/authz"
)

// TestVerifiedCache: a cached token never outlives its expiry nor the
// removal of its key from the JWKS, and the cache stays bounded.
func TestVerifiedCache(t *testing.T) {
	a, _ := authz.NewKey()
	b, _ := authz.NewKey()
	var set atomic.Value
	set.Store(authz.JWKS{Keys: []authz.JWK{a.JWK(), b.JWK()}}.Marshal())
	var fetches atomic.Int32
	now := time.Now()
	v := authz.NewVerifier(authz.VerifierOptions{Refresh: time.Minute, Now: func() time.Time { return now },
		Keys: func(context.Context) ([]byte, error) { fetches.Add(1); return []byte(set.Load().(string)), nil }})
	sign := func(k *authz.Key, ttl time.Duration) string {
		tok, err := k.Sign(authz.NewClaims(authz.DefaultIssuer, &authz.Identity{Kind: authz.KindUser, Subject: "u", OrgID: org}, now, ttl))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctx := context.Background()
	tokA, tokB, short := sign(a, time.Hour), sign(b, time.Hour), sign(a, 10*time.Second)
	for _, tok := range []string{tokA, tokB, short, tokA, tokB, short} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if v.CacheLen() != 3 || fetches.Load() != 1 {
		t.Fatalf("cache %d, fetches %d", v.CacheLen(), fetches.Load())
	}
	// Past expiry (+ leeway): the cached entry is not believed.
	now = now.Add(45 * time.Second)
	if _, err := v.Verify(ctx, short); !errors.Is(err, authz.ErrInvalidToken) {
		t.Fatalf("expired cached token: %v", err)
	}
	// Key a leaves the set: once the set is refreshed, a's cached tokens
	// fail and are dropped; b's still verify.
	set.Store(authz.JWKS{Keys: []authz.JWK{b.JWK()}}.Marshal())
	if _, err := v.Verify(ctx, tokA); err != nil {
		t.Fatalf("within the refresh period the set is unchanged: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := v.Verify(ctx, tokA); err == nil {
		t.Fatal("token of a removed key accepted from the cache")
	}
	if _, err := v.Verify(ctx, tokB); err != nil {
		t.Fatal(err)
	}
	if v.CacheLen() != 1 { // only tokB: both tokens of key a were dropped
		t.Fatalf("cache after removal: %d", v.CacheLen())
	}

	// Bounded: many distinct live tokens never grow it past its limit.
	const limit = 20000
	for range limit + 50 {
		if _, err := v.Verify(ctx, sign(b, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CacheLen(); n > limit || n < limit*9/10 {
		t.Fatalf("cache size %d", n)
	}
}
