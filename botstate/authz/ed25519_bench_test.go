package authz_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
)

// BenchmarkEd25519Verify is the ceiling of the never-seen-token path: one
// signature check of a token-sized message, nothing else.
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 400) // header.payload of a typical access token
	_, _ = rand.Read(msg)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkJWTLibraryParse is the same check of a never-seen token done by
// golang-jwt (what the verifier used before its direct parser), for
// comparison with BenchmarkVerify/signature.
func BenchmarkJWTLibraryParse(b *testing.B) {
	iss := authztest.NewIssuer(b)
	pub := iss.Key.Public()
	p := jwt.NewParser(jwt.WithValidMethods([]string{authz.Algorithm}), jwt.WithIssuer(authz.DefaultIssuer),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
	toks := make([]string, 1024)
	for i := range toks {
		toks[i] = iss.User(org, "bots:read")
	}
	i := 0
	for b.Loop() {
		if _, err := p.ParseWithClaims(toks[i%len(toks)], &authz.Claims{}, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
