package botauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/google/uuid"
)

// Opaque secrets (refresh tokens, API keys, invitation tokens) carry their
// organisation: <prefix>_<base64url(org id, 16 bytes | 32 random bytes)>.
// The org lets every lookup run inside pg.InOrg (under RLS) instead of a
// cross-org search; the random part is what makes the secret, and only its
// SHA-256 is stored (256 random bits need no slow hash).
const (
	prefixRefresh    = "brt"
	prefixAPIKey     = "bak"
	prefixInvitation = "biv"
)

var errBadSecret = errors.New("malformed secret")

func newSecret(prefix, orgID string) (string, []byte, error) {
	org, err := uuid.Parse(orgID)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 48)
	copy(b, org[:])
	if _, err := rand.Read(b[16:]); err != nil {
		return "", nil, err
	}
	s := prefix + "_" + base64.RawURLEncoding.EncodeToString(b)
	return s, hashSecret(s), nil
}

// parseSecret returns the org and hash of a secret of the given kind.
func parseSecret(prefix, s string) (orgID string, hash []byte, err error) {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != 64 {
		return "", nil, errBadSecret
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != 48 {
		return "", nil, errBadSecret
	}
	org, _ := uuid.FromBytes(b[:16])
	return org.String(), hashSecret(s), nil
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
