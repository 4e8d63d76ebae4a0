package grpcx

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// callLevel is the level a finished call is logged at: expected outcomes at
// debug, the server's own failures at error, the rest at warn.
func callLevel(c codes.Code) slog.Level {
	switch c {
	case codes.OK, codes.Canceled, codes.NotFound, codes.InvalidArgument, codes.AlreadyExists, codes.Unauthenticated, codes.PermissionDenied, codes.FailedPrecondition:
		return slog.LevelDebug
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return slog.LevelError
	}
	return slog.LevelWarn
}

// callLog logs every finished call at callLevel. Its fields are the ones
// go-grpc-middleware's logging interceptor wrote, but they are built only
// for a line that is written: that interceptor built them on every call,
// 3-4 % of the all-in-one's CPU per chat turn for lines a level then drops.
type callLog struct{ log *slog.Logger }

func (l callLog) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	l.finished(ctx, info.FullMethod, "unary", start, err)
	return resp, err
}

func (l callLog) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	err := h(srv, ss)
	kind := "bidi_stream"
	switch {
	case !info.IsClientStream && info.IsServerStream:
		kind = "server_stream"
	case info.IsClientStream && !info.IsServerStream:
		kind = "client_stream"
	}
	l.finished(ss.Context(), info.FullMethod, kind, start, err)
	return err
}

func (l callLog) finished(ctx context.Context, method, kind string, start time.Time, err error) {
	code := status.Code(err)
	lvl := callLevel(code)
	if !l.log.Enabled(ctx, lvl) {
		return
	}
	service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	attrs := []any{"protocol", "grpc", "grpc.component", "server", "grpc.service", service, "grpc.method", name,
		"grpc.method_type", kind, "grpc.start_time", start.Format(time.RFC3339)}
	if p, ok := peer.FromContext(ctx); ok {
		attrs = append(attrs, "peer.address", p.Addr.String())
	}
	if d, ok := ctx.Deadline(); ok {
		attrs = append(attrs, "grpc.request.deadline", d.Format(time.RFC3339))
	}
	attrs = append(attrs, "grpc.code", code.String())
	if err != nil {
		attrs = append(attrs, "grpc.error", err.Error())
	}
	attrs = append(attrs, "grpc.time_ms", float64(time.Since(start).Microseconds())/1000)
	l.log.Log(ctx, lvl, "finished call", attrs...)
}
