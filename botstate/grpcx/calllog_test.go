package grpcx_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/botserver-go/botserver-go/botstate/grpcx"
)

// records keeps what a logger wrote, each record's attributes by key.
type records struct {
	mu    sync.Mutex
	level slog.Level
	got   []map[string]string
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{"msg": rec.Message, "level": rec.Level.String()}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) finished() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, m := range r.got {
		if m["msg"] == "finished call" {
			out = append(out, m)
		}
	}
	return out
}

// A finished call is logged at its code's level, with the call's fields,
// and not at all when that level is off.
func TestFinishedCallsAreLoggedAtTheirLevel(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		rec := &records{level: level}
		s := grpcx.NewServer(grpcx.ServerOptions{Log: slog.New(rec), DefaultTimeout: time.Minute})
		s.RegisterService(probe, struct{}{})
		cc := localConn(t, s, time.Minute)
		ctx := context.Background()
		if err := cc.Invoke(ctx, "/test.Probe/Deadline", &emptypb.Empty{}, &durationpb.Duration{}); err != nil {
			t.Fatal(err)
		}
		_ = cc.Invoke(ctx, "/test.Probe/Panic", &emptypb.Empty{}, &emptypb.Empty{})

		got := rec.finished()
		want := 1 // the Internal error only
		if level == slog.LevelDebug {
			want = 2
		}
		if len(got) != want {
			t.Fatalf("level %s: %d finished-call lines, want %d: %v", level, len(got), want, got)
		}
		last := got[len(got)-1]
		if last["level"] != "ERROR" || last["grpc.code"] != "Internal" || last["grpc.service"] != "test.Probe" ||
			last["grpc.method"] != "Panic" || last["grpc.method_type"] != "unary" || last["grpc.error"] == "" ||
			last["grpc.request.deadline"] == "" || last["peer.address"] == "" || last["grpc.time_ms"] == "" {
			t.Fatalf("level %s: the failed call's line: %v", level, last)
		}
		if level == slog.LevelDebug && (got[0]["level"] != "DEBUG" || got[0]["grpc.code"] != "OK" || got[0]["grpc.method"] != "Deadline") {
			t.Fatalf("the OK call's line: %v", got[0])
		}
	}
}
