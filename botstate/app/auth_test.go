package app_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
)

// whoami answers with "<kind> <org>" of the caller; Relay calls Whoami on
// the same service through env.Clients as a service acting for an org.
func whoamiDesc(clients **grpcx.Clients) *grpc.ServiceDesc {
	unary := func(name string, h func(ctx context.Context) (any, error)) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: name, Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			var in emptypb.Empty
			if err := dec(&in); err != nil {
				return nil, err
			}
			return ic(ctx, &in, &grpc.UnaryServerInfo{FullMethod: "/test.Who/" + name}, func(ctx context.Context, _ any) (any, error) { return h(ctx) })
		}}
	}
	who := func(ctx context.Context) (any, error) {
		id, ok := authz.FromContext(ctx)
		if !ok {
			return wrapperspb.String("anonymous"), nil
		}
		return wrapperspb.String(string(id.Kind) + " " + id.OrgID), nil
	}
	return &grpc.ServiceDesc{ServiceName: "test.Who", HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{
		unary("Whoami", who),
		unary("Unlisted", who),
		unary("Relay", func(ctx context.Context) (any, error) {
			cc, err := (*clients).Conn("whoami")
			if err != nil {
				return nil, err
			}
			var out wrapperspb.StringValue
			err = cc.Invoke(authz.ForOrg(ctx, "0b7c6a4e-1d2f-4e3a-9b8c-7d6e5f4a3b2c"), "/test.Who/Whoami", &emptypb.Empty{}, &out)
			return &out, err
		}),
		unary("RelayPlain", func(ctx context.Context) (any, error) {
			cc, _ := (*clients).Conn("whoami")
			var out wrapperspb.StringValue
			err := cc.Invoke(ctx, "/test.Who/Whoami", &emptypb.Empty{}, &out)
			return &out, err
		}),
	}}
}

// TestEveryServiceIsGuarded: the app framework verifies tokens with the
// configured keys, enforces the service's policy, keeps health public, and
// gives env.Clients service tokens for ForOrg contexts only.
func TestEveryServiceIsGuarded(t *testing.T) {
	iss := authztest.NewIssuer(t)
	org := "6f1d7a8e-8a55-4d5e-9b0e-3f1a2b3c4d5e"
	var clients *grpcx.Clients
	svc := &app.Service{
		Name: "whoami", Health: "test.Who",
		Policy: authz.Policy{
			"/test.Who/Whoami":     {Kinds: []authz.Kind{authz.KindUser, authz.KindService}},
			"/test.Who/Relay":      {Permission: "bots:read"},
			"/test.Who/RelayPlain": {Permission: "bots:read"},
		},
		Setup: func(_ context.Context, env *app.Env) error {
			clients = env.Clients
			env.GRPC.RegisterService(whoamiDesc(&clients), struct{}{})
			return nil
		},
	}
	addrs := apptest.Start(t, iss.Env(), svc)
	cc, err := grpcx.Dial(addrs.GRPC, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	call := func(ctx context.Context, m string) (string, error) {
		var out wrapperspb.StringValue
		err := cc.Invoke(ctx, "/test.Who/"+m, &emptypb.Empty{}, &out)
		return out.Value, err
	}
	ctx := context.Background()
	if st, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: "test.Who"}); err != nil || st.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a token: %v %v", st, err)
	}
	if _, err := call(ctx, "Whoami"); grpcstatus.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	if _, err := call(iss.Context(ctx, authztest.NewIssuer(t).User(org)), "Whoami"); grpcstatus.Code(err) != codes.Unauthenticated {
		t.Fatalf("forged: %v", err)
	}
	user := iss.Context(ctx, iss.User(org, "bots:read"))
	if got, err := call(user, "Whoami"); err != nil || got != "user "+org {
		t.Fatalf("user: %q %v", got, err)
	}
	if _, err := call(user, "Unlisted"); grpcstatus.Code(err) != codes.PermissionDenied {
		t.Fatalf("method missing from the policy: %v", err)
	}
	// The handler calls the service again as itself, for another org.
	if got, err := call(user, "Relay"); err != nil || got != "service 0b7c6a4e-1d2f-4e3a-9b8c-7d6e5f4a3b2c" {
		t.Fatalf("relay as service: %q %v", got, err)
	}
	// Without ForOrg the call carries no token at all.
	if _, err := call(user, "RelayPlain"); grpcstatus.Code(err) != codes.Unauthenticated {
		t.Fatalf("plain relay got an identity: %v", err)
	}
}
