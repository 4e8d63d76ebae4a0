// Package httpx runs HTTP servers under a lifecycle runner and serves the
// operations endpoints every service exposes: /healthz (alive), /readyz
// (ready for traffic) and /metrics (Prometheus text format).
package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/botserver-go/botserver-go/botstate/lifecycle"
)

// Server is an http.Server bound at Listen time.
type Server struct {
	HTTP *http.Server
	lis  net.Listener
}

// NewServer wraps h with timeouts suited to an API (streams set their own deadlines).
func NewServer(h http.Handler) *Server {
	return &Server{HTTP: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}}
}

// Listen binds addr now so a taken port fails at start.
func (s *Server) Listen(addr string) (net.Addr, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP listen %s: %w", addr, err)
	}
	s.lis = lis
	return lis.Addr(), nil
}

// Close releases the listener of a server whose Unit will not start (a
// later start-up step failed). A started server is stopped by its Unit.
func (s *Server) Close() error {
	if s.lis == nil {
		return nil
	}
	return s.lis.Close()
}

// Unit serves on Start and shuts down on Stop: no new connections, in-flight
// requests finish, forced close when ctx's deadline passes.
func (s *Server) Unit(name string, deps ...string) lifecycle.Unit {
	return lifecycle.Unit{
		Name: name, Deps: deps,
		Start: func(ctx context.Context) error {
			if s.lis == nil {
				return fmt.Errorf("%s: Listen was not called", name)
			}
			go func() {
				if err := s.HTTP.Serve(s.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
					lifecycle.Fail(ctx, fmt.Errorf("%s: %w", name, err))
				}
			}()
			return nil
		},
		Stop: func(ctx context.Context) error {
			err := s.HTTP.Shutdown(ctx)
			if err != nil {
				_ = s.HTTP.Close()
				return fmt.Errorf("%s: deadline passed, open requests were cut: %w", name, err)
			}
			return nil
		},
	}
}

// OpsHandler serves /healthz, /readyz and /metrics, and with profiling
// Go's /debug/pprof/ (CPU, heap, goroutines): on the operations port only,
// which is not public.
func OpsHandler(ready func() bool, g prometheus.Gatherer, profiling bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", ReadyHandler(ready))
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	if profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ReadyHandler answers 200 "ready" or 503 "not ready".
func ReadyHandler(ready func() bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil && !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	}
}
