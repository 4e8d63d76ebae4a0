// Package eval measures retrieval quality on a small evaluation set of our
// own: a staff handbook (testdata/docs) and questions whose answers are
// known passages (testdata/questions.json). Run it with `make kb-eval`.
package eval

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	embedder "github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/ingest"
	"github.com/botserver-go/botserver-go/botvectordb/retrieve"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

//go:embed testdata
var data embed.FS

// Question is one evaluation question: a top-k passage of Doc containing
// Expect answers it.
type Question struct {
	Q      string `json:"q"`
	Doc    string `json:"doc"`
	Expect string `json:"expect"`
}

// Bot and KB the set is loaded into.
const (
	Bot = "handbook"
	KB  = "staff"
)

// Questions returns the question set.
func Questions() ([]Question, error) {
	b, err := data.ReadFile("testdata/questions.json")
	if err != nil {
		return nil, err
	}
	var qs []Question
	return qs, json.Unmarshal(b, &qs)
}

// MapExtractor serves documents from memory, keyed by package path.
type MapExtractor map[string]string

// ExtractText implements ingest.Extractor.
func (m MapExtractor) ExtractText(_ context.Context, _, _, p string) (ingest.Extracted, error) {
	t, ok := m[p]
	if !ok {
		return ingest.Extracted{}, fmt.Errorf("no document %s", p)
	}
	return ingest.Extracted{Text: t}, nil
}

// Queue records FileChanged events for docs (path -> text) as the drive
// consumer would, without NATS.
func Queue(ctx context.Context, pool *pgxpool.Pool, in *ingest.Ingester, org, bot string, docs map[string]string) error {
	for p, text := range docs {
		ev := &drivev1.FileChanged{OrgId: org, Bot: bot, Path: p, Hash: fmt.Sprintf("%x", embedderHash(text)),
			Size: int64(len(text)), ModifiedAt: timestamppb.Now()}
		b, err := proto.Marshal(ev)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return in.Handle(ctx, tx, events.Message{Subject: ingest.SubjectFileChanged, Data: b})
		})
		if err != nil {
			return err
		}
	}
	in.Wake()
	return nil
}

func embedderHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// WaitSettled waits until no document of the org is queued or in progress.
func WaitSettled(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var pending int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM kb.documents WHERE status NOT IN ('indexed', 'failed')`).Scan(&pending); err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d documents still pending after %s", pending, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Result is recall@k (and recall@1, which separates the methods more on a
// set this small) per mode.
type Result struct {
	K                    int
	Vector, Text, Hybrid float64 // recall@k
	At1                  map[retrieve.Mode]float64
	Misses               map[retrieve.Mode][]string
}

// Run loads the handbook into a fresh org of pool (schema kb migrated) and
// asks every question in each mode.
func Run(ctx context.Context, pool *pgxpool.Pool, e embedder.Embedder, k int) (Result, error) {
	docs := map[string]string{}
	err := fs.WalkDir(data, "testdata/docs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := data.ReadFile(p)
		docs[Bot+".gbkb/"+KB+"/"+path.Base(p)] = string(b)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	idx := index.NewEmbedded(pool, index.EmbeddedOptions{})
	in, err := ingest.New(ingest.Options{Pool: pool, Index: idx, Embedder: e, Extractor: MapExtractor(docs),
		PollInterval: 10 * time.Millisecond})
	if err != nil {
		return Result{}, err
	}
	org := uuid.NewString()
	if err := Queue(ctx, pool, in, org, Bot, docs); err != nil {
		return Result{}, err
	}
	if err := in.Start(ctx); err != nil {
		return Result{}, err
	}
	defer in.Stop(context.Background())
	if err := WaitSettled(ctx, pool, time.Minute); err != nil {
		return Result{}, err
	}
	qs, err := Questions()
	if err != nil {
		return Result{}, err
	}
	s := &retrieve.Searcher{Pool: pool, Index: idx, Embedder: e}
	res := Result{K: k, Misses: map[retrieve.Mode][]string{}, At1: map[retrieve.Mode]float64{}}
	for _, mode := range []retrieve.Mode{retrieve.Vector, retrieve.Text, retrieve.Hybrid} {
		found, first := 0, 0
		for _, q := range qs {
			ps, err := s.Search(ctx, retrieve.Request{OrgID: org, Bot: Bot, Query: q.Q, TopK: k, Mode: mode})
			if err != nil {
				return res, err
			}
			hit := false
			for i, p := range ps {
				ok := path.Base(p.Path) == q.Doc && strings.Contains(p.Text, q.Expect)
				hit = hit || ok
				if ok && i == 0 {
					first++
				}
			}
			if hit {
				found++
			} else {
				res.Misses[mode] = append(res.Misses[mode], q.Q)
			}
		}
		r := float64(found) / float64(len(qs))
		res.At1[mode] = float64(first) / float64(len(qs))
		switch mode {
		case retrieve.Vector:
			res.Vector = r
		case retrieve.Text:
			res.Text = r
		case retrieve.Hybrid:
			res.Hybrid = r
		}
	}
	return res, nil
}
