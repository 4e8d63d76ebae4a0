// Package index stores chunk vectors and finds the nearest ones. Two
// backends implement Backend: Embedded (vectors in Postgres, an in-process
// HNSW graph per collection; the default) and qdrant.Backend (a Qdrant
// server, one Qdrant collection per knowledge base). Both pass the contract
// suite in index/indextest.
package index

import (
	"context"
	"errors"
)

// Collection is one knowledge base (<bot>.gbkb/<name>) of an org; ID is
// its row id in kb.collections.
type Collection struct {
	ID    string
	OrgID string
	Bot   string
	Name  string
	// VecVersion is kb.collections.vec_version as read with the row in the
	// org's scope, or 0 if unknown. The embedded backend then knows
	// whether its index is current without a query of its own.
	VecVersion int64
}

// Point is the vector of one chunk.
type Point struct {
	ChunkID    string // uuid
	DocumentID string // uuid
	Path       string // source document, relative to <bot>.gbai/
	Vector     []float32
}

// Hit is a chunk found near the query, Score its cosine similarity.
type Hit struct {
	ChunkID      string
	CollectionID string
	Score        float32
}

// Backend is a vector store. Vectors are L2-normalised; all vectors of a
// collection have one size. Every method is idempotent.
type Backend interface {
	// Name is "embedded" or "qdrant".
	Name() string
	// Upsert stores points (replacing ones with the same ChunkID).
	Upsert(ctx context.Context, c Collection, points []Point) error
	// DeleteDocument removes every point of one document.
	DeleteDocument(ctx context.Context, c Collection, documentID string) error
	// DeleteCollection removes every point of the collection.
	DeleteCollection(ctx context.Context, c Collection) error
	// Search returns up to limit hits over the collections, best first.
	// Collections without any vectors are skipped.
	Search(ctx context.Context, cs []Collection, vector []float32, limit int) ([]Hit, error)
	Close() error
}

// ErrDimensions is returned for a vector whose size differs from the
// collection's.
var ErrDimensions = errors.New("vector size differs from the collection's")
