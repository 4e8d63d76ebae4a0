// Package botauto is the botauto service: the BASIC compiler and resumable VM, tools and bot packages.
// Its domain API arrives with issue #4; until then it serves health,
// reflection and metrics, and owns schema auto.
package botauto

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// Service defines botauto for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botauto",
		Health:  autov1.AutoService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "auto"}},
		Setup: func(_ context.Context, env *app.Env) error {
			autov1.RegisterAutoServiceServer(env.GRPC, autov1.UnimplementedAutoServiceServer{})
			return nil
		},
	}
}
