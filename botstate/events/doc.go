// Package events moves domain events from a service's Postgres schema to the
// services that react to them, over NATS JetStream.
//
// The path of an event:
//
//	Write (in the caller's tx) → <schema>.outbox → Relay → stream BOT_<SVC> → Consumer → Handler (in a tx)
//
// What each hop guarantees:
//
//   - Write inserts the event in the same transaction as the change it
//     describes: the event exists if and only if the change committed. Its id
//     is a UUIDv7, so ids sort by creation time.
//   - The Relay publishes unpublished rows with Nats-Msg-Id = event id, waits
//     for JetStream's ack, and only then marks them published. A relay that
//     dies between the two publishes the rows again after restart (or another
//     replica does): publishing is at-least-once. Replicas share the outbox
//     safely (SELECT … FOR UPDATE SKIP LOCKED).
//   - JetStream drops a republished event whose Nats-Msg-Id it has seen within
//     the stream's duplicate window (2 minutes by default), so in the common
//     case a crash costs nothing downstream.
//   - Beyond the window a duplicate reaches consumers, and a consumer may also
//     see an event twice when its ack is lost. The Consumer therefore records
//     (durable, event id) in <schema>.processed_events in the same transaction
//     as the Handler's own writes: an event's effect happens once, however
//     often it is delivered. Handlers must keep their side effects inside that
//     transaction (or make them idempotent themselves) to keep this property.
//   - A handler error (or panic) is retried with back-off (NakWithDelay);
//     after MaxDeliver deliveries the message is copied to bot.dlq.<durable>
//     (stream BOT_DLQ) with the error, and terminated so it is not delivered
//     again. A message whose deliveries ran out without an answer (the
//     process crashed in the handler) is dead-lettered without running it
//     again. While Postgres itself is unreachable the consumer holds the
//     message and waits instead, so an outage does not fill the DLQ.
//
// Subjects are bot.<svc>.<entity>.<verb>; each service has one stream, BOT_<SVC>,
// holding bot.<svc>.>. Consumers are durable pull consumers named
// <consumer>_<purpose>, for example audit_log or tasks_on_file_changed.
// Payloads are protobuf messages; their full name travels in the
// Bot-Event-Type header. The OpenTelemetry context travels in the headers too,
// so a consumer's span continues the producer's trace.
package events
