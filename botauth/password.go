package botauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2 are argon2id parameters. They are stored in each hash (PHC
// string), so changing them applies to new passwords and, on the next
// successful login, rehashes old ones.
type Argon2 struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

const (
	saltLen = 16
	hashLen = 32
	// maxPasswordBytes bounds the work a request can ask of argon2 and the
	// size of a body field.
	maxPasswordBytes = 1024
)

// Hash returns the PHC string of password: $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func (a Argon2) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(password), salt, a.Time, a.MemoryKiB, a.Threads, hashLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.MemoryKiB, a.Time, a.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

var errBadHash = errors.New("malformed password hash")

// Verify reports whether password matches the PHC string (constant-time
// comparison) and whether the hash should be redone with a's parameters.
func (a Argon2) Verify(password, phc string) (ok, rehash bool, err error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, false, errBadHash
	}
	var v int
	var p Argon2
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil || p.Time == 0 || p.Threads == 0 {
		return false, false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, ok && p != a, nil
}

// checkPassword is the password policy: 12 to 256 characters (Unicode
// letters count once), not only spaces, not the email itself.
func checkPassword(password, email string, minLen int) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return errors.New("password is not valid UTF-8")
	case n < minLen:
		return fmt.Errorf("password must have at least %d characters", minLen)
	case n > 256 || len(password) > maxPasswordBytes:
		return errors.New("password must have at most 256 characters")
	case strings.TrimSpace(password) == "":
		return errors.New("password must not be only spaces")
	case strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(email)):
		return errors.New("password must not be the email address")
	}
	return nil
}
