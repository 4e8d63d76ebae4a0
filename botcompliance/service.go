// Package botcompliance is the botcompliance service: audit log, consent, data export and erase, retention.
// Its domain API arrives in a later issue; until then it serves health,
// reflection and metrics, and owns schema compliance.
package botcompliance

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	compliancev1 "github.com/botserver-go/botserver-go/proto/bot/compliance/v1"
)

// Service defines botcompliance for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botcompliance",
		Health:  compliancev1.ComplianceService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "compliance"}},
		Setup: func(_ context.Context, env *app.Env) error {
			compliancev1.RegisterComplianceServiceServer(env.GRPC, compliancev1.UnimplementedComplianceServiceServer{})
			return nil
		},
	}
}
