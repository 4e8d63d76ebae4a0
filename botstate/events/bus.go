package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bus is a process's connection to NATS and JetStream, and the embedded
// server when the process runs its own.
type Bus struct {
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Server *server.Server // nil when connected to an external NATS
	URL    string         // where other processes can reach the server

	closed chan struct{}
}

// publishAckTimeout bounds how long an async publish waits for JetStream's
// ack before the future fails, so a lost ack never pins memory.
const publishAckTimeout = 10 * time.Second

// Connect connects to NATS at url. With url == "" it first starts an embedded
// server with JetStream storing under dataDir/nats. name identifies the
// connection in the server's monitoring. The connection reconnects forever;
// only the first connect can fail.
func Connect(ctx context.Context, url, name, dataDir string, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{URL: url, closed: make(chan struct{})}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	}
	if url == "" {
		if dataDir == "" {
			return nil, errors.New("events: embedded NATS needs a data dir")
		}
		srv, u, err := startEmbedded(filepath.Join(dataDir, "nats"), log)
		if err != nil {
			return nil, err
		}
		b.Server, b.URL = srv, u
		// In-process: no TCP between this process and its own server.
		opts = append(opts, nats.InProcessServer(srv))
		url = u
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if b.Server != nil {
			b.Server.Shutdown()
		}
		return nil, fmt.Errorf("nats at %s: %w", redact(url), err)
	}
	b.Conn = nc
	b.JS, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(publishAckTimeout))
	if err != nil {
		b.Close()
		return nil, err
	}
	if _, err := b.JS.AccountInfo(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("nats at %s: JetStream not available: %w", nc.ConnectedUrlRedacted(), err)
	}
	return b, nil
}

// Close drains the connection (pending publishes and acks go out) and shuts
// down the embedded server, if any.
func (b *Bus) Close() {
	if b.Conn != nil {
		if err := b.Conn.Drain(); err == nil {
			select {
			case <-b.closed:
			case <-time.After(10 * time.Second):
			}
		}
		b.Conn.Close()
	}
	if b.Server != nil {
		b.Server.Shutdown()
		b.Server.WaitForShutdown()
	}
}

// StartEmbedded starts a NATS server with JetStream storing in dir, listening
// on a random port of 127.0.0.1, without logging. It returns its client URL.
func StartEmbedded(dir string) (*server.Server, string, error) {
	return startEmbedded(dir, nil)
}

func startEmbedded(dir string, log *slog.Logger) (*server.Server, string, error) {
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
		return nil, "", fmt.Errorf("embedded nats: %w", err)
	}
	if log != nil {
		srv.SetLoggerV2(serverLog{log}, false, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, "", errors.New("embedded nats: not ready after 10s")
	}
	return srv, srv.ClientURL(), nil
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

// redact drops credentials from a NATS URL (or a list of them) for messages.
func redact(urls string) string {
	u, err := neturl.Parse(urls)
	if err != nil || u.User == nil {
		return urls
	}
	u.User = nil
	return u.String()
}
