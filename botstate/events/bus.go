package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	b := &Bus{URL: url, closed: make(chan struct{})}
	opts := append([]nats.Option{
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
	}, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats at %s: %w", config.Redact(url), err)
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

// OnClose registers f to run after Close has closed the connection, such as
// shutting down an embedded server.
func (b *Bus) OnClose(f func()) { b.onClose = append(b.onClose, f) }

// Close drains the connection (pending publishes and acks go out), then runs
// the OnClose functions.
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
	for _, f := range b.onClose {
		f()
	}
	b.onClose = nil
}
