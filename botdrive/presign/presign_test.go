package presign_test

import (
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botdrive/presign"
)

func TestSignVerify(t *testing.T) {
	s, err := presign.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := presign.Claims{Org: "o", Bot: "b", Path: "a.txt", Method: "GET", Exp: now.Add(time.Minute).Unix()}
	tok := s.Sign(c)
	got, err := s.Verify(tok, now)
	if err != nil || got != c {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := s.Verify(tok, now.Add(2*time.Minute)); err == nil {
		t.Fatal("expired token accepted")
	}
	other, _ := presign.New([]byte(strings.Repeat("x", 32)))
	if _, err := other.Verify(tok, now); err == nil {
		t.Fatal("token from another key accepted")
	}
	forged := presign.Claims{Org: "o", Bot: "b", Path: "secret.txt", Method: "GET", Exp: c.Exp}
	payload, _, _ := strings.Cut(other.Sign(forged), ".")
	_, sig, _ := strings.Cut(tok, ".")
	if _, err := s.Verify(payload+"."+sig, now); err == nil {
		t.Fatal("payload swapped under a valid signature accepted")
	}
	for _, bad := range []string{"", ".", "abc", tok + "x"} {
		if _, err := s.Verify(bad, now); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if _, err := presign.New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}
