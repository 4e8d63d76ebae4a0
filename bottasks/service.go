// Package bottasks is the bottasks service: tasks, schedules with one firing across replicas, and goals.
// Its domain API arrives in a later issue; until then it serves health,
// reflection and metrics, and owns schema tasks.
package bottasks

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
)

// services may call the declared methods: they act for scripts.
var services = authz.Rule{Kinds: []authz.Kind{authz.KindService}}

// Service defines bottasks for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "bottasks",
		Health:  tasksv1.TasksService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "tasks"}},
		// The contract botauto calls is declared; until this service's issue
		// lands the methods answer Unimplemented ("bottasks is not available").
		Policy: authz.Policy{
			tasksv1.TasksService_CreateTask_FullMethodName:   services,
			tasksv1.TasksService_SetSchedules_FullMethodName: services,
		},
		Setup: func(_ context.Context, env *app.Env) error {
			tasksv1.RegisterTasksServiceServer(env.GRPC, tasksv1.UnimplementedTasksServiceServer{})
			return nil
		},
	}
}
