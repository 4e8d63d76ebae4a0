package authz

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Algorithm is the only JWS algorithm tokens may use. Anything else
// ("none", HS256 with a public key as secret, RS256...) is refused.
const Algorithm = "EdDSA"

// DefaultIssuer is the iss claim of platform tokens unless AUTH_ISSUER says otherwise.
const DefaultIssuer = "botserver-go"

// Claims are the JWT claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	Kind        Kind     `json:"kind"`
	OrgID       string   `json:"org,omitempty"`
	BotID       string   `json:"bot,omitempty"`
	SessionID   string   `json:"sid,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	Permissions []string `json:"perms,omitempty"`
}

// NewClaims builds the claims of a token for id, valid for ttl from now.
func NewClaims(issuer string, id *Identity, now time.Time, ttl time.Duration) *Claims {
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   id.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        uuid.NewString(),
		},
		Kind: id.Kind, OrgID: id.OrgID, BotID: id.BotID, SessionID: id.SessionID,
		Roles: id.Roles, Permissions: id.Permissions,
	}
}

// Identity is the caller the claims describe.
func (c *Claims) Identity() *Identity {
	return &Identity{Kind: c.Kind, Subject: c.Subject, OrgID: c.OrgID, BotID: c.BotID,
		SessionID: c.SessionID, Roles: c.Roles, Permissions: c.Permissions}
}

// Key is an Ed25519 signing key with its key id.
type Key struct {
	ID      string
	Private ed25519.PrivateKey
}

// NewKey generates a signing key.
func NewKey() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return KeyFromSeed(priv.Seed())
}

// KeyFromSeed rebuilds a key from its 32-byte seed; the key id is derived
// from the public key, so the same seed gives the same kid everywhere.
func KeyFromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("ed25519 seed must be %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	return &Key{ID: hex.EncodeToString(sum[:8]), Private: priv}, nil
}

// ParseServiceKey decodes AUTH_SERVICE_KEY: a base64 (standard or URL,
// padded or not) Ed25519 seed of 32 bytes.
func ParseServiceKey(s string) (*Key, error) {
	var seed []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if seed, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("AUTH_SERVICE_KEY is not base64")
	}
	k, err := KeyFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("AUTH_SERVICE_KEY: %w", err)
	}
	k.ID = "svc-" + k.ID
	return k, nil
}

// EncodeSeed is the AUTH_SERVICE_KEY form of a key.
func (k *Key) EncodeSeed() string { return base64.RawURLEncoding.EncodeToString(k.Private.Seed()) }

// Public is the verifying half.
func (k *Key) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// Sign returns the compact JWS of claims, with kid in the header.
func (k *Key) Sign(c *Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = k.ID
	return t.SignedString(k.Private)
}

// JWK is the public key as a JSON Web Key (RFC 8037 OKP).
func (k *Key) JWK() JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", Use: "sig", Alg: Algorithm, Kid: k.ID,
		X: base64.RawURLEncoding.EncodeToString(k.Public())}
}

// JWK is one public key of a JWKS.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Kid string `json:"kid"`
	X   string `json:"x"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// Marshal is the JSON of the set.
func (s JWKS) Marshal() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ParseJWKS reads a JWKS and returns its Ed25519 keys by kid. Keys of other
// types are skipped (a set may carry them for other consumers); a set
// without one usable key is an error.
func ParseJWKS(data []byte) (map[string]ed25519.PublicKey, error) {
	var s JWKS
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	out := map[string]ed25519.PublicKey{}
	for _, k := range s.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Alg != "" && k.Alg != Algorithm) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize || k.Kid == "" {
			return nil, fmt.Errorf("JWKS: key %q is malformed", k.Kid)
		}
		out[k.Kid] = ed25519.PublicKey(x)
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS: no Ed25519 signing key")
	}
	return out, nil
}
