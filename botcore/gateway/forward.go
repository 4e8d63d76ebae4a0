package gateway

import (
	"context"
	"net"
	"net/http"

	"google.golang.org/grpc/metadata"
)

// Forward returns the request's context carrying, as outgoing gRPC
// metadata, the caller's bearer token (the Authorization header, or the
// token query parameter when queryToken allows it: browsers cannot set
// headers on a WebSocket) and the client's address. The backend verifies
// the token; the gateway never does.
func Forward(r *http.Request, queryToken bool) context.Context {
	ctx := r.Context()
	var kv []string
	if a := r.Header.Get("Authorization"); a != "" {
		kv = append(kv, "authorization", a)
	} else if t := r.URL.Query().Get("token"); queryToken && t != "" {
		kv = append(kv, "authorization", "Bearer "+t)
	}
	if ip := ClientIP(ctx); ip.IsValid() {
		kv = append(kv, "x-forwarded-for", ip.String())
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		kv = append(kv, "x-forwarded-for", host)
	}
	if len(kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}
