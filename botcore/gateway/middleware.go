package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/botserver-go/botserver-go/botstate/logx"
)

// reqState is one request's bookkeeping, shared by the middlewares through
// the context. It is also the ResponseWriter every inner layer gets, so the
// access log sees the status and size whoever wrote the response.
type reqState struct {
	http.ResponseWriter
	raw          http.ResponseWriter // the server's own writer, for MaxBytesReader
	id           string
	client       netip.Addr
	secure       bool   // came over TLS, directly or per a trusted proxy
	route        string // metrics label, set by route
	start        time.Time
	status       int
	bytes        int64
	wroteHeader  bool
	hijacked     bool
	bodyTooLarge bool
}

type stateKey struct{}

func stateOf(r *http.Request) *reqState {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	if st == nil { // only when a route is called outside the chain
		st = &reqState{}
	}
	return st
}

// ClientIP is the client address the gateway worked out for the request in
// ctx (X-Forwarded-For is believed only from trusted proxies). It is the
// zero Addr outside the gateway.
func ClientIP(ctx context.Context) netip.Addr {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	if st == nil {
		return netip.Addr{}
	}
	return st.client
}

func (s *reqState) WriteHeader(code int) {
	if s.wroteHeader || s.hijacked {
		s.ResponseWriter.WriteHeader(code) // let net/http report the superfluous call
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		s.ResponseWriter.WriteHeader(code) // informational (103 Early Hints): not the final status
		return
	}
	s.status, s.wroteHeader = code, true
	s.ResponseWriter.WriteHeader(code)
}

func (s *reqState) Write(b []byte) (int, error) {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the server's sendfile path for static files.
func (s *reqState) ReadFrom(r io.Reader) (int64, error) {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	n, err := io.Copy(s.ResponseWriter, r)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (s *reqState) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush and Hijack are implemented, not only reachable through Unwrap,
// because streaming and WebSocket code often type-asserts them.
func (s *reqState) Flush() {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *reqState) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil {
		s.hijacked = true
		if !s.wroteHeader {
			s.status, s.wroteHeader = http.StatusSwitchingProtocols, true
		}
	}
	return c, rw, err
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// requestID is layer 1: request id, client IP, response recording.
func (g *Gateway) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !logx.ValidRequestID(id) {
			id = newRequestID()
		}
		// Downstream code (and calls to backends) see the vetted id only.
		r.Header.Set("X-Request-Id", id)
		w.Header().Set("X-Request-Id", id)
		st := &reqState{ResponseWriter: w, raw: w, id: id, start: time.Now()}
		st.client, st.secure = g.clientInfo(r)
		ctx := context.WithValue(logx.WithRequestID(r.Context(), id), stateKey{}, st)
		next.ServeHTTP(st, r.WithContext(ctx))
	})
}

// accessLog is layer 2: one log line and the metrics per request. Probes
// log at debug so they don't drown the log.
func (g *Gateway) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r)
		defer func() {
			d := time.Since(st.start)
			status := st.status
			if status == 0 {
				status = http.StatusOK // the handler wrote nothing: net/http sends 200
			}
			level := slog.LevelInfo
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				level = slog.LevelDebug
			}
			ctx := r.Context()
			if g.log.Enabled(ctx, level) {
				// The path only: query strings may carry tokens.
				g.log.LogAttrs(ctx, level, "http request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", status), slog.Int64("bytes", st.bytes),
					slog.Duration("duration", d), slog.String("client_ip", st.client.String()))
			}
			if g.metrics != nil {
				g.metrics.observe(st.route, r.Method, status, d)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// recoverPanic is layer 3.
func (g *Gateway) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // net/http's deliberate abort: not a bug
				panic(v)
			}
			g.log.ErrorContext(r.Context(), "panic in HTTP handler",
				"method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			st := stateOf(r)
			if st.wroteHeader || st.hijacked {
				// Too late for a 500: cut the connection so the client sees
				// a broken response rather than a truncated "success".
				panic(http.ErrAbortHandler)
			}
			WriteError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy suits a same-origin web chat: scripts only from the
// origin (no inline script, the main XSS vector in rendered messages),
// inline styles allowed because UI toolkits inject them, images and media
// also from data:/blob: (pasted images, recorded audio), API and WebSocket
// calls to the origin only ('self' covers ws/wss in CSP3 browsers), and no
// framing, plugins or foreign form targets.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders is layer 4.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One allocation for all values, each handed out as a cap-1 slice so
		// a handler's Add reallocates instead of writing into its neighbour;
		// the keys are canonical already, which saves Header.Set's checks.
		v := [...]string{
			"nosniff", "DENY",
			// Chat messages link to other sites; the URL of a conversation
			// is nobody else's business.
			"no-referrer",
			contentSecurityPolicy, "same-origin",
			// HSTS over plain HTTP is ignored by browsers and would be wrong
			// for a dev setup on http://localhost, so only when HTTPS really
			// was used. No includeSubDomains: other hosts of the domain are
			// not ours to pin.
			"max-age=31536000",
		}
		h := w.Header()
		h["X-Content-Type-Options"] = v[0:1:1]
		h["X-Frame-Options"] = v[1:2:2]
		h["Referrer-Policy"] = v[2:3:3]
		h["Content-Security-Policy"] = v[3:4:4]
		h["Cross-Origin-Opener-Policy"] = v[4:5:5]
		if stateOf(r).secure {
			h["Strict-Transport-Security"] = v[5:6:6]
		}
		next.ServeHTTP(w, r)
	})
}

const (
	corsMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
	corsHeaders = "Accept, Authorization, Content-Type, X-Request-Id"
	corsExpose  = "X-Request-Id, Retry-After"
	corsMaxAge  = "3600" // an hour; browsers cap it (Chrome at 2h)
)

// cors is layer 5. A disallowed origin gets no CORS headers; its preflight
// is refused with 403 so the reason shows in the browser's network panel.
func (g *Gateway) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		if !g.corsAny {
			h.Add("Vary", "Origin") // the answer depends on Origin: tell caches
		}
		preflight := r.Method == http.MethodOptions && origin != "" &&
			r.Header.Get("Access-Control-Request-Method") != ""
		if origin == "" || !(g.corsAny || g.origins[origin]) {
			if preflight {
				WriteError(w, http.StatusForbidden, CodeForbidden, "origin not allowed")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if g.corsAny {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if preflight {
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExpose)
		next.ServeHTTP(w, r)
	})
}

// rateLimitTimeout bounds the cache call: a slow Redis must not stall
// every request.
const rateLimitTimeout = 500 * time.Millisecond

// rateLimit is layer 6: a fixed window per client, windows aligned to the
// clock so replicas share them and Retry-After is exact. If the cache
// fails the request is let through (fail open): a Redis outage must not
// take the whole platform offline.
func (g *Gateway) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		limit, space := g.limit, "gw:rl:"
		if len(g.webhooks) > 0 {
			if _, pattern := g.mux.Handler(r); g.webhooks[pattern] {
				limit, space = g.hookLimit, "gw:rlw:"
			}
		}
		if limit <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		st := stateOf(r)
		now := st.start // a few µs old at most; saves a clock read (slow on VMs)
		win := now.UnixNano() / int64(g.window)
		key := space + clientKey(st.client) + ":" + strconv.FormatInt(win, 10)
		ctx, cancel := context.WithTimeout(r.Context(), rateLimitTimeout)
		n, err := g.cache.Incr(ctx, key, g.window)
		cancel()
		if err != nil {
			g.warnRateLimit(r.Context(), err)
			next.ServeHTTP(w, r)
			return
		}
		if n > int64(limit) {
			reset := time.Unix(0, (win+1)*int64(g.window))
			secs := int((reset.Sub(now) + time.Second - 1) / time.Second) // round up
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			WriteError(w, http.StatusTooManyRequests, CodeRateLimited,
				"too many requests; retry in "+strconv.Itoa(max(secs, 1))+"s")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// warnRateLimit logs cache failures at most every 10s, not once per request.
func (g *Gateway) warnRateLimit(ctx context.Context, err error) {
	g.warnMu.Lock()
	due := time.Since(g.lastWarns) >= 10*time.Second
	if due {
		g.lastWarns = time.Now()
	}
	g.warnMu.Unlock()
	if due {
		g.log.WarnContext(ctx, "rate limit cache failed; letting requests through", "err", err)
	}
}

// clientKey is the rate-limit identity: the IPv4 address, or the IPv6 /64,
// since one IPv6 host usually owns a whole /64 and could rotate through it.
func clientKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is6():
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
	default:
		return a.String()
	}
}

// limitBody is layer 7.
func (g *Gateway) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := g.maxBody
		if len(g.limits) > 0 {
			if _, pattern := g.mux.Handler(r); pattern != "" {
				if l, ok := g.limits[pattern]; ok {
					limit = l
				}
			}
		}
		if limit <= 0 { // a route that bounds its body itself
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			WriteError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge,
				"request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
			return
		}
		st := stateOf(r)
		if r.Body != nil && r.Body != http.NoBody {
			// The server's own writer, so net/http closes the connection
			// after the response instead of reading the rest of the body.
			r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(st.raw, r.Body, limit), st: st}
		}
		next.ServeHTTP(w, r)
		// A handler that hit the limit but answered nothing still gets a 413.
		if st.bodyTooLarge && !st.wroteHeader && !st.hijacked {
			WriteError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is too large")
		}
	})
}

type limitedBody struct {
	io.ReadCloser
	st *reqState
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if err != nil && errors.As(err, &tooLarge) {
		b.st.bodyTooLarge = true
	}
	return n, err
}

// clientInfo returns the client address and whether the request came over
// HTTPS. Forwarded headers count only when the peer is a trusted proxy; the
// X-Forwarded-For chain is then walked from the right (the entries our
// proxies appended) to the first address that is not a trusted proxy, since
// everything left of it was written by the client and may be forged.
func (g *Gateway) clientInfo(r *http.Request) (netip.Addr, bool) {
	secure := r.TLS != nil
	peer := parseAddr(r.RemoteAddr)
	if !g.isTrusted(peer) {
		return peer, secure
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		first, _, _ := strings.Cut(p, ",")
		secure = secure || strings.EqualFold(strings.TrimSpace(first), "https")
	}
	client := peer
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		rest := xff[i]
		for rest != "" {
			var part string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, part = rest[:j], rest[j+1:]
			} else {
				rest, part = "", rest
			}
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			a := parseAddr(part)
			if !a.IsValid() {
				return client, secure // garbage written by a trusted hop: stop at what we know
			}
			client = a
			if !g.isTrusted(a) {
				return client, secure
			}
		}
	}
	return client, secure
}

func (g *Gateway) isTrusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads "ip", "ip:port" or "[ipv6]:port"; IPv4-mapped IPv6
// becomes IPv4 so both spellings match the same CIDRs and rate-limit key.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
