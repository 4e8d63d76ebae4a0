// Package bottasks is the bottasks service: tasks, schedules with one firing across replicas, and goals.
// Its domain API arrives in a later issue; until then it serves health,
// reflection and metrics, and owns schema tasks.
package bottasks

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
)

// Service defines bottasks for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "bottasks",
		Health:  tasksv1.TasksService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "tasks"}},
		Setup: func(_ context.Context, env *app.Env) error {
			tasksv1.RegisterTasksServiceServer(env.GRPC, tasksv1.UnimplementedTasksServiceServer{})
			return nil
		},
	}
}
