package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botstate/cache"
	"github.com/botserver-go/botserver-go/botstate/logx"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// syncBuffer collects log output written by server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls the log: the access line is written after the response.
func (s *syncBuffer) waitFor(t *testing.T, sub string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(s.String(), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q:\n%s", sub, s.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s.String()
}

type env struct {
	srv  *httptest.Server
	gw   *gateway.Gateway
	logs *syncBuffer
}

// start serves a gateway built from o on a real listener; mount adds routes.
func start(t *testing.T, o gateway.Options, mount func(*gateway.Gateway)) *env {
	t.Helper()
	logs := &syncBuffer{}
	if o.Log == nil {
		o.Log = logx.New(logs, "json", "debug")
	}
	gw, err := gateway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if mount != nil {
		mount(gw)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return &env{srv: srv, gw: gw, logs: logs}
}

type resp struct {
	*http.Response
	body string
}

func (e *env) do(t *testing.T, method, path string, body io.Reader, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return doReq(t, e.srv.Client(), req)
}

func doReq(t *testing.T, c *http.Client, req *http.Request) resp {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res, string(b)}
}

// expectError checks the JSON error format, status and code.
func expectError(t *testing.T, r resp, status int, code string) gateway.ErrorBody {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
	var eb gateway.ErrorBody
	if err := json.Unmarshal([]byte(r.body), &eb); err != nil || eb.Error.Code != code || eb.Error.Message == "" {
		t.Fatalf("body %s: want {\"error\":{\"code\":%q,\"message\":...}} (%v)", r.body, code, err)
	}
	return eb
}

func TestRequestID(t *testing.T) {
	e := start(t, gateway.Options{}, func(g *gateway.Gateway) {
		g.HandleFunc("GET /api/id", func(w http.ResponseWriter, r *http.Request) {
			// The id in the context is the one echoed, and logs carry it.
			_, _ = io.WriteString(w, logx.RequestID(r.Context())+"|"+r.Header.Get("X-Request-Id"))
		})
	})

	r := e.do(t, "GET", "/api/id", nil, "X-Request-Id", "client-id_1.2")
	if got := r.Header.Get("X-Request-Id"); got != "client-id_1.2" || r.body != "client-id_1.2|client-id_1.2" {
		t.Fatalf("sane id not kept: header %q, handler saw %q", got, r.body)
	}
	e.logs.waitFor(t, `"request_id":"client-id_1.2"`)

	r = e.do(t, "GET", "/api/id", nil)
	gen := r.Header.Get("X-Request-Id")
	if len(gen) != 24 || r.body != gen+"|"+gen {
		t.Fatalf("generated id %q (handler saw %q), want 24 hex chars seen by the handler", gen, r.body)
	}
	r2 := e.do(t, "GET", "/api/id", nil)
	if r2.Header.Get("X-Request-Id") == gen {
		t.Fatal("two requests got the same generated id")
	}

	for _, bad := range []string{strings.Repeat("a", 65), "has space", "<script>", "a;b=c", "ключ", `x"y`, "a/b"} {
		r := e.do(t, "GET", "/api/id", nil, "X-Request-Id", bad)
		got := r.Header.Get("X-Request-Id")
		if got == bad || len(got) != 24 || strings.Contains(r.body, bad) {
			t.Errorf("hostile id %q: response id %q, handler saw %q; want a fresh id", bad, got, r.body)
		}
	}
	// A 64-char id is still fine.
	ok64 := strings.Repeat("Z", 64)
	if got := e.do(t, "GET", "/api/id", nil, "X-Request-Id", ok64).Header.Get("X-Request-Id"); got != ok64 {
		t.Errorf("64-char id replaced by %q", got)
	}
}

func TestPanicRecovery(t *testing.T) {
	e := start(t, gateway.Options{}, func(g *gateway.Gateway) {
		g.HandleFunc("GET /api/boom", func(http.ResponseWriter, *http.Request) {
			panic("db password is hunter2")
		})
		g.HandleFunc("GET /api/late-boom", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("after the header")
		})
	})
	r := e.do(t, "GET", "/api/boom", nil, "X-Request-Id", "boom-1")
	expectError(t, r, http.StatusInternalServerError, gateway.CodeInternal)
	if strings.Contains(r.body, "hunter2") {
		t.Fatalf("panic text leaked to the client: %s", r.body)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("X-Request-Id") != "boom-1" {
		t.Fatalf("500 lost the chain's headers: %v", r.Header)
	}
	logs := e.logs.waitFor(t, `"status":500`)
	for _, want := range []string{"db password is hunter2", "goroutine", `"request_id":"boom-1"`, "panic in HTTP handler"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}

	// Once the response has started a 500 is impossible: the connection is
	// cut so the client cannot mistake the truncated body for success.
	res, err := e.srv.Client().Get(e.srv.URL + "/api/late-boom")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatal("late panic: the client read a complete response")
	}
	// The server survives.
	if r := e.do(t, "GET", "/healthz", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after panics /healthz = %d", r.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	e := start(t, gateway.Options{CORSOrigins: []string{"https://App.example.com/", "http://localhost:5173"}}, func(g *gateway.Gateway) {
		g.HandleFunc("POST /api/v1/echo", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	})
	preflight := func(origin string) resp {
		return e.do(t, "OPTIONS", "/api/v1/echo", nil, "Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type, authorization")
	}

	r := preflight(app)
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("allowed preflight: status %d, want 204", r.StatusCode)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":      app,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "3600",
		"Vary":                             "Origin",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("allowed preflight %s = %q, want %q", k, got, want)
		}
	}
	for _, m := range []string{"POST", "DELETE"} {
		if !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), m) {
			t.Errorf("Allow-Methods %q lacks %s", r.Header.Get("Access-Control-Allow-Methods"), m)
		}
	}
	for _, h := range []string{"Content-Type", "Authorization"} {
		if !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), h) {
			t.Errorf("Allow-Headers %q lacks %s", r.Header.Get("Access-Control-Allow-Headers"), h)
		}
	}

	r = preflight("https://evil.example.net")
	expectError(t, r, http.StatusForbidden, gateway.CodeForbidden)
	for k := range r.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("denied preflight carries %s", k)
		}
	}

	r = e.do(t, "POST", "/api/v1/echo", strings.NewReader("{}"), "Origin", app)
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != app ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Fatalf("allowed request: %d, headers %v", r.StatusCode, r.Header)
	}
	r = e.do(t, "POST", "/api/v1/echo", strings.NewReader("{}"), "Origin", "https://evil.example.net")
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Vary") != "Origin" {
		t.Fatalf("disallowed origin: %d, ACAO %q, Vary %q; want the response without CORS headers, Vary: Origin",
			r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"), r.Header.Get("Vary"))
	}

	// "*": any origin, never with credentials.
	star := start(t, gateway.Options{CORSOrigins: []string{"*"}}, nil)
	r = star.do(t, "OPTIONS", "/api/x", nil, "Origin", "https://any.example", "Access-Control-Request-Method", "GET")
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("* preflight: %d %v", r.StatusCode, r.Header)
	}
	// No origins configured: no CORS at all.
	none := start(t, gateway.Options{}, nil)
	r = none.do(t, "GET", "/", nil, "Origin", app)
	if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Vary") != "" {
		t.Fatalf("CORS headers without CORSOrigins: %v", r.Header)
	}

	for _, bad := range []string{"app.example.com", "https://app.example.com/path", "ftp://x"} {
		if _, err := gateway.New(gateway.Options{CORSOrigins: []string{bad}}); err == nil {
			t.Errorf("New accepted CORS origin %q", bad)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	o := gateway.Options{TrustedProxies: []string{"127.0.0.1"}}
	e := start(t, o, nil)
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	}
	check := func(name string, r resp) {
		t.Helper()
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got, v)
			}
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, d)
			}
		}
	}
	r := e.do(t, "GET", "/", nil)
	check("page", r)
	if r.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
	check("404", e.do(t, "GET", "/api/nope", nil))
	check("405", e.do(t, "DELETE", "/healthz", nil))

	// X-Forwarded-Proto https from the trusted proxy (the test client is on 127.0.0.1).
	if r := e.do(t, "GET", "/", nil, "X-Forwarded-Proto", "https"); !strings.HasPrefix(r.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Error("no HSTS for https via a trusted proxy")
	}
	// ... but not from anyone else.
	untrusted := start(t, gateway.Options{TrustedProxies: []string{"10.0.0.0/8"}}, nil)
	if r := untrusted.do(t, "GET", "/", nil, "X-Forwarded-Proto", "https"); r.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS from an untrusted X-Forwarded-Proto")
	}

	// Real TLS.
	gw, err := gateway.New(gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := httptest.NewTLSServer(gw)
	defer tlsSrv.Close()
	req, _ := http.NewRequest("GET", tlsSrv.URL+"/", nil)
	r = doReq(t, tlsSrv.Client(), req)
	if r.TLS == nil || !strings.HasPrefix(r.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Error("no HSTS over TLS")
	}
	check("tls", r)
}

func TestBodyLimit(t *testing.T) {
	var reached sync.Map
	e := start(t, gateway.Options{MaxBodyBytes: 1024}, func(g *gateway.Gateway) {
		g.HandleFunc("POST /api/json", func(w http.ResponseWriter, r *http.Request) {
			reached.Store("json", true)
			var v map[string]any
			if !gateway.DecodeJSON(w, r, &v) {
				return
			}
			gateway.WriteJSON(w, http.StatusOK, map[string]int{"keys": len(v)})
		})
		g.HandleFunc("POST /api/careless", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body) // ignores the error and answers nothing
		})
	})
	big := `{"k":"` + strings.Repeat("x", 4096) + `"}`

	// Content-Length over the limit: refused before the handler runs.
	r := e.do(t, "POST", "/api/json", strings.NewReader(big))
	expectError(t, r, http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge)
	if _, ok := reached.Load("json"); ok {
		t.Fatal("handler ran for an oversized Content-Length")
	}

	// Chunked (unknown length): the handler's read fails, DecodeJSON answers 413.
	chunked := func(path, body string) resp {
		req, _ := http.NewRequest("POST", e.srv.URL+path, io.MultiReader(strings.NewReader(body)))
		req.ContentLength = -1
		return doReq(t, e.srv.Client(), req)
	}
	r = chunked("/api/json", big)
	expectError(t, r, http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge)
	// A handler that swallows the error still results in 413.
	expectError(t, chunked("/api/careless", big), http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge)

	// Within the limit, both ways.
	if r := e.do(t, "POST", "/api/json", strings.NewReader(`{"a":1,"b":2}`)); r.StatusCode != 200 || !strings.Contains(r.body, `"keys":2`) {
		t.Fatalf("small body: %d %s", r.StatusCode, r.body)
	}
	if r := chunked("/api/json", `{"a":1}`); r.StatusCode != 200 {
		t.Fatalf("small chunked body: %d %s", r.StatusCode, r.body)
	}
	expectError(t, chunked("/api/json", `{"a":`), http.StatusBadRequest, gateway.CodeBadRequest)
}

// Routes mounted with HandleLimit have their own body limit (uploads);
// every other route keeps MaxBodyBytes.
func TestPerRouteBodyLimit(t *testing.T) {
	count := func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				gateway.WriteError(w, http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge, "too large")
				return
			}
			gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, err.Error())
			return
		}
		gateway.WriteJSON(w, http.StatusOK, map[string]int64{"n": n})
	}
	e := start(t, gateway.Options{MaxBodyBytes: 1024}, func(g *gateway.Gateway) {
		g.HandleFunc("POST /api/small", count)
		g.HandleLimit("PUT /api/upload/{name}", 64<<10, http.HandlerFunc(count))
		g.HandleLimit("PUT /api/stream/{name}", 0, http.HandlerFunc(count))
	})
	body := func(n int) io.Reader { return strings.NewReader(strings.Repeat("x", n)) }
	chunked := func(path string, n int) resp {
		req, _ := http.NewRequest("PUT", e.srv.URL+path, io.MultiReader(body(n)))
		req.ContentLength = -1
		return doReq(t, e.srv.Client(), req)
	}
	expectError(t, e.do(t, "POST", "/api/small", body(2048)), http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge)
	if r := e.do(t, "PUT", "/api/upload/a", body(32<<10)); r.StatusCode != 200 || !strings.Contains(r.body, `"n":32768`) {
		t.Fatalf("upload within its own limit: %d %s", r.StatusCode, r.body)
	}
	expectError(t, e.do(t, "PUT", "/api/upload/a", body(65<<10)), http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge)
	expectError(t, chunked("/api/upload/a", 65<<10), http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge)
	if r := chunked("/api/stream/a", 1<<20); r.StatusCode != 200 || !strings.Contains(r.body, `"n":1048576`) {
		t.Fatalf("unlimited route: %d %s", r.StatusCode, r.body)
	}
	// An unknown route still gets the default limit (and its 404).
	expectError(t, e.do(t, "POST", "/api/nothing", body(2048)), http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge)
}

func TestRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache func(t *testing.T) cache.Cache
	}{
		{"memory", func(t *testing.T) cache.Cache {
			c := cache.NewMemory()
			t.Cleanup(func() { _ = c.Close() })
			return c
		}},
		{"redis", func(t *testing.T) cache.Cache { c, _ := testutil.NewRedis(t); return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cache(t)
			const limit = 3
			e := start(t, gateway.Options{Cache: c, RateLimit: limit, RateWindow: time.Minute, TrustedProxies: []string{"127.0.0.1/32"}}, nil)
			for i := range limit {
				if r := e.do(t, "GET", "/", nil, "X-Forwarded-For", "203.0.113.1"); r.StatusCode != 200 {
					t.Fatalf("request %d: %d", i+1, r.StatusCode)
				}
			}
			r := e.do(t, "GET", "/", nil, "X-Forwarded-For", "203.0.113.1")
			expectError(t, r, http.StatusTooManyRequests, gateway.CodeRateLimited)
			ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 60 {
				t.Fatalf("Retry-After %q, want 1..60 seconds", r.Header.Get("Retry-After"))
			}
			// Another client has its own budget.
			if r := e.do(t, "GET", "/", nil, "X-Forwarded-For", "203.0.113.2"); r.StatusCode != 200 {
				t.Fatalf("other client: %d, want 200", r.StatusCode)
			}
			// Probes are never limited.
			for _, p := range []string{"/healthz", "/readyz"} {
				if r := e.do(t, "GET", p, nil, "X-Forwarded-For", "203.0.113.1"); r.StatusCode != 200 {
					t.Fatalf("%s while limited: %d", p, r.StatusCode)
				}
			}
			// Two gateways on one Redis share the budget (replicas).
			if tc.name == "redis" {
				e2 := start(t, gateway.Options{Cache: c, RateLimit: limit, TrustedProxies: []string{"127.0.0.1/32"}}, nil)
				expectError(t, e2.do(t, "GET", "/", nil, "X-Forwarded-For", "203.0.113.1"), http.StatusTooManyRequests, gateway.CodeRateLimited)
			}
		})
	}

	// Without a trusted proxy, X-Forwarded-For cannot buy a fresh budget.
	c := cache.NewMemory()
	defer c.Close()
	e := start(t, gateway.Options{Cache: c, RateLimit: 2}, nil)
	codes := []int{}
	for i := range 3 {
		codes = append(codes, e.do(t, "GET", "/", nil, "X-Forwarded-For", "198.51.100."+strconv.Itoa(i)).StatusCode)
	}
	if codes[2] != http.StatusTooManyRequests {
		t.Fatalf("spoofed X-Forwarded-For from an untrusted peer evaded the limit: %v", codes)
	}

	if _, err := gateway.New(gateway.Options{RateLimit: 10}); err == nil {
		t.Fatal("New accepted a rate limit without a cache")
	}
}

// Webhook routes have a budget of their own: a platform's few addresses may
// call them more often than RATE_LIMIT allows a visitor, and spending it
// leaves the visitor budget untouched (and the other way round).
func TestWebhookRateLimit(t *testing.T) {
	for _, hookLimit := range []int{3, 0} {
		c := cache.NewMemory()
		e := start(t, gateway.Options{Cache: c, RateLimit: 1, WebhookRateLimit: hookLimit, RateWindow: time.Hour}, func(gw *gateway.Gateway) {
			ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
			gw.HandleWebhook("POST /hooks/{bot}", 1<<10, ok)
			gw.HandleFunc("GET /api/x", ok)
		})
		var hooks []int
		for range 5 {
			hooks = append(hooks, e.do(t, "POST", "/hooks/shop", strings.NewReader("{}")).StatusCode)
		}
		want := []int{204, 204, 204, 429, 429}
		if hookLimit == 0 {
			want = []int{204, 204, 204, 204, 204}
		}
		if fmt.Sprint(hooks) != fmt.Sprint(want) {
			t.Errorf("webhook limit %d: %v, want %v", hookLimit, hooks, want)
		}
		if a, b := e.do(t, "GET", "/api/x", nil).StatusCode, e.do(t, "GET", "/api/x", nil).StatusCode; a != 204 || b != 429 {
			t.Errorf("webhook limit %d: the visitor budget is %d, %d", hookLimit, a, b)
		}
		c.Close()
	}
}

// A broken cache must not take the platform offline: requests pass, and
// the failure is logged (once, not per request).
func TestRateLimitFailsOpen(t *testing.T) {
	c := cache.NewMemory()
	_ = c.Close() // every Incr now fails
	e := start(t, gateway.Options{Cache: c, RateLimit: 1}, nil)
	for i := range 3 {
		if r := e.do(t, "GET", "/", nil); r.StatusCode != 200 {
			t.Fatalf("request %d with a failing cache: %d", i+1, r.StatusCode)
		}
	}
	logs := e.logs.waitFor(t, "rate limit cache failed")
	if n := strings.Count(logs, "rate limit cache failed"); n != 1 {
		t.Fatalf("cache failure logged %d times, want 1", n)
	}
}

func TestClientIPTrustedProxies(t *testing.T) {
	mount := func(g *gateway.Gateway) {
		g.HandleFunc("GET /api/ip", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, gateway.ClientIP(r.Context()).String())
		})
	}
	for _, tc := range []struct {
		name    string
		trusted []string
		xff     []string
		want    string
	}{
		{"no proxies: header ignored", nil, []string{"203.0.113.7"}, "127.0.0.1"},
		{"untrusted peer: header ignored", []string{"10.0.0.0/8"}, []string{"203.0.113.7"}, "127.0.0.1"},
		{"trusted peer", []string{"127.0.0.1/32"}, []string{"203.0.113.7"}, "203.0.113.7"},
		{"forged left part ignored", []string{"127.0.0.1"}, []string{"1.2.3.4, 203.0.113.7"}, "203.0.113.7"},
		{"chain of trusted proxies", []string{"127.0.0.0/8", "10.0.0.0/8"}, []string{"1.2.3.4, 203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"several header lines", []string{"127.0.0.0/8", "10.0.0.0/8"}, []string{"1.2.3.4, 203.0.113.7", "10.1.2.3"}, "203.0.113.7"},
		{"IPv6 and port", []string{"127.0.0.1/32"}, []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"garbage from a trusted hop", []string{"127.0.0.1/32"}, []string{"not-an-ip"}, "127.0.0.1"},
		{"empty header", []string{"127.0.0.1/32"}, nil, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, gateway.Options{TrustedProxies: tc.trusted}, mount)
			req, _ := http.NewRequest("GET", e.srv.URL+"/api/ip", nil)
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			r := doReq(t, e.srv.Client(), req)
			if r.body != tc.want {
				t.Fatalf("client IP %q, want %q", r.body, tc.want)
			}
			e.logs.waitFor(t, `"client_ip":"`+tc.want+`"`)
		})
	}
	if _, err := gateway.New(gateway.Options{TrustedProxies: []string{"10.0.0.0/33"}}); err == nil {
		t.Fatal("New accepted a bad CIDR")
	}
}

// healthBackend serves the gRPC health service on 127.0.0.1 with svc at st.
func healthBackend(t *testing.T, svc string, st healthpb.HealthCheckResponse_ServingStatus) grpc.ClientConnInterface {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus(svc, st)
	healthpb.RegisterHealthServer(s, hs)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return dial(t, lis.Addr().String())
}

func dial(t *testing.T, addr string) grpc.ClientConnInterface {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// deadAddr is a 127.0.0.1 port nobody listens on.
func deadAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

func getHealth(t *testing.T, e *env) (int, gateway.Health) {
	t.Helper()
	r := e.do(t, "GET", "/healthz", nil)
	var h gateway.Health
	if err := json.Unmarshal([]byte(r.body), &h); err != nil {
		t.Fatalf("healthz body %q: %v", r.body, err)
	}
	return r.StatusCode, h
}

func TestHealthz(t *testing.T) {
	const chat, llm, auth = "bot.chat.v1.ChatService", "bot.llm.v1.LlmService", "bot.auth.v1.AuthService"
	serving := healthBackend(t, chat, healthpb.HealthCheckResponse_SERVING)
	notServing := healthBackend(t, llm, healthpb.HealthCheckResponse_NOT_SERVING)

	start0 := time.Now()
	e := start(t, gateway.Options{Backends: []gateway.Backend{
		{Name: "botllm", Service: llm, Conn: notServing},
		{Name: "botchat", Service: chat, Conn: serving},
		{Name: "botvideo", Service: "bot.video.v1.VideoService"}, // not configured
		{Name: "botauth", Service: auth, Conn: dial(t, deadAddr(t))},
		{Name: "botdrive", Service: "bot.drive.v1.DriveService", Conn: serving}, // server does not know it
	}}, nil)
	code, h := getHealth(t, e)
	if took := time.Since(start0); took > 3*time.Second {
		t.Errorf("/healthz took %v; checks should run concurrently under a 2s timeout", took)
	}
	if code != http.StatusServiceUnavailable || h.Status != "degraded" {
		t.Fatalf("got %d %q, want 503 degraded", code, h.Status)
	}
	want := []gateway.ServiceHealth{
		{Name: "botauth", Service: auth, Status: "UNREACHABLE", Error: "Unavailable"},
		{Name: "botchat", Service: chat, Status: "SERVING"},
		{Name: "botdrive", Service: "bot.drive.v1.DriveService", Status: "UNKNOWN", Error: "NotFound"},
		{Name: "botllm", Service: llm, Status: "NOT_SERVING"},
		{Name: "botvideo", Service: "bot.video.v1.VideoService", Status: "NOT_CONFIGURED"},
	}
	if len(h.Services) != len(want) {
		t.Fatalf("services %+v, want %+v", h.Services, want)
	}
	for i := range want {
		if h.Services[i] != want[i] {
			t.Errorf("services[%d] = %+v, want %+v", i, h.Services[i], want[i])
		}
	}

	// All configured backends serving; the unconfigured one does not degrade.
	ok := start(t, gateway.Options{Backends: []gateway.Backend{
		{Name: "botchat", Service: chat, Conn: serving},
		{Name: "botvideo", Service: "bot.video.v1.VideoService"},
	}}, nil)
	code, h = getHealth(t, ok)
	if code != http.StatusOK || h.Status != "ok" || len(h.Services) != 2 {
		t.Fatalf("got %d %+v, want 200 ok", code, h)
	}

	// One unreachable backend alone is enough to degrade.
	dead := start(t, gateway.Options{Backends: []gateway.Backend{{Name: "botauth", Service: auth, Conn: dial(t, deadAddr(t))}}}, nil)
	if code, h := getHealth(t, dead); code != http.StatusServiceUnavailable || h.Status != "degraded" {
		t.Fatalf("got %d %q, want 503 degraded", code, h.Status)
	}

	// No backends at all: the gateway itself is fine.
	if code, h := getHealth(t, start(t, gateway.Options{}, nil)); code != 200 || h.Status != "ok" || h.Services == nil {
		t.Fatalf("no backends: %d %+v", code, h)
	}
}

func TestReadyz(t *testing.T) {
	var mu sync.Mutex
	ready := false
	e := start(t, gateway.Options{Ready: func() bool { mu.Lock(); defer mu.Unlock(); return ready }}, nil)
	if r := e.do(t, "GET", "/readyz", nil); r.StatusCode != 503 || !strings.Contains(r.body, "not_ready") {
		t.Fatalf("not ready: %d %s", r.StatusCode, r.body)
	}
	mu.Lock()
	ready = true
	mu.Unlock()
	if r := e.do(t, "GET", "/readyz", nil); r.StatusCode != 200 || !strings.Contains(r.body, `"ready"`) {
		t.Fatalf("ready: %d %s", r.StatusCode, r.body)
	}
	if r := start(t, gateway.Options{}, nil).do(t, "GET", "/readyz", nil); r.StatusCode != 200 {
		t.Fatalf("nil Ready: %d", r.StatusCode)
	}
}

func TestStatic(t *testing.T) {
	root := fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><title>chat</title>")},
		"assets/app.js":       {Data: []byte("console.log(1)")},
		"assets/app.css":      {Data: []byte("body{}")},
		"assets/logo.svg":     {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		"assets/app.wasm":     {Data: []byte("\x00asm")},
		"docs/index.html":     {Data: []byte("<p>docs</p>")},
		"empty/.keep":         {Data: nil},
		".env":                {Data: []byte("SECRET=1")},
		"assets/.git/config":  {Data: []byte("[core]")},
		"assets/no-extension": {Data: []byte("plain words")},
	}
	e := start(t, gateway.Options{WebRoot: root}, nil)
	for _, tc := range []struct{ path, ctype, body string }{
		{"/", "text/html; charset=utf-8", "<title>chat</title>"},
		{"/index.html", "text/html; charset=utf-8", "<title>chat</title>"},
		{"/assets/app.js", "text/javascript; charset=utf-8", "console.log"},
		{"/assets/app.css", "text/css; charset=utf-8", "body{}"},
		{"/assets/logo.svg", "image/svg+xml", "<svg"},
		{"/assets/app.wasm", "application/wasm", "asm"},
		{"/assets/no-extension", "text/plain; charset=utf-8", "plain words"},
		{"/docs/", "text/html; charset=utf-8", "docs"},
		{"/assets/../index.html", "text/html; charset=utf-8", "<title>chat</title>"},
		// A bot's chat page is the root's index.html, WEB_ROOT or not.
		{"/chat/sample", "text/html; charset=utf-8", "<title>chat</title>"},
		{"/chat/my-bot-2/", "text/html; charset=utf-8", "<title>chat</title>"},
	} {
		r := e.do(t, "GET", tc.path, nil)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != tc.ctype || !strings.Contains(r.body, tc.body) {
			t.Errorf("GET %s: %d %q %q; want 200 %q containing %q", tc.path, r.StatusCode, r.Header.Get("Content-Type"), r.body, tc.ctype, tc.body)
		}
	}
	if cc := e.do(t, "GET", "/", nil).Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("index.html Cache-Control %q, want no-cache", cc)
	}
	// No listings, no dot-files, no files as folders.
	for _, p := range []string{"/assets/", "/empty/", "/.env", "/assets/.git/config", "/missing.js", "/assets/app.js/"} {
		expectError(t, e.do(t, "GET", p, nil), http.StatusNotFound, gateway.CodeNotFound)
	}
	// A folder without the slash is redirected so relative links work.
	noRedirect := *e.srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("GET", e.srv.URL+"/docs", nil)
	if r := doReq(t, &noRedirect, req); r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/docs/" {
		t.Errorf("GET /docs: %d Location %q, want 301 /docs/", r.StatusCode, r.Header.Get("Location"))
	}
	// HEAD: headers, no body.
	if r := e.do(t, "HEAD", "/assets/app.js", nil); r.StatusCode != 200 || r.body != "" || r.Header.Get("Content-Length") != "14" {
		t.Errorf("HEAD: %d %q length %q", r.StatusCode, r.body, r.Header.Get("Content-Length"))
	}
	// Only GET and HEAD.
	r := e.do(t, "POST", "/index.html", strings.NewReader("x"))
	expectError(t, r, http.StatusMethodNotAllowed, gateway.CodeMethodNotAllowed)
	if r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q", r.Header.Get("Allow"))
	}

	// Not a bot name: no page.
	for _, p := range []string{"/chat/Bad_Name", "/chat/a/b", "/chat/-x"} {
		if r := e.do(t, "GET", p, nil); r.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}

	// No WebRoot: the embedded web chat, its page at / and /chat/{bot}, its
	// scripts as files (the CSP allows no inline script).
	web := start(t, gateway.Options{}, nil)
	for _, p := range []string{"/", "/chat/sample"} {
		r := web.do(t, "GET", p, nil)
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(r.body, `<script src="/chat.js" defer></script>`) || strings.Contains(r.body, "<script>") {
			t.Fatalf("web chat %s: %d %q %s", p, r.StatusCode, r.Header.Get("Content-Type"), r.body)
		}
	}
	for _, p := range []string{"/chat.js", "/markdown.js", "/chat.css"} {
		if r := web.do(t, "GET", p, nil); r.StatusCode != 200 || len(r.body) < 100 {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
	}
}

func TestRoutingErrors(t *testing.T) {
	e := start(t, gateway.Options{}, func(g *gateway.Gateway) {
		g.HandleFunc("POST /api/v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
			gateway.WriteJSON(w, http.StatusCreated, map[string]string{"id": r.PathValue("id")})
		})
	})
	for _, p := range []string{"/api/nope", "/api", "/api/v1/items", "/api/v2/items/1"} {
		r := e.do(t, "GET", p, nil)
		expectError(t, r, http.StatusNotFound, gateway.CodeNotFound)
	}
	r := e.do(t, "GET", "/api/v1/items/7", nil)
	expectError(t, r, http.StatusMethodNotAllowed, gateway.CodeMethodNotAllowed)
	if !strings.Contains(r.Header.Get("Allow"), "POST") {
		t.Errorf("405 Allow %q lacks POST", r.Header.Get("Allow"))
	}
	if r := e.do(t, "POST", "/api/v1/items/7", strings.NewReader("{}")); r.StatusCode != 201 || !strings.Contains(r.body, `"id":"7"`) {
		t.Fatalf("mounted route: %d %s", r.StatusCode, r.body)
	}
	r = e.do(t, "POST", "/healthz", nil)
	expectError(t, r, http.StatusMethodNotAllowed, gateway.CodeMethodNotAllowed)

	// WriteError's format, directly.
	rec := httptest.NewRecorder()
	gateway.WriteError(rec, http.StatusUnauthorized, gateway.CodeUnauthorized, "log in first")
	if rec.Code != 401 || strings.TrimSpace(rec.Body.String()) != `{"error":{"code":"unauthorized","message":"log in first"}}` {
		t.Fatalf("WriteError: %d %s", rec.Code, rec.Body)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := start(t, gateway.Options{Metrics: reg}, func(g *gateway.Gateway) {
		g.HandleFunc("GET /api/v1/items/{id}", func(w http.ResponseWriter, _ *http.Request) {})
	})
	e.do(t, "GET", "/api/v1/items/1", nil)
	e.do(t, "GET", "/api/v1/items/2", nil)
	e.do(t, "GET", "/api/missing", nil)
	e.do(t, "GET", "/", nil)
	// A second gateway on the same registry shares the collectors.
	if _, err := gateway.New(gateway.Options{Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the access layer records after the response is sent
	expected := `
# HELP gateway_http_requests_total HTTP requests served by the gateway, by route pattern, method and status code.
# TYPE gateway_http_requests_total counter
gateway_http_requests_total{code="200",method="GET",route="GET /api/v1/items/{id}"} 2
gateway_http_requests_total{code="200",method="GET",route="static"} 1
gateway_http_requests_total{code="404",method="GET",route="not_found"} 1
`
	if err := promtest.GatherAndCompare(reg, strings.NewReader(expected), "gateway_http_requests_total"); err != nil {
		t.Fatal(err)
	}
	if n := promtest.CollectAndCount(reg, "gateway_http_request_duration_seconds"); n != 3 {
		t.Fatalf("%d duration series, want 3", n)
	}
}

// BenchmarkGatewayMiddleware measures the chain's overhead for a trivial
// handler: "bare" is the handler alone, "chain" the whole gateway with rate
// limiting on the memory cache, CORS, metrics and a JSON access log.
func BenchmarkGatewayMiddleware(b *testing.B) {
	trivial := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	c := cache.NewMemory()
	defer c.Close()
	gw, err := gateway.New(gateway.Options{
		Log:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Cache:       c,
		RateLimit:   1 << 30,
		CORSOrigins: []string{"https://app.example.com"},
		Metrics:     prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	gw.Handle("GET /api/v1/ping", trivial)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"bare", trivial}, {"chain", gw}} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/v1/ping", nil)
			req.RemoteAddr = "203.0.113.9:4711"
			req.Header.Set("Origin", "https://app.example.com")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				req.Header.Del("X-Request-Id") // a fresh id each time, as from a browser
				tc.h.ServeHTTP(w, req)
			}
			if w.code != http.StatusNoContent {
				b.Fatalf("status %d", w.code)
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
