package botvectordb

import (
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/index/qdrant"
)

func newQdrant(s *Settings) (index.Backend, error) {
	return qdrant.New(qdrant.Options{URL: s.QdrantURL, APIKey: s.QdrantAPIKey})
}
