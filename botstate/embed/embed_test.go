package embed_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botstate/embed"
)

func TestLocalIsDeterministicNormalisedAndLexical(t *testing.T) {
	ctx := context.Background()
	e := embed.NewLocal(0)
	if e.Dimensions() != embed.DefaultLocalDimensions || e.Model() != "local-hash-v1/384" {
		t.Fatalf("dims %d model %q", e.Dimensions(), e.Model())
	}
	texts := []string{
		"How do I reset my password?",
		"To reset a forgotten password, open Settings and choose Reset password.",
		"Our office in Lisbon opens at nine in the morning.",
		"",
		"How do I reset my password?",
	}
	v, err := e.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != len(texts) {
		t.Fatalf("got %d vectors", len(v))
	}
	for i, x := range v {
		if len(x) != 384 {
			t.Fatalf("vector %d has %d dims", i, len(x))
		}
		n := math.Sqrt(float64(embed.Dot(x, x)))
		if i == 3 {
			if n != 0 {
				t.Fatalf("empty text: norm %v, want 0", n)
			}
			continue
		}
		if math.Abs(n-1) > 1e-5 {
			t.Fatalf("vector %d norm %v", i, n)
		}
	}
	if embed.Dot(v[0], v[4]) < 0.9999 {
		t.Fatal("same text, different vectors")
	}
	related, unrelated := embed.Dot(v[0], v[1]), embed.Dot(v[0], v[2])
	if related < 0.3 || related <= unrelated+0.2 {
		t.Fatalf("similarity: related %.3f, unrelated %.3f", related, unrelated)
	}
	// Inflections meet through the stem and character n-grams.
	w, _ := e.Embed(ctx, []string{"documents", "document", "elephant"})
	if embed.Dot(w[0], w[1]) <= embed.Dot(w[0], w[2])+0.5 {
		t.Fatalf("documents~document %.3f, documents~elephant %.3f", embed.Dot(w[0], w[1]), embed.Dot(w[0], w[2]))
	}
	// Another dimension count changes the model name.
	if embed.NewLocal(128).Model() == e.Model() {
		t.Fatal("model name ignores the dimensions")
	}
}

func TestLocalStopsOnCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := embed.NewLocal(0).Embed(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

// openAI is a server speaking the OpenAI /v1/embeddings wire format: each
// text becomes a vector that encodes its length, answered in reverse order
// to check that the client sorts by index.
type openAI struct {
	calls    atomic.Int32
	failures atomic.Int32 // answer this many requests with failStatus first
	status   int
	batches  []int
	auth     string
	body     embeddingsReq
}

type embeddingsReq struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions"`
}

func (o *openAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if o.failures.Load() > 0 {
		o.failures.Add(-1)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(o.status)
		_, _ = w.Write([]byte(`{"error":{"message":"slow down","type":"rate_limit"}}`))
		return
	}
	o.auth = r.Header.Get("Authorization")
	var req embeddingsReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	for _, in := range req.Input {
		if in == "" {
			http.Error(w, `{"error":{"message":"input must not be empty"}}`, http.StatusBadRequest)
			return
		}
	}
	o.body = req
	o.batches = append(o.batches, len(req.Input))
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	var data []item
	for i := len(req.Input) - 1; i >= 0; i-- {
		data = append(data, item{"embedding", i, []float32{float32(len(req.Input[i])), 0, 0, 1}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
}

func TestHTTPBatchesSortsNormalisesAndLearnsDimensions(t *testing.T) {
	srv := &openAI{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	e, err := embed.New(embed.Settings{URL: ts.URL + "/v1/", Key: "sk-test", Model: "nomic", BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dimensions() != 0 {
		t.Fatalf("dims before first call: %d", e.Dimensions())
	}
	v, err := e.Embed(context.Background(), []string{"a", "bbb", "", "cc", "dddd"})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.batches; len(got) != 2 || got[0] != 2 || got[1] != 2 {
		t.Fatalf("batches %v, want [2 2] (empty text not sent)", got)
	}
	if srv.auth != "Bearer sk-test" || srv.body.Model != "nomic" || srv.body.EncodingFormat != "float" || srv.body.Dimensions != 0 {
		t.Fatalf("request: auth %q body %+v", srv.auth, srv.body)
	}
	if e.Dimensions() != 4 || e.Model() != "remote:nomic/4" {
		t.Fatalf("dims %d model %q", e.Dimensions(), e.Model())
	}
	for i, want := range []float32{1, 3, 0, 2, 4} {
		if len(v[i]) != 4 {
			t.Fatalf("vector %d: %v", i, v[i])
		}
		n := float32(math.Sqrt(float64(want*want + 1)))
		if want == 0 {
			n = 0
			if v[i][3] != 0 {
				t.Fatalf("empty text got %v", v[i])
			}
			continue
		}
		if math.Abs(float64(v[i][0]-want/n)) > 1e-5 {
			t.Fatalf("vector %d = %v, want first component %v (order or normalisation wrong)", i, v[i], want/n)
		}
	}
}

func TestHTTPRetriesRateLimitsAndServerErrorsButNotBadRequests(t *testing.T) {
	for _, status := range []int{429, 503} {
		srv := &openAI{status: status}
		srv.failures.Store(2)
		ts := httptest.NewServer(srv)
		e, _ := embed.NewHTTP(embed.HTTPOptions{URL: ts.URL, Backoff: time.Millisecond, Dimensions: 4})
		if _, err := e.Embed(context.Background(), []string{"x"}); err != nil {
			t.Fatalf("%d: %v", status, err)
		}
		if srv.calls.Load() != 3 {
			t.Fatalf("%d: %d calls, want 3", status, srv.calls.Load())
		}
		// More failures than retries: the last error is reported.
		srv.failures.Store(10)
		srv.calls.Store(0)
		e, _ = embed.NewHTTP(embed.HTTPOptions{URL: ts.URL, Backoff: time.Millisecond, Retries: 2})
		_, err := e.Embed(context.Background(), []string{"x"})
		var se *embed.StatusError
		if !errors.As(err, &se) || se.Status != status || se.Message != "slow down" || srv.calls.Load() != 3 {
			t.Fatalf("%d: err %v after %d calls", status, err, srv.calls.Load())
		}
		ts.Close()
	}
	srv := &openAI{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	e, _ := embed.NewHTTP(embed.HTTPOptions{URL: ts.URL + "/wrong", Backoff: time.Millisecond})
	_, err := e.Embed(context.Background(), []string{"x"})
	if err == nil || !strings.Contains(err.Error(), "404") || srv.calls.Load() != 1 {
		t.Fatalf("404: err %v after %d calls (must not retry)", err, srv.calls.Load())
	}
}

func TestHTTPChecksDimensionsAndTimesOut(t *testing.T) {
	srv := &openAI{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	e, _ := embed.NewHTTP(embed.HTTPOptions{URL: ts.URL, Dimensions: 8})
	_, err := e.Embed(context.Background(), []string{"x"})
	if err == nil || !strings.Contains(err.Error(), "expected 8") || srv.body.Dimensions != 8 {
		t.Fatalf("err %v, sent dimensions %d", err, srv.body.Dimensions)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	defer close(release)
	e, _ = embed.NewHTTP(embed.HTTPOptions{URL: slow.URL, Timeout: 50 * time.Millisecond, Retries: 1, Backoff: time.Millisecond})
	start := time.Now()
	if _, err := e.Embed(context.Background(), []string{"x"}); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestNewFromSettings(t *testing.T) {
	e, err := embed.New(embed.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.(*embed.Local); !ok || e.Dimensions() != 384 {
		t.Fatalf("no URL: %T %d", e, e.Dimensions())
	}
	e, _ = embed.New(embed.Settings{Dimensions: 256})
	if e.Dimensions() != 256 {
		t.Fatalf("local dims %d", e.Dimensions())
	}
	for _, bad := range []embed.Settings{{URL: "ftp://x"}, {URL: "localhost:8080"}, {Dimensions: -1}, {Dimensions: 100000}, {BatchSize: -3}} {
		if _, err := embed.New(bad); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
	d, err := embed.Probe(context.Background(), embed.NewLocal(64))
	if err != nil || d != 64 {
		t.Fatalf("probe %d %v", d, err)
	}
}

func BenchmarkLocalEmbed(b *testing.B) {
	para := strings.Repeat("Knowledge bases answer questions from documents; the local embedder hashes words and character n-grams. ", 8)
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = para
	}
	e := embed.NewLocal(0)
	b.SetBytes(int64(len(para) * len(texts)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Embed(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
}
