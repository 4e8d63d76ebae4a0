// Package presign makes and checks the tokens of botdrive's own presigned
// URLs (served by the gateway): an HMAC-SHA256 over what the URL allows
// (org, bot, path, method) and until when. Anyone holding the URL may do
// exactly that, and nothing else, until it expires.
package presign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Claims are what a token allows.
type Claims struct {
	Org    string `json:"o"`
	Bot    string `json:"b"`
	Path   string `json:"p"`
	Method string `json:"m"` // GET or PUT (URLs), COMMIT (BeginUpload's tickets)
	Exp    int64  `json:"e"` // unix seconds
	// Tickets only: the exact size and content type of the upload, and when
	// it began (unix nanoseconds).
	Size        int64  `json:"s,omitempty"`
	ContentType string `json:"t,omitempty"`
	Began       int64  `json:"a,omitempty"`
}

// ErrInvalid is returned for a token that is malformed, forged or expired.
var ErrInvalid = errors.New("presigned URL is invalid or expired")

// Signer signs and verifies tokens with one key.
type Signer struct{ key []byte }

// New returns a signer; the key must be at least 32 bytes.
func New(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("presign: the key must be at least 32 bytes")
	}
	return &Signer{key: key}, nil
}

func (s *Signer) mac(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("botdrive-presign-v1."))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the token for c.
func (s *Signer) Sign(c Claims) string {
	b, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + s.mac(payload)
}

// Verify checks the token's signature and expiry and returns its claims.
func (s *Signer) Verify(token string, now time.Time) (Claims, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 {
		return Claims{}, ErrInvalid
	}
	if !hmac.Equal([]byte(sig), []byte(s.mac(payload))) {
		return Claims{}, ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil || now.Unix() > c.Exp {
		return Claims{}, ErrInvalid
	}
	return c, nil
}
