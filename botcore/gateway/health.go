package gateway

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const (
	// healthTimeout bounds each backend's check so one hung service cannot
	// hold /healthz past a load balancer's probe timeout.
	healthTimeout = 2 * time.Second
	// healthCacheFor is how long a /healthz result is reused. /healthz is
	// public and rate-limit exempt; without this each request would fan out
	// into one gRPC call per backend.
	healthCacheFor = time.Second
)

// Statuses of a backend in /healthz.
const (
	StatusServing       = "SERVING"
	StatusNotServing    = "NOT_SERVING"
	StatusUnknown       = "UNKNOWN"
	StatusNotConfigured = "NOT_CONFIGURED"
	StatusUnreachable   = "UNREACHABLE"
)

// Health is the /healthz body.
type Health struct {
	Status   string          `json:"status"` // "ok" or "degraded"
	Services []ServiceHealth `json:"services"`
}

// ServiceHealth is one backend in Health, sorted by Name.
type ServiceHealth struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Status  string `json:"status"`
	// Error is a short reason (a gRPC code); the details, which name
	// internal addresses, go to the log only.
	Error string `json:"error,omitempty"`
}

// serveHealthz answers 200 when every configured backend is SERVING and
// 503 otherwise; unconfigured backends are listed but do not count.
func (g *Gateway) serveHealthz(w http.ResponseWriter, r *http.Request) {
	h := g.checkHealth(r.Context())
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, code, h)
}

// checkHealth returns a result at most healthTTL old. Concurrent callers
// wait for the one check in progress instead of starting their own.
func (g *Gateway) checkHealth(ctx context.Context) *Health {
	g.healthMu.Lock()
	defer g.healthMu.Unlock()
	if g.health != nil && time.Since(g.healthAt) < g.healthTTL {
		return g.health
	}
	// Not bound to this caller: others waiting on the lock share the result.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthTimeout)
	defer cancel()
	out := make([]ServiceHealth, len(g.backends))
	var wg sync.WaitGroup
	for i, b := range g.backends {
		wg.Go(func() { out[i] = g.checkBackend(ctx, b) })
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	h := &Health{Status: "ok", Services: out}
	for _, s := range out {
		if s.Status != StatusServing && s.Status != StatusNotConfigured {
			h.Status = "degraded"
		}
	}
	g.health, g.healthAt = h, time.Now()
	return h
}

func (g *Gateway) checkBackend(ctx context.Context, b Backend) ServiceHealth {
	s := ServiceHealth{Name: b.Name, Service: b.Service}
	if b.Conn == nil {
		s.Status = StatusNotConfigured
		return s
	}
	resp, err := healthpb.NewHealthClient(b.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: b.Service})
	if err != nil {
		code := status.Code(err)
		switch code {
		case codes.NotFound, codes.Unimplemented:
			// It answered, but does not know the service (or has no health
			// service): a wiring problem, not a network one.
			s.Status = StatusUnknown
		default:
			s.Status = StatusUnreachable
		}
		s.Error = code.String()
		g.log.WarnContext(ctx, "health check failed", "backend", b.Name, "service", b.Service, "err", err)
		return s
	}
	switch resp.GetStatus() {
	case healthpb.HealthCheckResponse_SERVING:
		s.Status = StatusServing
	case healthpb.HealthCheckResponse_NOT_SERVING:
		s.Status = StatusNotServing
	default:
		s.Status = StatusUnknown
	}
	return s
}

// serveReadyz answers from Options.Ready: 200 {"status":"ready"} or 503
// {"status":"not_ready"} (while starting or draining).
func (g *Gateway) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if g.ready != nil && !g.ready() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready"})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
