package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/botserver-go/botserver-go/botauto"
	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botauto/bots"
	"github.com/botserver-go/botserver-go/botauto/runtime"
	"github.com/botserver-go/botserver-go/botauto/server"
	"github.com/botserver-go/botserver-go/botauto/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

const (
	orgA = authz.DefaultOrgID
	orgB = "00000000-0000-4000-8000-00000000000b"
)

// env is one database and a folder of packages; replicas are servers on it.
type env struct {
	t    *testing.T
	url  string
	dir  string
	pool *pgxpool.Pool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := testutil.NewDatabase(t)
	svc := botauto.Service()
	if _, err := pg.Migrate(context.Background(), url, svc.Schemas[0]); err != nil {
		t.Fatal(err)
	}
	pool, err := pg.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &env{t: t, url: url, dir: t.TempDir(), pool: pool}
}

// write puts a file into bot's package, relative to the package root.
func (e *env) write(bot, rel, content string) {
	e.t.Helper()
	p := filepath.Join(e.dir, bot+".gbai", rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) script(bot, name, src string) { e.write(bot, bot+".gbdialog/"+name, src) }

// replica is one botauto process: its own pool, server and gRPC listener.
type replica struct {
	srv    *server.Server
	client autov1.AutoServiceClient
	stop   func()
}

// replica starts a server; allowPrivate is not needed: bots opt in by config.
func (e *env) replica() *replica {
	e.t.Helper()
	pool, err := pg.Open(context.Background(), e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := server.New(server.Options{
		Store: store.New(pool), Source: bots.Dir{Root: e.dir, Org: orgA},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HTTP: runtime.NewHTTP(5 * time.Second),
		Limits: vm.Limits{MaxSteps: 100_000, MaxDuration: 5 * time.Second},
		// Long enough that a slow machine cannot turn a cache hit into a read.
		VersionFresh: time.Minute,
	})
	// Until botauth's interceptor is wired, the test plays it: the org and
	// kind come from metadata the test client sets.
	inject := func(ctx context.Context) context.Context {
		md, _ := metadata.FromIncomingContext(ctx)
		id := &authz.Identity{Kind: authz.KindService, Subject: "test", OrgID: first(md["test-org"])}
		if k := first(md["test-kind"]); k != "" {
			id.Kind = authz.Kind(k)
		}
		if id.OrgID == "" {
			return ctx
		}
		return authz.WithIdentity(ctx, id)
	}
	gs := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(inject(ctx), req)
		}),
		grpc.StreamInterceptor(func(s any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(s, &wrapped{ss, inject(ss.Context())})
		}),
	)
	autov1.RegisterAutoServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go gs.Serve(lis)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	r := &replica{srv: srv, client: autov1.NewAutoServiceClient(cc)}
	r.stop = func() { cc.Close(); gs.Stop(); pool.Close() }
	e.t.Cleanup(r.stop)
	return r
}

type wrapped struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrapped) Context() context.Context { return w.ctx }

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func as(org string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "test-org", org)
}

// turn is what one Converse call returned.
type turn struct {
	outs []*autov1.Output
	end  *autov1.TurnEnd
}

// talk returns the texts of talk outputs.
func (t turn) talk() []string {
	var out []string
	for _, o := range t.outs {
		if o.Kind == "talk" {
			out = append(out, o.Text)
		}
	}
	return out
}

func (r *replica) say(t *testing.T, ctx context.Context, bot, conv, input string) turn {
	t.Helper()
	tr, err := r.converse(ctx, &autov1.ConverseRequest{Bot: bot, ConversationId: conv, Input: input, UserId: "u1"})
	if err != nil {
		t.Fatalf("converse %q: %v", input, err)
	}
	return tr
}

func (r *replica) converse(ctx context.Context, req *autov1.ConverseRequest) (turn, error) {
	st, err := r.client.Converse(ctx, req)
	if err != nil {
		return turn{}, err
	}
	var tr turn
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return tr, nil
		}
		if err != nil {
			return tr, err
		}
		if o := m.GetOutput(); o != nil {
			tr.outs = append(tr.outs, o)
		}
		if e := m.GetEnd(); e != nil {
			tr.end = e
		}
	}
}
