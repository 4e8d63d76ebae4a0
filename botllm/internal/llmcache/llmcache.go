// Package llmcache remembers finished answers so a repeated question costs
// no model call. Exact entries are keyed by a hash of everything that shapes
// the answer (org, endpoint, model, messages, tools, parameters). Semantic
// entries match the last user message by embedding similarity among recent
// questions of the same bot asked in an otherwise identical context.
//
// Entries live in the platform cache (Redis when REDIS_URL is set, else in
// process). Only plain text answers are stored: never tool calls, never
// errors.
package llmcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/botserver-go/botserver-go/botllm/internal/provider"
	"github.com/botserver-go/botserver-go/botstate/cache"
)

// Entry is a cached answer.
type Entry struct {
	Content string
	Finish  provider.Finish
	Model   string
	Usage   provider.Usage // what the original request used
}

// Cache stores entries in c.
type Cache struct {
	c cache.Cache
	// MaxSemantic bounds the recent questions kept per semantic scope.
	MaxSemantic int
}

// New returns a cache over c.
func New(c cache.Cache) *Cache { return &Cache{c: c, MaxSemantic: 64} }

// Cacheable reports whether a result may be stored.
func Cacheable(r *provider.Result) bool {
	return r != nil && len(r.ToolCalls) == 0 && r.Finish == provider.FinishStop && r.Content != ""
}

// Scope names what an answer depends on besides the request itself.
type Scope struct {
	Org, Bot, URL, Kind string
}

func hash(parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, p := range parts {
		_ = enc.Encode(p) // plain structs: cannot fail
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ExactKey is the cache key of a request in a scope. The bot is not part
// of it: the same org asking the same model the same thing gets the same
// answer.
func ExactKey(s Scope, req *provider.Request) string {
	return "llm:exact:" + hash("v1", s.Org, s.Kind, s.URL, req)
}

// Get returns the exact entry under key.
func (c *Cache) Get(ctx context.Context, key string) (*Entry, bool, error) {
	raw, ok, err := c.c.Get(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		_ = c.c.Delete(ctx, key) // unreadable (older format): forget it
		return nil, false, nil
	}
	return &e, true, nil
}

// Put stores an exact entry for ttl.
func (c *Cache) Put(ctx context.Context, key string, e *Entry, ttl time.Duration) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return c.c.Set(ctx, key, raw, ttl)
}

// SemanticQuestion splits a request into the question matched by meaning
// (the last message, when it is the user's) and the key of everything else,
// which must match exactly. ok is false when the request has no such
// question.
func SemanticQuestion(s Scope, embedModel string, req *provider.Request) (question, key string, ok bool) {
	n := len(req.Messages)
	if n == 0 || req.Messages[n-1].Role != provider.RoleUser || req.Messages[n-1].Content == "" {
		return "", "", false
	}
	rest := *req
	rest.Messages = req.Messages[:n-1]
	return req.Messages[n-1].Content, "llm:sem:" + hash("v1", s.Org, s.Bot, s.Kind, s.URL, embedModel, &rest), true
}

type semEntry struct {
	Vector  []float32
	Expires int64 // unix seconds
	Entry   Entry
}

func (c *Cache) loadSem(ctx context.Context, key string) ([]semEntry, error) {
	raw, ok, err := c.c.Get(ctx, key)
	if err != nil || !ok {
		return nil, err
	}
	var list []semEntry
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&list); err != nil {
		return nil, nil // unreadable: start afresh
	}
	return list, nil
}

// Similar returns the best live entry under key whose question vector has a
// cosine similarity ≥ threshold with vec (vectors are L2-normalised).
func (c *Cache) Similar(ctx context.Context, key string, vec []float32, threshold float64) (*Entry, float64, bool, error) {
	list, err := c.loadSem(ctx, key)
	if err != nil {
		return nil, 0, false, err
	}
	now := time.Now().Unix()
	best, bestSim := -1, -2.0
	for i, e := range list {
		if e.Expires < now || len(e.Vector) != len(vec) {
			continue
		}
		var dot float64
		for j := range vec {
			dot += float64(vec[j]) * float64(e.Vector[j])
		}
		if dot > bestSim {
			best, bestSim = i, dot
		}
	}
	if best < 0 || bestSim < threshold {
		return nil, bestSim, false, nil
	}
	e := list[best].Entry
	return &e, bestSim, true, nil
}

// Remember adds a question vector and its answer under key, keeping the
// MaxSemantic most recent live entries. Concurrent writers of one key may
// lose each other's entry: a miss later, never a wrong answer.
func (c *Cache) Remember(ctx context.Context, key string, vec []float32, e *Entry, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("semantic cache entries need a TTL")
	}
	list, err := c.loadSem(ctx, key)
	if err != nil {
		return err
	}
	now := time.Now()
	kept := list[:0]
	for _, x := range list {
		if x.Expires >= now.Unix() {
			kept = append(kept, x)
		}
	}
	kept = append(kept, semEntry{Vector: vec, Expires: now.Add(ttl).Unix(), Entry: *e})
	if max := c.MaxSemantic; max > 0 && len(kept) > max {
		kept = kept[len(kept)-max:]
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(kept); err != nil {
		return err
	}
	return c.c.Set(ctx, key, buf.Bytes(), ttl)
}
