package events

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DLQStream holds bot.dlq.<durable>: messages a consumer gave up on.
const (
	DLQStream        = "BOT_DLQ"
	dlqSubjectPrefix = "bot.dlq."
)

// StreamOptions tune a stream; the zero value is the production default.
type StreamOptions struct {
	// Duplicates is JetStream's dedupe window for Nats-Msg-Id: a relay that
	// republishes within it costs nothing downstream. Default 2m; at least 100ms.
	Duplicates time.Duration
	// MaxAge is how long messages stay in the stream, for consumers that are
	// down or added later. Default 7 days (30 days for the DLQ).
	MaxAge time.Duration
	// Replicas in a NATS cluster. Default 1.
	Replicas int
}

var svcName = regexp.MustCompile(`^[a-z][a-z0-9]{0,30}$`)

// StreamName is the stream of a service: BOT_<SVC>.
func StreamName(svc string) string { return "BOT_" + strings.ToUpper(svc) }

// EnsureStream creates or updates the stream BOT_<SVC> holding bot.<svc>.>.
// Every replica may call it at start; the configuration is the same.
func EnsureStream(ctx context.Context, js jetstream.JetStream, svc string, opts ...StreamOptions) (jetstream.Stream, error) {
	if !svcName.MatchString(svc) || svc == "dlq" {
		return nil, fmt.Errorf("events: service name %q: use lower-case letters and digits (not dlq)", svc)
	}
	return ensure(ctx, js, streamConfig(svc, first(opts)))
}

func streamConfig(svc string, o StreamOptions) jetstream.StreamConfig {
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	return streamSpec(StreamName(svc), "bot."+svc+".>", o)
}

// ensureDLQ creates the dead-letter stream; consumers call it at start.
func ensureDLQ(ctx context.Context, js jetstream.JetStream) error {
	_, err := ensure(ctx, js, streamSpec(DLQStream, dlqSubjectPrefix+">", StreamOptions{MaxAge: 30 * 24 * time.Hour}))
	return err
}

func streamSpec(name, subject string, o StreamOptions) jetstream.StreamConfig {
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	return jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{subject},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy, // consumers come and go; the stream keeps history
		Discard:    jetstream.DiscardOld,
		MaxAge:     o.MaxAge,
		Duplicates: o.Duplicates,
		Replicas:   o.Replicas,
	}
}

func ensure(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("events: stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// ensureExists makes a consumer independent of start order: a consumer of
// BOT_DRIVE may start before botdrive has ever run. It creates the stream with
// defaults only when missing, so it never overrides the owner's settings.
func ensureExists(ctx context.Context, js jetstream.JetStream, stream string) error {
	_, err := js.Stream(ctx, stream)
	if err == nil || !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	svc, ok := strings.CutPrefix(stream, "BOT_")
	svc = strings.ToLower(svc)
	if !ok || !svcName.MatchString(svc) || svc == "dlq" {
		return fmt.Errorf("events: stream %s does not exist", stream)
	}
	_, err = js.CreateStream(ctx, streamConfig(svc, StreamOptions{}))
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		err = nil // the owner (or another replica) just made it
	}
	return err
}

func first(opts []StreamOptions) StreamOptions {
	if len(opts) > 0 {
		return opts[0]
	}
	return StreamOptions{}
}
