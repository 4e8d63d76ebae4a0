package authz

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// ErrInvalidToken is wrapped by every error of a token that is malformed,
// forged, expired or not for this platform.
var ErrInvalidToken = errors.New("invalid token")

// ErrKeysUnavailable is wrapped when the verifying keys cannot be fetched
// (botauth unreachable): the token may be fine, so callers should retry.
var ErrKeysUnavailable = errors.New("token signing keys are unavailable")

// MaxTokenBytes bounds the tokens a verifier looks at.
const MaxTokenBytes = 8 << 10

// KeySource returns the current JWKS document (JSON) of the token issuer.
type KeySource func(ctx context.Context) ([]byte, error)

// StaticKeys is a KeySource that always returns the same JWKS.
func StaticKeys(jwks []byte) KeySource {
	return func(context.Context) ([]byte, error) { return jwks, nil }
}

// VerifierOptions configure NewVerifier.
type VerifierOptions struct {
	Issuer  string        // expected iss; default DefaultIssuer
	Keys    KeySource     // botauth's JWKS; nil: only service tokens verify
	Refresh time.Duration // how long a fetched JWKS is used before refetching; default 5m
	// ServiceKeys verify service tokens (and only those).
	ServiceKeys []*Key
	// Leeway tolerates clock skew on exp/nbf/iat; default 30s.
	Leeway time.Duration
	Now    func() time.Time // tests
}

// minRefetch limits refetches caused by unknown key ids, so garbage tokens
// cannot make every request fetch the JWKS.
const minRefetch = 10 * time.Second

// Verifier checks access tokens locally. Verified tokens are cached until
// they expire, so a caller sending the same token again costs a map lookup
// instead of a signature check.
type Verifier struct {
	o       VerifierOptions
	service map[string]ed25519.PublicKey
	parser  *jwt.Parser

	mu        sync.RWMutex
	keys      map[string]ed25519.PublicKey
	fetchedAt time.Time
	triedAt   time.Time
	fetchMu   sync.Mutex

	cacheMu sync.RWMutex
	cache   map[string]cached
}

type cached struct {
	id  Identity
	exp time.Time
}

// maxCached bounds the verified-token cache (about 10 MB at most).
const maxCached = 20000

// NewVerifier builds a verifier.
func NewVerifier(o VerifierOptions) *Verifier {
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Minute
	}
	if o.Leeway <= 0 {
		o.Leeway = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &Verifier{o: o, service: map[string]ed25519.PublicKey{}, cache: map[string]cached{}}
	for _, k := range o.ServiceKeys {
		v.service[k.ID] = k.Public()
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithIssuer(o.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(o.Leeway),
		jwt.WithTimeFunc(o.Now),
	)
	return v
}

// Verify checks a compact JWT and returns the identity it carries. The
// returned identity is the caller's own copy.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if token == "" || len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: empty or too long", ErrInvalidToken)
	}
	now := v.o.Now()
	v.cacheMu.RLock()
	c, ok := v.cache[token]
	v.cacheMu.RUnlock()
	if ok && now.Before(c.exp) {
		id := c.id
		return &id, nil
	}
	claims := &Claims{}
	var keyErr error
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		k, err := v.keyFor(ctx, t)
		keyErr = err
		return k, err
	})
	if err != nil {
		if errors.Is(keyErr, ErrKeysUnavailable) {
			return nil, keyErr
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if err := checkClaims(claims); err != nil {
		return nil, err
	}
	id := claims.Identity()
	v.remember(token, *id, claims.ExpiresAt.Time, now)
	return id, nil
}

func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (ed25519.PublicKey, error) {
	kid, _ := t.Header["kid"].(string)
	claims, _ := t.Claims.(*Claims)
	if kid == "" || claims == nil {
		return nil, errors.New("token has no key id")
	}
	if pub, ok := v.service[kid]; ok {
		if claims.Kind != KindService {
			return nil, errors.New("the service key signs only service tokens")
		}
		return pub, nil
	}
	if claims.Kind == KindService {
		return nil, errors.New("service token signed by an unknown service key (AUTH_SERVICE_KEY differs between services?)")
	}
	if v.o.Keys == nil {
		return nil, errors.New("no token issuer keys are configured")
	}
	if pub := v.lookup(kid); pub != nil && !v.stale() {
		return pub, nil
	}
	if err := v.fetch(ctx, kid); err != nil {
		if pub := v.lookup(kid); pub != nil {
			return pub, nil // a stale set still knows this key
		}
		return nil, err
	}
	if pub := v.lookup(kid); pub != nil {
		return pub, nil
	}
	return nil, fmt.Errorf("unknown signing key %q", kid)
}

func (v *Verifier) lookup(kid string) ed25519.PublicKey {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.keys[kid]
}

func (v *Verifier) stale() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.o.Now().Sub(v.fetchedAt) > v.o.Refresh
}

// fetch refreshes the key set unless another caller just did, or a fetch
// was tried less than minRefetch ago and the set is not stale.
func (v *Verifier) fetch(ctx context.Context, kid string) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	now := v.o.Now()
	v.mu.RLock()
	known, have := v.keys[kid] != nil, v.keys != nil
	fresh := now.Sub(v.fetchedAt) <= v.o.Refresh
	since := now.Sub(v.triedAt)
	v.mu.RUnlock()
	switch {
	case known && fresh:
		return nil // another caller fetched it meanwhile
	case have && since < minRefetch:
		return nil // just refetched: the kid is unknown, or the stale set must do
	case !have && since < time.Second:
		return fmt.Errorf("%w: the last fetch failed a moment ago", ErrKeysUnavailable)
	}
	v.mu.Lock()
	v.triedAt = now
	v.mu.Unlock()
	data, err := v.o.Keys(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	keys, err := ParseJWKS(data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	v.mu.Lock()
	v.keys, v.fetchedAt = keys, now
	v.mu.Unlock()
	return nil
}

func (v *Verifier) remember(token string, id Identity, exp, now time.Time) {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	if len(v.cache) >= maxCached {
		for k, c := range v.cache {
			if !now.Before(c.exp) {
				delete(v.cache, k)
			}
		}
		if len(v.cache) >= maxCached {
			clear(v.cache)
		}
	}
	v.cache[token] = cached{id: id, exp: exp}
}

// checkClaims enforces what each kind of token must carry.
func checkClaims(c *Claims) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrInvalidToken, why) }
	if c.Subject == "" {
		return bad("no subject")
	}
	orgOK := func() bool { _, err := uuid.Parse(c.OrgID); return err == nil }
	switch c.Kind {
	case KindUser, KindAPIKey:
		if !orgOK() {
			return bad("no organisation")
		}
	case KindVisitor:
		if !orgOK() || c.BotID == "" {
			return bad("visitor token without organisation or bot")
		}
	case KindService:
		if c.OrgID != "" {
			return bad("service tokens carry no organisation")
		}
	default:
		return bad(fmt.Sprintf("unknown kind %q", c.Kind))
	}
	return nil
}
