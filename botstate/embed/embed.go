// Package embed turns text into vectors for retrieval and semantic caching.
//
// Every Embedder returns L2-normalised vectors, so cosine similarity is a dot
// product for every consumer (botvectordb's index, botllm's semantic cache).
// The default is Local: a deterministic hashing embedder that needs no model
// weights and no network. Set EMBEDDING_URL to use an OpenAI-compatible
// /v1/embeddings server instead (see New).
//
// Vectors from different models are not comparable: store Model() next to
// every vector and re-embed when it changes.
package embed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Embedder turns texts into vectors, one per text, in order.
type Embedder interface {
	// Embed returns one L2-normalised vector per text. An empty slice gives
	// an empty result; an empty text gives a zero vector.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dimensions is the length of every vector; 0 means not known yet (a
	// remote model without EMBEDDING_DIMENSIONS before its first answer;
	// use Probe to find out).
	Dimensions() int
	// Model names the model and its shape, e.g. "local-hash-v1/384"; vectors
	// are comparable only between equal names.
	Model() string
}

// Settings configure the platform-wide embedder. Services that embed text
// include this struct in their own settings (botstate/config reads the env
// tags). Per-bot overrides (embedding-url, embedding-model,
// embedding-dimensions in a bot's config.csv) are not handled here yet.
type Settings struct {
	URL        string        `env:"EMBEDDING_URL" desc:"OpenAI-compatible embeddings API base URL (e.g. http://llama:8080/v1; a full .../embeddings URL also works). Empty: the deterministic local embedder (no weights, no network)."`
	Key        string        `env:"EMBEDDING_KEY" desc:"Bearer key for EMBEDDING_URL (empty: none)."`
	Model      string        `env:"EMBEDDING_MODEL" desc:"Model name sent to EMBEDDING_URL; ignored by the local embedder."`
	Dimensions int           `env:"EMBEDDING_DIMENSIONS" desc:"Vector size. Local embedder: 384 when 0. Remote: sent as 'dimensions' when set, else learned from the first answer."`
	BatchSize  int           `env:"EMBEDDING_BATCH_SIZE" envDefault:"64" desc:"Texts per request to EMBEDDING_URL."`
	Timeout    time.Duration `env:"EMBEDDING_TIMEOUT" envDefault:"30s" desc:"Deadline of one request to EMBEDDING_URL (each retry gets its own)."`
}

// Validate reports settings that cannot work.
func (s *Settings) Validate() error {
	var errs []error
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("EMBEDDING_URL must be an http(s) URL, got %q", redact(s.URL)))
		}
	}
	if s.Dimensions < 0 || s.Dimensions > MaxDimensions {
		errs = append(errs, fmt.Errorf("EMBEDDING_DIMENSIONS must be between 0 and %d, got %d", MaxDimensions, s.Dimensions))
	}
	if s.BatchSize < 0 || s.BatchSize > 2048 {
		errs = append(errs, fmt.Errorf("EMBEDDING_BATCH_SIZE must be between 1 and 2048, got %d", s.BatchSize))
	}
	if s.Timeout < 0 {
		errs = append(errs, errors.New("EMBEDDING_TIMEOUT must not be negative"))
	}
	return errors.Join(errs...)
}

// MaxDimensions bounds vector sizes we accept from settings and servers.
const MaxDimensions = 8192

// New returns the embedder the settings describe: the HTTP client when URL
// is set, the local embedder otherwise.
func New(s Settings) (Embedder, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.URL == "" {
		return NewLocal(s.Dimensions), nil
	}
	return NewHTTP(HTTPOptions{URL: s.URL, Key: s.Key, Model: s.Model, Dimensions: s.Dimensions,
		BatchSize: s.BatchSize, Timeout: s.Timeout})
}

// Probe returns e's dimensions, embedding one short text when they are not
// known yet.
func Probe(ctx context.Context, e Embedder) (int, error) {
	if d := e.Dimensions(); d > 0 {
		return d, nil
	}
	v, err := e.Embed(ctx, []string{"dimension probe"})
	if err != nil {
		return 0, fmt.Errorf("embedding probe: %w", err)
	}
	if len(v) != 1 || len(v[0]) == 0 {
		return 0, errors.New("embedding probe: the server returned no vector")
	}
	return len(v[0]), nil
}

// Normalize scales v to unit length in place; a zero vector stays zero.
func Normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}

// Dot is the dot product of two equal-length vectors (cosine similarity for
// normalised ones).
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		return 0
	}
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable>"
	}
	return strings.TrimSpace(u.Redacted())
}
