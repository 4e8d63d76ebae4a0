package index_test

import (
	"testing"

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
