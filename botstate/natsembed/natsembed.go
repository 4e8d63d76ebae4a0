// Package natsembed runs a NATS server with JetStream inside the process:
// the all-in-one's default when NATS_URL is unset, and each test's private
// server. It is apart from package events so that service binaries, which
// always talk to a real NATS, do not link nats-server (about a sixth of a
// cold build).
package natsembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/botserver-go/botserver-go/botstate/events"
)

// Connect starts a server storing under dataDir/nats, listening on a random
// port of 127.0.0.1 (Bus.URL, for other processes), and connects to it
// in-process. Closing the bus shuts the server down.
func Connect(ctx context.Context, dataDir, name string, log *slog.Logger) (*events.Bus, error) {
	if dataDir == "" {
		return nil, errors.New("embedded NATS needs a data dir")
	}
	srv, err := Start(filepath.Join(dataDir, "nats"), log)
	if err != nil {
		return nil, err
	}
	bus, err := events.Connect(ctx, srv.ClientURL(), name, log, nats.InProcessServer(srv))
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	bus.OnClose(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return bus, nil
}

// Start starts a server with JetStream storing in dir. With a nil log the
// server logs nothing.
func Start(dir string, log *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true, // the process owns its signals
		NoLog:     log == nil,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if log != nil {
		srv.SetLoggerV2(serverLog{log}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return srv, nil
}

// serverLog keeps the embedded server quiet: its notices (startup banner,
// JetStream limits) only at debug, warnings and errors as such.
type serverLog struct{ l *slog.Logger }

func (s serverLog) Noticef(f string, v ...any) { s.l.Debug("nats: " + fmt.Sprintf(f, v...)) }
func (s serverLog) Warnf(f string, v ...any)   { s.l.Warn("nats: " + fmt.Sprintf(f, v...)) }
func (s serverLog) Fatalf(f string, v ...any)  { s.l.Error("nats: " + fmt.Sprintf(f, v...)) }
func (s serverLog) Errorf(f string, v ...any)  { s.l.Error("nats: " + fmt.Sprintf(f, v...)) }
func (s serverLog) Debugf(string, ...any)      {}
func (s serverLog) Tracef(string, ...any)      {}
