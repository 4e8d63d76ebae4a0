package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// HTTPOptions configure an OpenAI-compatible embeddings client.
type HTTPOptions struct {
	URL        string        // base URL (".../v1") or the full ".../embeddings" URL
	Key        string        // bearer key; empty sends none
	Model      string        // model name sent with each request
	Dimensions int           // sent as "dimensions" when > 0, and checked on answers
	BatchSize  int           // texts per request; 64 when 0
	Timeout    time.Duration // per request (each retry gets its own); 30s when 0
	Retries    int           // extra attempts on 429, 5xx and network errors; 4 when 0, none when < 0
	Backoff    time.Duration // first retry delay, doubled each time (with jitter); 250ms when 0
	Client     *http.Client  // http.DefaultClient's transport when nil
}

// HTTP embeds with an OpenAI-compatible POST /v1/embeddings API (OpenAI,
// llama.cpp llama-server, vLLM, Ollama, ...). It is safe for concurrent use.
type HTTP struct {
	opt      HTTPOptions
	endpoint string
	dim      atomic.Int64
}

// NewHTTP checks opt and returns a client; it does not contact the server.
func NewHTTP(opt HTTPOptions) (*HTTP, error) {
	s := Settings{URL: opt.URL, Dimensions: opt.Dimensions, BatchSize: opt.BatchSize, Timeout: opt.Timeout}
	if opt.URL == "" {
		return nil, errors.New("embeddings: URL is required")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if opt.BatchSize == 0 {
		opt.BatchSize = 64
	}
	if opt.Timeout == 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Retries == 0 {
		opt.Retries = 4
	}
	if opt.Backoff == 0 {
		opt.Backoff = 250 * time.Millisecond
	}
	if opt.Client == nil {
		opt.Client = &http.Client{}
	}
	h := &HTTP{opt: opt, endpoint: endpoint(opt.URL)}
	h.dim.Store(int64(opt.Dimensions))
	return h, nil
}

func endpoint(base string) string {
	base = strings.TrimRight(base, "/")
	switch {
	case strings.HasSuffix(base, "/embeddings"):
		return base
	case strings.HasSuffix(base, "/v1"):
		return base + "/embeddings"
	}
	return base + "/v1/embeddings"
}

// Dimensions implements Embedder: the configured size, or the one learned
// from the first answer (0 before it).
func (h *HTTP) Dimensions() int { return int(h.dim.Load()) }

// Model implements Embedder.
func (h *HTTP) Model() string {
	name := h.opt.Model
	if name == "" {
		name = "default"
	}
	return "remote:" + name + "/" + strconv.Itoa(h.Dimensions())
}

// Embed implements Embedder: it sends the texts in batches and normalises
// the answers. Empty texts get zero vectors without a request (the API
// rejects empty inputs).
func (h *HTTP) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	var idx []int
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		vecs, err := h.request(ctx, batch)
		if err != nil {
			return err
		}
		for j, v := range vecs {
			out[idx[j]] = v
		}
		idx, batch = idx[:0], batch[:0]
		return nil
	}
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			continue
		}
		idx, batch = append(idx, i), append(batch, t)
		if len(batch) == h.opt.BatchSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	dim := h.Dimensions()
	for i := range out {
		if out[i] == nil {
			if dim == 0 {
				if _, err := Probe(ctx, h); err != nil {
					return nil, err
				}
				dim = h.Dimensions()
			}
			out[i] = make([]float32, dim)
		}
	}
	return out, nil
}

type embeddingsRequest struct {
	Model          string   `json:"model,omitempty"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

type embeddingsResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// StatusError is a non-2xx answer from the embeddings server.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("embeddings server answered %d: %s", e.Status, e.Message)
}

// request sends one batch, retrying 429, 5xx and transport failures with
// exponential back-off (honouring Retry-After up to 30s).
func (h *HTTP) request(ctx context.Context, batch []string) ([][]float32, error) {
	body, err := json.Marshal(embeddingsRequest{Model: h.opt.Model, Input: batch, EncodingFormat: "float", Dimensions: h.opt.Dimensions})
	if err != nil {
		return nil, err
	}
	delay := h.opt.Backoff
	for attempt := 0; ; attempt++ {
		vecs, retryAfter, err := h.once(ctx, body, len(batch))
		if err == nil {
			return vecs, nil
		}
		if retryAfter < 0 || attempt >= h.opt.Retries || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("embeddings: %w", ctx.Err())
			}
			return nil, fmt.Errorf("embeddings: %w", err)
		}
		wait := delay/2 + rand.N(delay/2+1)
		if retryAfter > wait {
			wait = retryAfter
		}
		delay *= 2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("embeddings: %w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// once makes one attempt. retryAfter < 0 means the error is final.
func (h *HTTP) once(ctx context.Context, body []byte, n int) (vecs [][]float32, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, -1, err
	}
	req.Header.Set("Content-Type", "application/json")
	if h.opt.Key != "" {
		req.Header.Set("Authorization", "Bearer "+h.opt.Key)
	}
	resp, err := h.opt.Client.Do(req)
	if err != nil {
		return nil, 0, err // network errors and timeouts are worth another try
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Status: resp.StatusCode, Message: errorMessage(raw)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return nil, parseRetryAfter(resp.Header.Get("Retry-After")), se
		}
		return nil, -1, se
	}
	var r embeddingsResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, -1, fmt.Errorf("unreadable answer: %w", err)
	}
	if len(r.Data) != n {
		return nil, -1, fmt.Errorf("asked for %d embeddings, got %d", n, len(r.Data))
	}
	vecs = make([][]float32, n)
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= n || vecs[d.Index] != nil {
			return nil, -1, fmt.Errorf("answer has a bad or repeated index %d", d.Index)
		}
		if len(d.Embedding) == 0 || len(d.Embedding) > MaxDimensions {
			return nil, -1, fmt.Errorf("answer has a vector of %d dimensions", len(d.Embedding))
		}
		if want := h.dim.Load(); want == 0 {
			h.dim.CompareAndSwap(0, int64(len(d.Embedding)))
		}
		if want := int(h.dim.Load()); len(d.Embedding) != want {
			return nil, -1, fmt.Errorf("answer has a vector of %d dimensions, expected %d", len(d.Embedding), want)
		}
		Normalize(d.Embedding)
		vecs[d.Index] = d.Embedding
	}
	return vecs, 0, nil
}

// errorMessage extracts the OpenAI-style {"error":{"message"}} or a short
// prefix of the body.
func errorMessage(raw []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			return obj.Message
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = "(empty body)"
	}
	return msg
}

func parseRetryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, 30*time.Second)
	}
	return 0
}
