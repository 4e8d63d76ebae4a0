// Package qdrant stores knowledge base vectors in a Qdrant server, one Qdrant
// collection per knowledge base ("kb_<collection uuid>"), with payload
// indexes on document_id and org_id so deletes by document are filtered
// server-side.
package qdrant

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botvectordb/index"
)

// Options configure the adapter.
type Options struct {
	URL    string // http(s)://host:6334 — Qdrant's gRPC port
	APIKey string
	// SkipCompatibilityCheck skips the client/server version check (tests
	// against an in-process server).
	SkipCompatibilityCheck bool
	GRPCOptions            []grpc.DialOption
	BatchSize              int // points per upsert request; default 256
}

// Backend is an index.Backend on Qdrant.
type Backend struct {
	c     *qdrant.Client
	batch int
	mu    sync.Mutex
	dims  map[string]int // collection name -> vector size, once known to exist
}

// New connects (lazily: the first call dials).
func New(o Options) (*Backend, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("QDRANT_URL %q: want http(s)://host:port (the gRPC port, 6334)", o.URL)
	}
	port := 6334
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("QDRANT_URL: bad port %q", p)
		}
	}
	c, err := qdrant.NewClient(&qdrant.Config{Host: u.Hostname(), Port: port, APIKey: o.APIKey, UseTLS: u.Scheme == "https",
		SkipCompatibilityCheck: o.SkipCompatibilityCheck, GrpcOptions: o.GRPCOptions})
	if err != nil {
		return nil, fmt.Errorf("qdrant: %w", err)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	return &Backend{c: c, batch: o.BatchSize, dims: map[string]int{}}, nil
}

// Name implements index.Backend.
func (b *Backend) Name() string { return "qdrant" }

// Close implements index.Backend.
func (b *Backend) Close() error { return b.c.Close() }

// CollectionName is the Qdrant collection of a knowledge base.
func CollectionName(c index.Collection) string { return "kb_" + strings.ReplaceAll(c.ID, "-", "") }

// size returns the collection's vector size, 0 when it does not exist.
func (b *Backend) size(ctx context.Context, name string) (int, error) {
	b.mu.Lock()
	d, ok := b.dims[name]
	b.mu.Unlock()
	if ok {
		return d, nil
	}
	exists, err := b.c.CollectionExists(ctx, name)
	if err != nil || !exists {
		return 0, err
	}
	info, err := b.c.GetCollectionInfo(ctx, name)
	if err != nil {
		return 0, err
	}
	d = int(info.GetConfig().GetParams().GetVectorsConfig().GetParams().GetSize())
	b.remember(name, d)
	return d, nil
}

func (b *Backend) remember(name string, d int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d == 0 {
		delete(b.dims, name)
	} else {
		b.dims[name] = d
	}
}

// ensure creates the collection for vectors of size dim, with its payload
// indexes, unless it exists; a different size is ErrDimensions.
func (b *Backend) ensure(ctx context.Context, name string, dim int) error {
	have, err := b.size(ctx, name)
	if err != nil {
		return err
	}
	if have == 0 {
		err = b.c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: name,
			VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: uint64(dim), Distance: qdrant.Distance_Cosine})})
		if err != nil {
			// Another replica may have created it just now.
			b.remember(name, 0)
			if have, err2 := b.size(ctx, name); err2 != nil || have == 0 {
				return fmt.Errorf("qdrant: create %s: %w", name, err)
			}
		} else {
			for _, field := range []string{"document_id", "org_id"} {
				if _, err := b.c.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: name,
					FieldName: field, FieldType: qdrant.FieldType_FieldTypeKeyword.Enum(), Wait: qdrant.PtrOf(true)}); err != nil {
					return fmt.Errorf("qdrant: payload index %s on %s: %w", field, name, err)
				}
			}
			b.remember(name, dim)
		}
		have, _ = b.size(ctx, name)
	}
	if have != dim {
		return fmt.Errorf("qdrant: %w (%d, collection has %d)", index.ErrDimensions, dim, have)
	}
	return nil
}

// Upsert implements index.Backend, in batches.
func (b *Backend) Upsert(ctx context.Context, c index.Collection, points []index.Point) error {
	if len(points) == 0 {
		return nil
	}
	dim := len(points[0].Vector)
	for i, p := range points {
		if len(p.Vector) != dim || dim == 0 {
			return fmt.Errorf("qdrant: point %d: %w", i, index.ErrDimensions)
		}
	}
	name := CollectionName(c)
	if err := b.ensure(ctx, name, dim); err != nil {
		return err
	}
	for i := 0; i < len(points); i += b.batch {
		batch := points[i:min(i+b.batch, len(points))]
		ps := make([]*qdrant.PointStruct, len(batch))
		for j, p := range batch {
			ps[j] = &qdrant.PointStruct{Id: qdrant.NewID(p.ChunkID), Vectors: qdrant.NewVectorsDense(p.Vector),
				Payload: qdrant.NewValueMap(map[string]any{"org_id": c.OrgID, "bot": c.Bot, "kb": c.Name,
					"document_id": p.DocumentID, "path": p.Path})}
		}
		if _, err := b.c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: name, Wait: qdrant.PtrOf(true), Points: ps}); err != nil {
			return fmt.Errorf("qdrant: upsert into %s: %w", name, b.forget(name, err))
		}
	}
	return nil
}

// forget drops a cached size when the server says the collection is gone.
func (b *Backend) forget(name string, err error) error {
	if status.Code(err) == codes.NotFound {
		b.remember(name, 0)
	}
	return err
}

// DeleteDocument implements index.Backend with a filtered delete.
func (b *Backend) DeleteDocument(ctx context.Context, c index.Collection, documentID string) error {
	name := CollectionName(c)
	if d, err := b.size(ctx, name); err != nil || d == 0 {
		return err
	}
	_, err := b.c.Delete(ctx, &qdrant.DeletePoints{CollectionName: name, Wait: qdrant.PtrOf(true),
		Points: qdrant.NewPointsSelectorFilter(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("document_id", documentID)}})})
	if err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("qdrant: delete from %s: %w", name, b.forget(name, err))
	}
	return nil
}

// DeleteCollection implements index.Backend.
func (b *Backend) DeleteCollection(ctx context.Context, c index.Collection) error {
	name := CollectionName(c)
	b.remember(name, 0)
	if err := b.c.DeleteCollection(ctx, name); err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("qdrant: delete %s: %w", name, err)
	}
	b.remember(name, 0)
	return nil
}

// Search implements index.Backend: one query per collection, merged.
func (b *Backend) Search(ctx context.Context, cs []index.Collection, vector []float32, limit int) ([]index.Hit, error) {
	var hits []index.Hit
	for _, c := range cs {
		name := CollectionName(c)
		d, err := b.size(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("qdrant: %w", err)
		}
		if d == 0 {
			continue
		}
		if d != len(vector) {
			return nil, fmt.Errorf("qdrant: %w (query has %d, collection %d)", index.ErrDimensions, len(vector), d)
		}
		lim := uint64(limit)
		res, err := b.c.Query(ctx, &qdrant.QueryPoints{CollectionName: name, Query: qdrant.NewQueryDense(vector), Limit: &lim})
		if err != nil {
			if status.Code(b.forget(name, err)) == codes.NotFound {
				continue
			}
			return nil, fmt.Errorf("qdrant: query %s: %w", name, err)
		}
		for _, p := range res {
			if id := p.GetId().GetUuid(); id != "" {
				hits = append(hits, index.Hit{ChunkID: id, CollectionID: c.ID, Score: p.GetScore()})
			}
		}
	}
	index.SortHits(hits)
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

var _ index.Backend = (*Backend)(nil)
