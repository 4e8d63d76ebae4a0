// Package botauth is the botauth service: organisations, users, RBAC, tokens and JWKS.
// Its domain API arrives with issue #3; until then it serves health,
// reflection and metrics, and owns schema auth.
package botauth

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

// Service defines botauth for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botauth",
		Health:  authv1.AuthService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "auth"}},
		Setup: func(_ context.Context, env *app.Env) error {
			authv1.RegisterAuthServiceServer(env.GRPC, authv1.UnimplementedAuthServiceServer{})
			return nil
		},
	}
}
