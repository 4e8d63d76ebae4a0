package authz

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Settings configure token verification in every service (loaded by the
// app framework with the base settings).
type Settings struct {
	JWKS        string        `env:"AUTH_JWKS" desc:"Static JWKS that verifies access tokens: the JSON itself, or @/path/to/jwks.json. Unset: fetched from botauth's GetJwks (in-process or SERVICE_ADDRS)."`
	JWKSRefresh time.Duration `env:"AUTH_JWKS_REFRESH" envDefault:"5m" desc:"How long a fetched JWKS is used before it is fetched again (an unknown key id refetches sooner)."`
	Issuer      string        `env:"AUTH_ISSUER" envDefault:"botserver-go" desc:"iss claim of access tokens: botauth signs with it, every service requires it."`
	ServiceKey  string        `env:"AUTH_SERVICE_KEY" desc:"Platform service key: base64 Ed25519 seed (32 bytes) that services sign their service-to-service tokens with; the same in every service. Unset: a random key per process (enough for the all-in-one; calls to services in other processes are refused). Secret."`
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	var errs []error
	if s.JWKSRefresh <= 0 {
		errs = append(errs, errors.New("AUTH_JWKS_REFRESH must be > 0"))
	}
	if strings.TrimSpace(s.Issuer) == "" {
		errs = append(errs, errors.New("AUTH_ISSUER must not be empty"))
	}
	if s.JWKS != "" {
		if _, err := s.StaticJWKS(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.ServiceKey != "" {
		if _, err := ParseServiceKey(s.ServiceKey); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StaticJWKS returns the AUTH_JWKS document (nil when unset), read from the
// file when the setting starts with @.
func (s *Settings) StaticJWKS() ([]byte, error) {
	if s.JWKS == "" {
		return nil, nil
	}
	data := []byte(s.JWKS)
	if path, ok := strings.CutPrefix(s.JWKS, "@"); ok {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("AUTH_JWKS: %w", err)
		}
	}
	if _, err := ParseJWKS(data); err != nil {
		return nil, fmt.Errorf("AUTH_JWKS: %w", err)
	}
	return data, nil
}
