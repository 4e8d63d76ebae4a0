// Package authz carries the verified caller of a request through a service:
// who they are, which organisation they act in, and what they may do.
//
// The identity is put in the context by the token-verifying gRPC interceptor
// and HTTP middleware (never from a request body); handlers read it with
// FromContext and scope their queries to its OrgID (see pg.InOrg).
package authz

import (
	"context"
	"slices"
)

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
