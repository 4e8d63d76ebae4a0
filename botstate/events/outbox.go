package events

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botstate/pg"
)

// HeaderEventType carries the protobuf full name of an event's payload.
const HeaderEventType = "Bot-Event-Type"

// MaxPayload is the largest payload Write accepts: NATS's default max_payload
// (1 MiB) less room for headers. A bigger row could never be published and
// would hold up the outbox, so it is refused when written.
const MaxPayload = 1<<20 - 16<<10

// Event is one domain event. Set Payload (the usual case) or Data, not both.
type Event struct {
	Subject string            // bot.<svc>.<entity>.<verb>
	Payload proto.Message     // marshalled; its full name goes in Bot-Event-Type
	Data    []byte            // raw payload when there is no proto message
	Headers map[string]string // extra headers; Nats-* names are reserved
}

var schemaName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,55}$`) // +"_outbox" fits a Postgres channel name

func checkSchema(schema string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("events: schema name %q: use lower-case letters, digits and _ (at most 56)", schema)
	}
	return nil
}

// notifyChannel is the channel Write notifies and the relay listens on.
func notifyChannel(schema string) string { return schema + "_outbox" }

// CheckSubject returns an error unless s is a publishable event subject: bot.-prefixed
// dot-separated tokens, none empty, no wildcards or white space.
func CheckSubject(s string) error {
	if !strings.HasPrefix(s, "bot.") {
		return fmt.Errorf("events: subject %q must start with bot.", s)
	}
	if strings.HasPrefix(s, dlqSubjectPrefix) {
		return fmt.Errorf("events: subject %q: bot.dlq. is reserved for dead letters", s)
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n*>") {
			return fmt.Errorf("events: subject %q: empty token, wildcard or white space", s)
		}
	}
	return nil
}

// Write adds ev to <schema>.outbox inside tx, so the event is published if and
// only if tx commits. It returns the event id, which becomes Nats-Msg-Id.
// The trace context of ctx is stored in the headers so the consumer's work
// joins the same trace.
func Write(ctx context.Context, tx pgx.Tx, schema string, ev Event) (uuid.UUID, error) {
	if err := checkSchema(schema); err != nil {
		return uuid.Nil, err
	}
	if err := CheckSubject(ev.Subject); err != nil {
		return uuid.Nil, err
	}
	headers := make(map[string]string, len(ev.Headers)+3)
	for k, v := range ev.Headers {
		if strings.HasPrefix(strings.ToLower(k), "nats-") {
			return uuid.Nil, fmt.Errorf("events: header %q: Nats-* headers are reserved", k)
		}
		if k == "" || strings.ContainsAny(k, ": \r\n") || strings.ContainsAny(v, "\r\n") {
			return uuid.Nil, fmt.Errorf("events: header %q: invalid name or value", k)
		}
		headers[k] = v
	}
	data := ev.Data
	switch {
	case ev.Payload != nil && ev.Data != nil:
		return uuid.Nil, errors.New("events: set Payload or Data, not both")
	case ev.Payload != nil:
		var err error
		if data, err = proto.Marshal(ev.Payload); err != nil {
			return uuid.Nil, fmt.Errorf("events: marshal %s: %w", ev.Subject, err)
		}
		headers[HeaderEventType] = string(ev.Payload.ProtoReflect().Descriptor().FullName())
	case data == nil:
		data = []byte{} // payload is NOT NULL
	}
	if len(data) > MaxPayload {
		return uuid.Nil, fmt.Errorf("events: %s payload is %d bytes; the limit is %d", ev.Subject, len(data), MaxPayload)
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(headers))
	id, err := uuid.NewV7() // time-ordered: cheap index appends, and retention can range-scan the primary key
	if err != nil {
		return uuid.Nil, err
	}
	// One round trip: the CTE's INSERT runs even though nothing reads it.
	// Postgres delivers the notification at commit (and folds repeats within
	// a transaction into one), so the relay wakes exactly when there is work.
	q := `WITH ins AS (INSERT INTO ` + pg.Ident(schema) + `.outbox (id, subject, payload, headers) VALUES ($1, $2, $3, $4))
		SELECT pg_notify($5, '')`
	if _, err := tx.Exec(ctx, q, id, ev.Subject, data, headers, notifyChannel(schema)); err != nil {
		return uuid.Nil, fmt.Errorf("events: write %s to %s.outbox: %w", ev.Subject, schema, err)
	}
	return id, nil
}
