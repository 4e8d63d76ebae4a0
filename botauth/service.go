// Package botauth is the botauth service: organisations (tenants), users and
// memberships, roles and permissions, invitations, API keys, the bot
// registry, login sessions and the keys that sign access tokens (published
// as a JWKS). See docs/auth.md for the model and the flows.
//
// Tenancy: every business query runs in pg.InOrg with the org of the
// verified caller. The only cross-org queries are explicit and narrow:
// login by email, the memberships of the caller's own user, an org by slug
// for visitor sessions, user creation, and the signing keys.
package botauth

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Settings are botauth's own settings.
type Settings struct {
	AccessTTL       time.Duration `env:"AUTH_ACCESS_TTL" envDefault:"15m" desc:"Lifetime of access tokens (JWT)."`
	RefreshTTL      time.Duration `env:"AUTH_REFRESH_TTL" envDefault:"720h" desc:"Lifetime of a refresh token (each refresh issues a new one)."`
	VisitorTTL      time.Duration `env:"AUTH_VISITOR_TTL" envDefault:"24h" desc:"Lifetime of anonymous visitor tokens (POST /api/v1/sessions)."`
	APIKeyTTL       time.Duration `env:"AUTH_APIKEY_TTL" envDefault:"2160h" desc:"Default and longest lifetime of API keys."`
	KeyRotation     time.Duration `env:"AUTH_KEY_ROTATION" envDefault:"168h" desc:"Age after which botauth rotates its token signing key."`
	KeyDelay        time.Duration `env:"AUTH_KEY_ACTIVATION_DELAY" envDefault:"1m" desc:"Time a new signing key is published in the JWKS before it signs (must exceed 10s, the verifiers' refetch limit)."`
	ArgonMemoryKiB  uint32        `env:"AUTH_ARGON2_MEMORY_KIB" envDefault:"47104" desc:"argon2id memory per password hash (KiB); 46 MiB, t=1, p=1 is OWASP's recommendation (~50 ms here)."`
	ArgonTime       uint32        `env:"AUTH_ARGON2_TIME" envDefault:"1" desc:"argon2id passes."`
	ArgonThreads    uint8         `env:"AUTH_ARGON2_THREADS" envDefault:"1" desc:"argon2id parallelism."`
	PasswordMin     int           `env:"AUTH_PASSWORD_MIN_LENGTH" envDefault:"12" desc:"Shortest password accepted (characters)."`
	LockoutAfter    int           `env:"AUTH_LOCKOUT_THRESHOLD" envDefault:"5" desc:"Failed logins for one email before it is locked."`
	LockoutBase     time.Duration `env:"AUTH_LOCKOUT_BASE" envDefault:"30s" desc:"First lock duration; it doubles with each further failure."`
	LockoutMax      time.Duration `env:"AUTH_LOCKOUT_MAX" envDefault:"1h" desc:"Longest lock duration."`
	BootstrapEmail  string        `env:"BOOTSTRAP_ADMIN_EMAIL" desc:"First start only (no user exists yet): create this user as owner of the default organisation."`
	BootstrapPasswd string        `env:"BOOTSTRAP_ADMIN_PASSWORD" desc:"Password of BOOTSTRAP_ADMIN_EMAIL (ignored once a user exists). Secret."`

	OIDCIssuer       string        `env:"OIDC_ISSUER" desc:"Platform-wide OpenID provider (issuer URL, exactly as in its discovery document). Unset: only organisations' own providers."`
	OIDCClientID     string        `env:"OIDC_CLIENT_ID" desc:"Client id registered at OIDC_ISSUER."`
	OIDCClientSecret string        `env:"OIDC_CLIENT_SECRET" desc:"Client secret at OIDC_ISSUER (empty: public client, PKCE only). Secret."`
	OIDCRedirectURL  string        `env:"OIDC_REDIRECT_URL" desc:"Where providers send the browser back: the gateway's <public URL>/api/v1/auth/oidc/callback (register it at the provider). Default of organisations' providers too."`
	OIDCScopes       []string      `env:"OIDC_SCOPES" envDefault:"openid,email,profile" desc:"Scopes asked of OIDC_ISSUER (comma-separated, must include openid)."`
	OIDCAllowSignup  bool          `env:"OIDC_ALLOW_SIGNUP" envDefault:"false" desc:"Platform provider: a verified email unknown to the platform becomes a member of the default organisation with OIDC_SIGNUP_ROLE. Off: only existing users (linked by verified email) log in."`
	OIDCSignupRole   string        `env:"OIDC_SIGNUP_ROLE" envDefault:"viewer" desc:"Role of users created by a platform-provider login."`
	OIDCStateTTL     time.Duration `env:"OIDC_STATE_TTL" envDefault:"10m" desc:"How long a started OIDC login (state, nonce, PKCE verifier) may be finished; each works once."`
	OIDCAllowHTTP    bool          `env:"OIDC_ALLOW_HTTP_ISSUERS" envDefault:"false" desc:"Let organisations configure http:// (not https) issuers and redirect URLs on any host; development and tests only (loopback is always allowed)."`
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	var errs []error
	if s.AccessTTL < time.Minute || s.RefreshTTL < s.AccessTTL || s.VisitorTTL < time.Minute || s.APIKeyTTL < time.Hour {
		errs = append(errs, errors.New("AUTH_ACCESS_TTL and AUTH_VISITOR_TTL must be >= 1m, AUTH_REFRESH_TTL >= AUTH_ACCESS_TTL, AUTH_APIKEY_TTL >= 1h"))
	}
	if s.KeyRotation < time.Hour || s.KeyDelay <= 10*time.Second {
		errs = append(errs, errors.New("AUTH_KEY_ROTATION must be >= 1h and AUTH_KEY_ACTIVATION_DELAY > 10s"))
	}
	if s.ArgonMemoryKiB < 8*1024 || s.ArgonTime == 0 || s.ArgonThreads == 0 {
		errs = append(errs, errors.New("AUTH_ARGON2_MEMORY_KIB must be >= 8192, AUTH_ARGON2_TIME and _THREADS >= 1"))
	}
	if s.PasswordMin < 8 || s.LockoutAfter < 1 || s.LockoutBase <= 0 || s.LockoutMax < s.LockoutBase {
		errs = append(errs, errors.New("AUTH_PASSWORD_MIN_LENGTH must be >= 8, AUTH_LOCKOUT_THRESHOLD >= 1, 0 < AUTH_LOCKOUT_BASE <= AUTH_LOCKOUT_MAX"))
	}
	if (s.BootstrapEmail == "") != (s.BootstrapPasswd == "") {
		errs = append(errs, errors.New("set both BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD, or neither"))
	}
	if s.BootstrapEmail != "" {
		if _, err := normEmail(s.BootstrapEmail); err != nil {
			errs = append(errs, fmt.Errorf("BOOTSTRAP_ADMIN_EMAIL: %w", err))
		}
		if err := checkPassword(s.BootstrapPasswd, s.BootstrapEmail, s.PasswordMin); err != nil {
			errs = append(errs, fmt.Errorf("BOOTSTRAP_ADMIN_PASSWORD: %w", err))
		}
	}
	if s.OIDCStateTTL < time.Minute || s.OIDCStateTTL > time.Hour {
		errs = append(errs, errors.New("OIDC_STATE_TTL must be between 1m and 1h"))
	}
	if !slugRE.MatchString(s.OIDCSignupRole) {
		errs = append(errs, errors.New("OIDC_SIGNUP_ROLE must be a role name"))
	}
	if s.OIDCRedirectURL != "" {
		if err := checkURL("OIDC_REDIRECT_URL", s.OIDCRedirectURL, true); err != nil {
			errs = append(errs, err)
		}
	}
	if s.OIDCIssuer != "" {
		if err := checkURL("OIDC_ISSUER", s.OIDCIssuer, true); err != nil {
			errs = append(errs, err)
		}
		if s.OIDCClientID == "" || s.OIDCRedirectURL == "" {
			errs = append(errs, errors.New("OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_REDIRECT_URL"))
		}
		if _, err := checkScopes(s.OIDCScopes); err != nil {
			errs = append(errs, fmt.Errorf("OIDC_SCOPES: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Schema is botauth's schema with its migrations.
func Schema() pg.Schema {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return pg.Schema{Name: "auth", FS: sub}
}

// Service defines botauth for a service binary or the all-in-one.
func Service() *app.Service {
	settings := &Settings{}
	return &app.Service{
		Name:     "botauth",
		Health:   authv1.AuthService_ServiceDesc.ServiceName,
		Schemas:  []pg.Schema{Schema()},
		Settings: settings,
		Policy:   Policy,
		Commands: map[string]app.Command{"bootstrap": bootstrapCommand(settings, os.Stdin, os.Stdout)},
		Setup: func(ctx context.Context, env *app.Env) error {
			srv := newServer(env, settings)
			if err := srv.keys.rotate(ctx); err != nil {
				return err
			}
			if err := srv.ensureDefaultOrg(ctx); err != nil {
				return err
			}
			if err := srv.bootstrap(ctx); err != nil {
				return err
			}
			authv1.RegisterAuthServiceServer(env.GRPC, srv)
			return env.AddUnit(srv.rotationUnit())
		},
	}
}

// rotationUnit checks the signing keys every minute.
func (s *server) rotationUnit() lifecycle.Unit {
	return lifecycle.Periodic{Name: "key-rotation", Every: time.Minute, Timeout: 30 * time.Second,
		Run: s.keys.rotate, Log: s.log}.Unit()
}

func normEmail(e string) (string, error) {
	e = strings.ToLower(strings.TrimSpace(e))
	at := strings.LastIndexByte(e, '@')
	if len(e) > 254 || at < 1 || at == len(e)-1 || strings.ContainsAny(e, " \t\r\n<>,;\"") {
		return "", errors.New("not an email address")
	}
	return e, nil
}
