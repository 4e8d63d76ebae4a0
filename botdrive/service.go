// Package botdrive is the botdrive service: files on S3 or local disk, text extraction and bot package import.
// Its domain API arrives with issue #7; until then it serves health,
// reflection and metrics, and owns schema drive.
package botdrive

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// Service defines botdrive for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botdrive",
		Health:  drivev1.DriveService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "drive"}},
		Setup: func(_ context.Context, env *app.Env) error {
			drivev1.RegisterDriveServiceServer(env.GRPC, drivev1.UnimplementedDriveServiceServer{})
			return nil
		},
	}
}
