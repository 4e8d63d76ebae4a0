package qdrant_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/index/indextest"
	"github.com/botserver-go/botserver-go/botvectordb/index/qdrant"
	"github.com/botserver-go/botserver-go/botvectordb/index/qdrant/qdranttest"
)

func newBackend(t *testing.T, url, key string, skip bool) *qdrant.Backend {
	t.Helper()
	b, err := qdrant.New(qdrant.Options{URL: url, APIKey: key, SkipCompatibilityCheck: skip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// The contract suite against the in-process server speaking Qdrant's API.
func TestQdrantContract(t *testing.T) {
	indextest.Run(t, func(t *testing.T) indextest.Harness {
		_, url := qdranttest.Start(t, "secret")
		return indextest.Harness{
			Backend: newBackend(t, url, "secret", true),
			Replica: func() index.Backend { return newBackend(t, url, "secret", true) },
			Pool:    indextest.NewPool(t),
		}
	})
}

// The same suite against a real Qdrant when QDRANT_URL is set.
func TestRealQdrantContract(t *testing.T) {
	url := os.Getenv("QDRANT_URL")
	if url == "" {
		t.Skip("QDRANT_URL is not set; the contract ran against the in-process server only")
	}
	indextest.Run(t, func(t *testing.T) indextest.Harness {
		return indextest.Harness{
			Backend: newBackend(t, url, os.Getenv("QDRANT_API_KEY"), false),
			Replica: func() index.Backend { return newBackend(t, url, os.Getenv("QDRANT_API_KEY"), false) },
			Pool:    indextest.NewPool(t),
		}
	})
}

func TestCollectionPerKnowledgeBaseWithPayloadIndexes(t *testing.T) {
	srv, url := qdranttest.Start(t, "")
	b := newBackend(t, url, "", true)
	c := index.Collection{ID: uuid.NewString(), OrgID: uuid.NewString(), Bot: "bot", Name: "docs"}
	err := b.Upsert(context.Background(), c, []index.Point{{ChunkID: uuid.NewString(), DocumentID: uuid.NewString(), Vector: []float32{1, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	name := qdrant.CollectionName(c)
	if got := srv.Names(); !slices.Equal(got, []string{name}) {
		t.Fatalf("collections %v", got)
	}
	if got := srv.Indexes(name); !slices.Equal(got, []string{"document_id", "org_id"}) {
		t.Fatalf("payload indexes %v", got)
	}
	// A wrong key is refused by the server.
	bad := newBackend(t, url, "", true)
	srv.SetAPIKey("k")
	if _, err := bad.Search(context.Background(), []index.Collection{c}, []float32{1, 0}, 1); err == nil {
		t.Fatal("search without the API key succeeded")
	}
}
