package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/botserver-go/botserver-go/botstate/config"
)

// Bus is a process's connection to NATS and JetStream.
type Bus struct {
	Conn *nats.Conn
	JS   jetstream.JetStream
	URL  string // where other processes can reach the server

	closed  chan struct{}
	onClose []func()
	log     *slog.Logger
	extra   []nats.Option // the Connect caller's, for Dial too

	mu     sync.Mutex
	dialed []dialed
}

// publishAckTimeout bounds how long an async publish waits for JetStream's
// ack before the future fails, so a lost ack never pins memory.
const publishAckTimeout = 10 * time.Second

// Connect connects to the NATS server at url, which must have JetStream.
// name identifies the connection in the server's monitoring; extra options
// are for callers such as natsembed. The connection reconnects forever; only
// the first connect can fail.
func Connect(ctx context.Context, url, name string, log *slog.Logger, extra ...nats.Option) (*Bus, error) {
	if url == "" {
		return nil, errors.New("NATS_URL is not set: this process needs a NATS server with JetStream (only the all-in-one botserver embeds one)")
	}
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{URL: url, closed: make(chan struct{}), log: log, extra: extra}
	nc, err := b.connect(name, nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }))
	if err != nil {
		return nil, err
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

// connect opens a connection to the bus's server with the bus's options
// (reconnecting forever, logging) and the Connect caller's, then opts.
func (b *Bus) connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	log := b.log
	all := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "connection", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "connection", name, "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "connection", name, "subject", subj, "err", err)
		}),
	}, b.extra...)
	nc, err := nats.Connect(b.URL, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("nats at %s: %w", config.Redact(b.URL), err)
	}
	return nc, nil
}

// Dial opens another connection to the bus's server, for a use that needs
// options of its own (nats.NoEcho, say). Close drains it before the bus's
// own connection.
func (b *Bus) Dial(name string, opts ...nats.Option) (*nats.Conn, error) {
	closed := make(chan struct{})
	nc, err := b.connect(name, append(opts, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))...)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.dialed = append(b.dialed, dialed{nc, closed})
	b.mu.Unlock()
	return nc, nil
}

type dialed struct {
	nc     *nats.Conn
	closed chan struct{}
}

// drain drains nc (pending publishes go out) and waits, up to 10 s, until
// it has closed.
func drain(nc *nats.Conn, closed <-chan struct{}) {
	if err := nc.Drain(); err == nil {
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
		}
	}
	nc.Close()
}

// OnClose registers f to run after Close has closed the connection, such as
// shutting down an embedded server.
func (b *Bus) OnClose(f func()) { b.onClose = append(b.onClose, f) }

// Close drains the connection (pending publishes and acks go out), then runs
// the OnClose functions.
func (b *Bus) Close() {
	b.mu.Lock()
	conns := b.dialed
	b.dialed = nil
	b.mu.Unlock()
	for _, d := range conns {
		drain(d.nc, d.closed)
	}
	if b.Conn != nil {
		drain(b.Conn, b.closed)
	}
	for _, f := range b.onClose {
		f()
	}
	b.onClose = nil
}
