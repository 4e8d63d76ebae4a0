// Package botvideo is the botvideo service: meetings on LiveKit.
// Its domain API arrives in a later issue; until then it serves health,
// reflection and metrics, and owns schema meet.
package botvideo

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	videov1 "github.com/botserver-go/botserver-go/proto/bot/video/v1"
)

// Service defines botvideo for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botvideo",
		Health:  videov1.VideoService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "meet"}},
		Setup: func(_ context.Context, env *app.Env) error {
			videov1.RegisterVideoServiceServer(env.GRPC, videov1.UnimplementedVideoServiceServer{})
			return nil
		},
	}
}
