package botauth

import (
	"context"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// TestKeyRotationKeepsOldTokensValid: after a rotation the new key is
// published before it signs, tokens of the old key verify until they
// expire, and the old key then leaves the JWKS.
func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	pool, dbURL := testutil.NewPool(t)
	ctx := context.Background()
	if _, err := pg.Migrate(ctx, dbURL, Schema()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	ks := &keyStore{pool: pool, rotation: 24 * time.Hour, delay: time.Minute, accessTTL: 15 * time.Minute, now: clock}
	v := authz.NewVerifier(authz.VerifierOptions{Now: clock, Keys: func(ctx context.Context) ([]byte, error) {
		set, err := ks.jwks(ctx)
		return []byte(set.Marshal()), err
	}})
	sign := func() (string, string) {
		k, err := ks.signer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := k.Sign(authz.NewClaims(authz.DefaultIssuer, &authz.Identity{Kind: authz.KindUser, Subject: "u", OrgID: authz.DefaultOrgID}, now, 15*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return tok, k.ID
	}
	jwksLen := func() int {
		set, err := ks.jwks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(set.Keys)
	}
	if err := ks.rotate(ctx); err != nil {
		t.Fatal(err)
	}
	sign()
	if err := ks.rotate(ctx); err != nil || jwksLen() != 1 {
		t.Fatalf("second rotate before the period made a key: %v %d", err, jwksLen())
	}
	now = now.Add(25 * time.Hour)
	oldTok, oldKid := sign() // a token of the old key, issued just before the rotation
	if err := ks.rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if n := jwksLen(); n != 2 {
		t.Fatalf("after rotation the JWKS has %d keys, want 2 (next one published early)", n)
	}
	if _, kid := sign(); kid != oldKid {
		t.Fatal("the new key signs before its activation delay")
	}
	now = now.Add(2 * time.Minute)
	newTok, newKid := sign()
	if newKid == oldKid {
		t.Fatal("the new key does not sign after its activation delay")
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("%s token after rotation: %v", name, err)
		}
	}
	// Once every token of the old key has expired, the key leaves the set.
	now = now.Add(16 * time.Minute)
	if n := jwksLen(); n != 1 {
		t.Fatalf("retired key still published: %d keys", n)
	}
}

// BenchmarkLoginPassword is the argon2id cost of one password check at the
// default parameters (m=46 MiB, t=1, p=1).
func BenchmarkLoginPassword(b *testing.B) {
	a := Argon2{MemoryKiB: 47104, Time: 1, Threads: 1}
	h, err := a.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := a.Verify("correct horse battery staple", h); !ok || err != nil {
			b.Fatal("verify failed")
		}
	}
}

func TestPasswordHashing(t *testing.T) {
	a := Argon2{MemoryKiB: 8192, Time: 1, Threads: 1}
	h, err := a.Hash("pässword long enough")
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := a.Verify("pässword long enough", h); !ok || rehash || err != nil {
		t.Fatalf("verify: %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := a.Verify("password long enough", h); ok {
		t.Fatal("wrong password accepted")
	}
	stronger := Argon2{MemoryKiB: 9216, Time: 1, Threads: 1}
	if ok, rehash, _ := stronger.Verify("pässword long enough", h); !ok || !rehash {
		t.Fatal("changed parameters do not ask for a rehash")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA"} {
		if _, _, err := a.Verify("x", bad); err == nil {
			t.Fatalf("malformed hash %q accepted", bad)
		}
	}
	for pw, ok := range map[string]bool{"short": false, "            ": false, "user@example.com": false, "twelve chars": true} {
		if err := checkPassword(pw, "user@example.com", 12); (err == nil) != ok {
			t.Errorf("policy %q: %v", pw, err)
		}
	}
}
