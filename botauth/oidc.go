package botauth

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

var errNoOIDC = status.Error(codes.Unimplemented, "OIDC login is not implemented yet (see docs/auth.md)")

// StartOidc is not implemented yet: the contract is in place so clients
// and the gateway need no change when it lands.
func (s *server) StartOidc(context.Context, *authv1.StartOidcRequest) (*authv1.StartOidcResponse, error) {
	return nil, errNoOIDC
}

// FinishOidc is not implemented yet (see StartOidc).
func (s *server) FinishOidc(context.Context, *authv1.FinishOidcRequest) (*authv1.FinishOidcResponse, error) {
	return nil, errNoOIDC
}
