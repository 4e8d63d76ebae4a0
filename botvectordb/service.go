// Package botvectordb is the botvectordb service: knowledge bases: ingestion, chunks, embeddings and retrieval.
// Its domain API arrives with issue #6; until then it serves health,
// reflection and metrics, and owns schema kb.
package botvectordb

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

// Service defines botvectordb for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botvectordb",
		Health:  vectordbv1.VectordbService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "kb"}},
		Setup: func(_ context.Context, env *app.Env) error {
			vectordbv1.RegisterVectordbServiceServer(env.GRPC, vectordbv1.UnimplementedVectordbServiceServer{})
			return nil
		},
	}
}
