// Package apptest starts services in the test's own process, exactly as a
// binary would run them (migrations, pools, gRPC listener, units), and stops
// them when the test ends.
package apptest

import (
	"context"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/natsembed"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// Start runs services on a fresh database, an embedded NATS, an in-process
// cache and free loopback ports. env adds or overrides settings
// ("KEY=value"). It returns once every unit has started.
func Start(t testing.TB, env []string, services ...*app.Service) app.Addrs {
	t.Helper()
	environ := append([]string{
		"DATABASE_URL=" + testutil.NewDatabase(t), "DATA_DIR=" + t.TempDir(),
		"GRPC_ADDR=127.0.0.1:0", "OPS_ADDR=127.0.0.1:0", "DRAIN_DELAY=0s",
		"SHUTDOWN_TIMEOUT=10s", "LOG_LEVEL=warn",
	}, env...)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan app.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, nil, app.Options{
			Environ: environ, EmbedNATS: natsembed.Connect,
			Started: func(a app.Addrs) { started <- a },
		}, services...)
	}()
	select {
	case a := <-started:
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("apptest: stop: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("apptest: services did not stop within 30s")
			}
		})
		return a
	case err := <-done:
		cancel()
		t.Fatalf("apptest: start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("apptest: services did not start within 60s")
	}
	return app.Addrs{}
}
