package logx

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestRecordsCarryRequestAndTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "json", "debug")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(WithRequestID(context.Background(), "req-7"),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	log.With("svc", "x").InfoContext(ctx, "hello")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %s", buf.String())
	}
	for k, want := range map[string]string{"request_id": "req-7", "trace_id": tid.String(), "span_id": sid.String(), "svc": "x", "msg": "hello"} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %s", k, rec[k], want)
		}
	}
	buf.Reset()
	log.Info("no context")
	if bytes.Contains(buf.Bytes(), []byte("request_id")) || bytes.Contains(buf.Bytes(), []byte("trace_id")) {
		t.Errorf("ids without a context: %s", buf.String())
	}
	buf.Reset()
	New(&buf, "json", "warn").Info("dropped")
	if buf.Len() != 0 {
		t.Errorf("level not applied: %s", buf.String())
	}
}

func TestValidRequestID(t *testing.T) {
	for id, ok := range map[string]bool{"abc-1.2_3": true, "": false, "a b": false, "x\n": false, string(make([]byte, 65)): false} {
		if ValidRequestID(id) != ok {
			t.Errorf("ValidRequestID(%q) = %v", id, !ok)
		}
	}
}
