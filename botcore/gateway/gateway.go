// Package gateway is the public HTTP entry of the platform: one
// http.Handler that wraps every route in the same middleware chain and
// serves the gateway's own routes (/healthz, /readyz, the web UI at /).
// API routes are mounted later with Gateway.Handle.
//
// The chain, outermost first, and why in that order:
//
//  1. request id: first, so every later log line (panic, access) carries it;
//     it also wraps the ResponseWriter to record status and size, and works
//     out the client IP (X-Forwarded-For believed only from TrustedProxies).
//  2. access log and metrics: outside recovery, so a panic is logged as the
//     500 the client got, and outside everything that may answer early
//     (429, 413, preflight), so those are logged and counted too.
//  3. panic recovery: 500 JSON without the panic text; the text and stack go
//     to the log.
//  4. security headers: before anything that answers, so every response,
//     errors included, carries them.
//  5. CORS: before rate limiting so a browser can read a 429 (without CORS
//     headers it only sees an opaque network error); preflights are answered
//     here and cost no rate-limit budget.
//  6. rate limit per client IP (fixed window through Cache.Incr, shared by
//     replicas on Redis); /healthz and /readyz are exempt so probes never
//     fail because of traffic.
//  7. body limit: 413 up front on a too-large Content-Length, and a
//     MaxBytesReader for bodies of unknown length; MaxBodyBytes, or the
//     route's own limit when it was mounted with HandleLimit.
//  8. routing: routes mounted with Handle, then JSON 404 for unknown /api/
//     paths, JSON 405 with Allow for a known path and wrong method, and the
//     static web root for the rest.
//
// Every error the gateway produces is JSON: {"error":{"code":"...","message":"..."}}.
package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/botserver-go/botserver-go/botstate/cache"
)

const (
	// DefaultRateWindow is the rate-limit window when Options.RateWindow is 0.
	DefaultRateWindow = time.Minute
	// DefaultMaxBodyBytes is the body limit when Options.MaxBodyBytes <= 0.
	DefaultMaxBodyBytes = 10 << 20
)

// Options configure a Gateway. The zero value serves the embedded web chat
// and health routes with no rate limit and no CORS.
type Options struct {
	Log *slog.Logger // nil: discard
	// Cache holds the rate-limit counters; with Redis the limit is shared by
	// every gateway replica. Required when RateLimit > 0.
	Cache cache.Cache
	// CORSOrigins are the exact origins (scheme://host[:port]) browsers may
	// call from, or "*" for any. Listed origins may send credentials; "*"
	// may not (browsers forbid it). Empty: no CORS headers at all.
	CORSOrigins []string
	// RateLimit is the number of requests a client IP (an IPv6 /64) may make
	// per RateWindow; 0 turns rate limiting off. Windows are aligned to the
	// clock (not to each client's first request), which lets every replica
	// agree on them and gives an exact Retry-After.
	RateLimit  int
	RateWindow time.Duration // 0: DefaultRateWindow (1m)
	// WebhookRateLimit replaces RateLimit on routes mounted with
	// HandleWebhook (counted apart): channel platforms call from a few
	// addresses, and those routes check each request's signature
	// themselves. 0: no limit on them. Rate limiting off (RateLimit 0)
	// turns it off too.
	WebhookRateLimit int
	// MaxBodyBytes is the largest request body accepted; <= 0: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustedProxies are CIDRs (or single IPs) of reverse proxies whose
	// X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []string
	// WebRoot is served at "/" (GET and HEAD; "/" serves index.html; no
	// directory listings; dot-files hidden). nil: the embedded web chat.
	WebRoot fs.FS
	// Backends are checked by /healthz; a nil Conn means not configured.
	Backends []Backend
	// Ready answers /readyz; nil means always ready.
	Ready func() bool
	// Metrics, when set, gets gateway_http_requests_total and
	// gateway_http_request_duration_seconds by route pattern, method, code.
	Metrics prometheus.Registerer
}

// Backend is a service behind the gateway, checked by /healthz through the
// standard gRPC health service.
type Backend struct {
	Name    string                   // e.g. "botchat"
	Service string                   // gRPC health service name, e.g. "bot.chat.v1.ChatService"
	Conn    grpc.ClientConnInterface // nil: not configured
}

// Gateway is the public HTTP handler. Mount API routes with Handle; serve
// it with ServeHTTP.
type Gateway struct {
	log       *slog.Logger
	cache     cache.Cache
	limit     int
	window    time.Duration
	maxBody   int64
	trusted   []netip.Prefix
	corsOn    bool
	corsAny   bool
	origins   map[string]bool
	backends  []Backend
	ready     func() bool
	metrics   *metrics
	mux       *http.ServeMux
	limits    map[string]int64 // body limits of routes mounted with HandleLimit, by pattern
	webhooks  map[string]bool  // patterns mounted with HandleWebhook
	hookLimit int
	static    http.Handler
	handler   http.Handler
	healthTTL time.Duration

	healthMu  sync.Mutex
	health    *Health
	healthAt  time.Time
	warnMu    sync.Mutex
	lastWarns time.Time
}

// New builds a gateway from o; it fails on settings that cannot work
// (a malformed origin or CIDR, a rate limit without a cache).
func New(o Options) (*Gateway, error) {
	g := &Gateway{
		log:       o.Log,
		cache:     o.Cache,
		limit:     o.RateLimit,
		window:    o.RateWindow,
		maxBody:   o.MaxBodyBytes,
		backends:  append([]Backend(nil), o.Backends...),
		ready:     o.Ready,
		mux:       http.NewServeMux(),
		limits:    map[string]int64{},
		webhooks:  map[string]bool{},
		hookLimit: o.WebhookRateLimit,
		healthTTL: healthCacheFor,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.window == 0 {
		g.window = DefaultRateWindow
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBodyBytes
	}
	switch {
	case g.limit < 0 || g.window < 0:
		return nil, errors.New("gateway: RateLimit and RateWindow must not be negative")
	case g.limit > 0 && g.cache == nil:
		return nil, errors.New("gateway: RateLimit needs a Cache")
	}
	for _, s := range o.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		g.trusted = append(g.trusted, p)
	}
	if err := g.setCORS(o.CORSOrigins); err != nil {
		return nil, err
	}
	if o.Metrics != nil {
		m, err := newMetrics(o.Metrics)
		if err != nil {
			return nil, err
		}
		g.metrics = m
	}
	root := o.WebRoot
	if root == nil {
		root = webFS()
	}
	g.static = staticHandler{root}

	g.mux.HandleFunc("GET /healthz", g.serveHealthz)
	g.mux.HandleFunc("GET /readyz", g.serveReadyz)

	h := http.Handler(http.HandlerFunc(g.route))
	h = g.limitBody(h)
	if g.limit > 0 {
		h = g.rateLimit(h)
	}
	if g.corsOn {
		h = g.cors(h)
	}
	h = securityHeaders(h)
	h = g.recoverPanic(h)
	h = g.accessLog(h)
	h = g.requestID(h)
	g.handler = h
	return g, nil
}

// Handle mounts an API route (http.ServeMux pattern syntax, e.g.
// "POST /api/v1/chat/{id}") behind the middleware chain.
func (g *Gateway) Handle(pattern string, h http.Handler) { g.mux.Handle(pattern, h) }

// HandleLimit is Handle with a body limit of its own instead of
// MaxBodyBytes, for routes that take large bodies (file uploads). A limit
// <= 0 means none: the handler bounds what it reads itself. Every other
// route keeps MaxBodyBytes.
func (g *Gateway) HandleLimit(pattern string, maxBody int64, h http.Handler) {
	g.mux.Handle(pattern, h)
	g.limits[pattern] = maxBody
}

// HandleWebhook is HandleLimit for a route that other platforms call
// (channel webhooks, script webhooks): its requests count against
// WebhookRateLimit per client IP instead of RateLimit.
func (g *Gateway) HandleWebhook(pattern string, maxBody int64, h http.Handler) {
	g.HandleLimit(pattern, maxBody, h)
	g.webhooks[pattern] = true
}

// HandleFunc is Handle for a function.
func (g *Gateway) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	g.mux.HandleFunc(pattern, h)
}

// ServeHTTP runs the middleware chain and the routes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// route dispatches to a mounted route, or decides between 404, 405 and the
// static web root.
func (g *Gateway) route(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r)
	h, pattern := g.mux.Handler(r)
	if pattern != "" {
		st.route = pattern
		if p := r.URL.Path; len(pattern) == len(p)+1 && pattern[len(p)] == '/' && pattern[:len(p)] == p {
			// A trailing-slash redirect: ServeMux reports the target path,
			// not a pattern, and raw paths must not become metric labels.
			st.route = "redirect"
		}
		g.mux.ServeHTTP(w, r) // again through ServeHTTP so r.PathValue works
		return
	}
	// No pattern: h is ServeMux's own 404, 405 (path known, method not) or
	// clean-path redirect. Run it on a scratch writer to learn which.
	if code, allow := probe(h, r); code == http.StatusMethodNotAllowed {
		st.route = "method_not_allowed"
		w.Header().Set("Allow", allow)
		WriteError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" is not allowed here")
		return
	}
	p := r.URL.Path
	if p == "/api" || strings.HasPrefix(p, "/api/") {
		st.route = "not_found"
		WriteError(w, http.StatusNotFound, CodeNotFound, "no API route "+p)
		return
	}
	st.route = "static"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		WriteError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" is not allowed here")
		return
	}
	g.static.ServeHTTP(w, r)
}

type probeWriter struct {
	h    http.Header
	code int
}

func (p *probeWriter) Header() http.Header { return p.h }
func (p *probeWriter) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}
func (p *probeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

func probe(h http.Handler, r *http.Request) (int, string) {
	p := &probeWriter{h: http.Header{}}
	h.ServeHTTP(p, r)
	return p.code, p.h.Get("Allow")
}

func (g *Gateway) setCORS(origins []string) error {
	g.origins = map[string]bool{}
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		g.corsOn = true
		if o == "*" {
			g.corsAny = true
			continue
		}
		// Browsers send the serialized origin: lower-case scheme and host,
		// no path. Normalise the setting to that so a trailing slash or
		// capital letter in configuration does not silently deny.
		u, err := url.Parse(strings.TrimSuffix(o, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("gateway: CORS origin %q is not scheme://host[:port] or *", o)
		}
		g.origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("gateway: trusted proxy %q is not a CIDR: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("gateway: trusted proxy %q is not an IP or CIDR: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
