package grpcx

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/botserver-go/botserver-go/botstate/logx"
)

// requestIDKey carries the gateway's request id from service to service, so
// one user request can be followed through every service's logs.
const requestIDKey = "x-request-id"

func withOutgoingRequestID(ctx context.Context) context.Context {
	if id := logx.RequestID(ctx); id != "" {
		return metadata.AppendToOutgoingContext(ctx, requestIDKey, id)
	}
	return ctx
}

// incomingRequestID puts a well-formed incoming request id into ctx; a
// malformed one is dropped rather than logged.
func incomingRequestID(ctx context.Context) context.Context {
	if v := metadata.ValueFromIncomingContext(ctx, requestIDKey); len(v) == 1 && logx.ValidRequestID(v[0]) {
		return logx.WithRequestID(ctx, v[0])
	}
	return ctx
}

func requestIDUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(incomingRequestID(ctx), req)
}

type idStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s idStream) Context() context.Context { return s.ctx }

func requestIDStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, idStream{ss, incomingRequestID(ss.Context())})
}
