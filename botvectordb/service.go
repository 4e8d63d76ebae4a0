// Package botvectordb is the botvectordb service: knowledge bases of bots.
// It consumes botdrive's file events for <bot>.gbkb/<kb>/ folders, extracts
// (through botdrive), chunks, embeds and indexes documents, and answers
// hybrid searches. It owns schema kb.
package botvectordb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"google.golang.org/grpc"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botvectordb/chunk"
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/ingest"
	"github.com/botserver-go/botserver-go/botvectordb/migrations"
	"github.com/botserver-go/botserver-go/botvectordb/retrieve"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

// Settings are botvectordb's own settings (the embedder's come from
// botstate/embed and are shared with botllm).
type Settings struct {
	Embedding embed.Settings

	QdrantURL    string `env:"QDRANT_URL" desc:"Qdrant gRPC endpoint (http://qdrant:6334). Empty: vectors in Postgres with an in-process HNSW index."`
	QdrantAPIKey string `env:"QDRANT_API_KEY" desc:"API key for QDRANT_URL (empty: none)."`

	ChunkSize    int           `env:"KB_CHUNK_SIZE" envDefault:"1000" desc:"Target chunk length in characters (100-20000)."`
	ChunkOverlap int           `env:"KB_CHUNK_OVERLAP" envDefault:"150" desc:"Characters repeated between consecutive chunks of a section (-1: none; at most half the chunk size)."`
	Workers      int           `env:"KB_WORKERS" envDefault:"2" desc:"Documents ingested at once by this process."`
	MaxAttempts  int           `env:"KB_MAX_ATTEMPTS" envDefault:"3" desc:"Attempts before a document is marked failed."`
	Lease        time.Duration `env:"KB_ATTEMPT_TIMEOUT" envDefault:"10m" desc:"Longest one ingestion attempt may take; a document held longer (a worker died) is taken back and retried."`
	RetryBackoff time.Duration `env:"KB_RETRY_BACKOFF" envDefault:"10s" desc:"Delay after a document's first failed attempt; x4 after each further one."`
	EmbedBatch   int           `env:"KB_EMBED_BATCH" envDefault:"256" desc:"Chunks per embedding call during ingestion."`
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	var errs []error
	if err := s.Embedding.Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.QdrantURL != "" {
		if u, err := url.Parse(s.QdrantURL); err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("QDRANT_URL must be a URL like http://qdrant:6334"))
		}
	}
	o := chunk.Options{Size: s.ChunkSize, Overlap: s.ChunkOverlap}
	if err := o.Check(); err != nil {
		errs = append(errs, fmt.Errorf("KB_CHUNK_SIZE/KB_CHUNK_OVERLAP: %w", err))
	}
	if s.Workers < 1 || s.Workers > 64 || s.MaxAttempts < 1 || s.MaxAttempts > 20 {
		errs = append(errs, errors.New("KB_WORKERS must be 1-64 and KB_MAX_ATTEMPTS 1-20"))
	}
	if s.Lease < 10*time.Second || s.RetryBackoff <= 0 || s.EmbedBatch < 1 {
		errs = append(errs, errors.New("KB_ATTEMPT_TIMEOUT must be >= 10s, KB_RETRY_BACKOFF > 0, KB_EMBED_BATCH >= 1"))
	}
	return errors.Join(errs...)
}

// Service defines botvectordb for a service binary or the all-in-one.
func Service() *app.Service {
	settings := &Settings{}
	return &app.Service{
		Name:     "botvectordb",
		Health:   vectordbv1.VectordbService_ServiceDesc.ServiceName,
		Schemas:  []pg.Schema{migrations.Schema},
		Settings: settings,
		Policy:   Policy,
		Setup: func(ctx context.Context, env *app.Env) error {
			return setup(ctx, env, settings)
		},
	}
}

func setup(ctx context.Context, env *app.Env, s *Settings) error {
	embedder, err := embed.New(s.Embedding)
	if err != nil {
		return err
	}
	backend, err := newBackend(ctx, env, s)
	if err != nil {
		return err
	}
	drive := func() (grpc.ClientConnInterface, error) { return env.Clients.Conn("botdrive") }
	in, err := ingest.New(ingest.Options{
		Pool: env.DB, Index: backend, Embedder: embedder, Extractor: ingest.NewDriveExtractor(drive),
		Chunk:   chunk.Options{Size: s.ChunkSize, Overlap: s.ChunkOverlap},
		Workers: s.Workers, MaxAttempts: s.MaxAttempts, Lease: s.Lease, RetryBackoff: s.RetryBackoff,
		EmbedBatch: s.EmbedBatch, Log: env.Log,
	})
	if err != nil {
		return err
	}
	consumer, err := events.NewConsumer(env.Bus.JS, env.DB, in.ConsumerOptions())
	if err != nil {
		return err
	}
	vectordbv1.RegisterVectordbServiceServer(env.GRPC, &Server{
		Pool: env.DB, Wake: in.Wake, Log: env.Log,
		Searcher: &retrieve.Searcher{Pool: env.DB, Index: backend, Embedder: embedder},
	})
	units := []lifecycle.Unit{
		{Name: "index", Stop: func(context.Context) error { return backend.Close() }},
		{Name: "ingest-workers", Deps: []string{"index"},
			Start: func(ctx context.Context) error {
				// Vectors of another model cannot be compared: re-embed.
				if err := in.Remodel(ctx); err != nil {
					return fmt.Errorf("re-index after a model change: %w", err)
				}
				if e, ok := backend.(*index.Embedded); ok {
					go func() {
						if err := e.Warm(context.WithoutCancel(ctx)); err != nil {
							env.Log.Warn("loading the vector index failed; collections load on first search", "err", err)
						}
					}()
				}
				return in.Start(ctx)
			},
			Stop: in.Stop},
		{Name: "drive-consumer", Deps: []string{"ingest-workers"}, Start: consumer.Start, Stop: consumer.Stop},
	}
	for _, u := range units {
		if err := env.AddUnit(u); err != nil {
			return err
		}
	}
	return nil
}

// newBackend picks the vector store: Qdrant when QDRANT_URL is set, else
// the embedded one.
func newBackend(_ context.Context, env *app.Env, s *Settings) (index.Backend, error) {
	if s.QdrantURL != "" {
		return newQdrant(s)
	}
	return index.NewEmbedded(env.DB, index.EmbeddedOptions{Log: env.Log}), nil
}
