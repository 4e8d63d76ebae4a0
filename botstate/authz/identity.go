// Package authz carries the verified caller of a request through a service:
// who they are, which organisation they act in, and what they may do.
//
// # Server side
//
// The identity is put in the context by the token-verifying gRPC interceptor
// and HTTP middleware of a Guard (never from a request body); handlers read
// it with FromContext (or OrgOf) and scope their queries to its OrgID with
// pg.InOrg. The app framework builds one Guard per process, merges the
// Policy of every service registered on its gRPC server and installs it on
// that server; health and reflection are public, and a method missing from
// the policy is refused with PermissionDenied.
//
// Tokens are EdDSA (Ed25519) JWTs. Access tokens of users, API keys and
// visitors are signed by botauth with keys it rotates and publishes as a
// JWKS; a Verifier checks them locally against that set, cached and
// refetched when a token names a key it has not seen. Where the set comes
// from is a setting (see Settings): botauth's GetJwks RPC by default, or a
// static AUTH_JWKS for tests and split deployments.
//
// # Service identity
//
// Services call each other with short-lived service tokens (Kind service,
// five minutes) that each process mints itself with the platform service
// key AUTH_SERVICE_KEY (an Ed25519 seed shared by the services, like a
// cluster secret). Verifiers accept that key only for service tokens and
// botauth's keys only for the other kinds, so neither key can forge the
// other's callers. A process without AUTH_SERVICE_KEY makes a random key at
// start: enough for the all-in-one, whose services share the process, and
// refused (Unauthenticated) by services in other processes.
//
// A service identity carries permission "*". It acts in no organisation
// unless the caller names one: the bot-org-id metadata, which the
// interceptor believes from services only (users, API keys and visitors get
// their org from their token, whatever metadata they send).
//
// # Calling another service
//
// Connections made by the app framework (env.Clients) add the service token
// when, and only when, the context asks for it:
//
//	ctx = authz.ForOrg(ctx, orgID) // act as this service for orgID
//	ctx = authz.AsService(ctx)     // act as this service, no org
//	resp, err := drivev1.NewDriveServiceClient(cc).Stat(ctx, req)
//
// A context without either sends only the metadata already on it (the
// gateway forwards the end user's Authorization that way), so a request
// that arrived without a token can never leave with the service's.
package authz

import (
	"context"
	"slices"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultOrgID is the organisation of the all-in-one: botauth creates it at
// start and bots found in $BOTS_DIR belong to it.
const DefaultOrgID = "00000000-0000-4000-8000-000000000001"

// Kind says what sort of caller an identity is.
type Kind string

const (
	KindUser    Kind = "user"    // a person logged in (password or OIDC)
	KindVisitor Kind = "visitor" // an anonymous visitor of one public bot
	KindAPIKey  Kind = "apikey"  // an API key of an org
	KindService Kind = "service" // another platform service
)

// Identity is a verified caller.
type Identity struct {
	Kind        Kind
	Subject     string   // user id, visitor id, API key id or service name
	OrgID       string   // the tenant every query is scoped to
	BotID       string   // set for visitors: the one bot they may talk to
	SessionID   string   // the login session or visitor session
	Roles       []string // role names in the org
	Permissions []string // "resource:action"; "*" grants everything
}

// Can reports whether the identity holds a permission ("bots:write").
// "resource:*" grants every action on the resource.
func (id *Identity) Can(permission string) bool {
	if id == nil {
		return false
	}
	resource, _, _ := cut(permission)
	return slices.ContainsFunc(id.Permissions, func(p string) bool {
		return p == "*" || p == permission || p == resource+":*"
	})
}

func cut(p string) (string, string, bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == ':' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

type ctxKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the verified caller, if any.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok && id != nil
}

// OrgOf returns the organisation of the caller in ctx, or a gRPC status
// error: Unauthenticated without a caller, FailedPrecondition for a caller
// that acts in no organisation (a service that did not send bot-org-id).
// Pass the result to pg.InOrg.
func OrgOf(ctx context.Context) (string, error) {
	id, ok := FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "no verified caller")
	}
	if _, err := uuid.Parse(id.OrgID); err != nil {
		return "", status.Error(codes.FailedPrecondition, "the caller acts in no organisation (services: use authz.ForOrg)")
	}
	return id.OrgID, nil
}
