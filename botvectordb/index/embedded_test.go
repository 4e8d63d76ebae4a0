package index_test

import (
	"context"
	"github.com/google/uuid"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/index/indextest"
)

func TestEmbeddedContract(t *testing.T) {
	indextest.Run(t, func(t *testing.T) indextest.Harness {
		pool := indextest.NewPool(t)
		return indextest.Harness{
			Backend: index.NewEmbedded(pool, index.EmbeddedOptions{}),
			Replica: func() index.Backend { return index.NewEmbedded(pool, index.EmbeddedOptions{}) },
			Pool:    pool,
		}
	})
}

// TestEmbeddedOrgScope: a collection handed to Search with another org (and
// a version, which spares the backend its own query) finds nothing, whether
// its index is loaded yet or not, and does not disturb the owner's index.
func TestEmbeddedOrgScope(t *testing.T) {
	ctx := context.Background()
	pool := indextest.NewPool(t)
	org, other := uuid.NewString(), uuid.NewString()
	c := indextest.Collection(t, pool, org, "bot", "kb")
	v := make([]float32, 8)
	v[0] = 1
	pts := []index.Point{{ChunkID: uuid.NewString(), DocumentID: uuid.NewString(), Vector: v}}
	if err := index.NewEmbedded(pool, index.EmbeddedOptions{}).Upsert(ctx, c, pts); err != nil {
		t.Fatal(err)
	}
	foreign := c
	foreign.OrgID, foreign.VecVersion = other, 1
	own := c
	own.VecVersion = 1

	e := index.NewEmbedded(pool, index.EmbeddedOptions{})
	if h, err := e.Search(ctx, []index.Collection{foreign}, v, 5); err != nil || len(h) != 0 {
		t.Fatalf("another org, not loaded: %v %v", h, err)
	}
	if h, err := e.Search(ctx, []index.Collection{own}, v, 5); err != nil || len(h) != 1 {
		t.Fatalf("own org: %v %v", h, err)
	}
	foreign.VecVersion = 99 // looks stale: a refresh in the other org must not empty it
	for i := 0; i < 3; i++ {
		if h, err := e.Search(ctx, []index.Collection{foreign}, v, 5); err != nil || len(h) != 0 {
			t.Fatalf("another org, loaded: %v %v", h, err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let a background refresh, if any, run
	if h, err := e.Search(ctx, []index.Collection{own}, v, 5); err != nil || len(h) != 1 {
		t.Fatalf("own org after the other's searches: %v %v", h, err)
	}
}
