package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/httpx"
	"github.com/botserver-go/botserver-go/botstate/natsembed"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

const slowFor = 1500 * time.Millisecond

// slowService answers one gRPC method and one HTTP route, each slowly, so a
// test can have requests in flight when SIGTERM arrives.
func slowService(httpAddr string) *app.Service {
	return &app.Service{
		Name:    "botslow",
		Health:  "test.Slow",
		Schemas: []pg.Schema{{Name: "slow"}},
		Setup: func(_ context.Context, env *app.Env) error {
			env.GRPC.RegisterService(&grpc.ServiceDesc{
				ServiceName: "test.Slow", HandlerType: (*any)(nil),
				Methods: []grpc.MethodDesc{{MethodName: "Wait", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
					if err := dec(&emptypb.Empty{}); err != nil {
						return nil, err
					}
					time.Sleep(slowFor)
					return &emptypb.Empty{}, nil
				}}},
			}, struct{}{})
			srv := httpx.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				time.Sleep(slowFor)
				_, _ = io.WriteString(w, "done")
			}))
			if _, err := srv.Listen(httpAddr); err != nil {
				return err
			}
			return env.AddUnit(srv.Unit("http"))
		},
	}
}

func TestMain(m *testing.M) {
	if addr := os.Getenv("SLOW_CHILD_HTTP"); addr != "" {
		if err := app.Run(context.Background(), nil, app.Options{EmbedNATS: natsembed.Connect}, slowService(addr)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSIGTERMUnderLoad: readiness flips first, in-flight requests finish,
// the process exits 0 within the deadline.
func TestSIGTERMUnderLoad(t *testing.T) {
	grpcAddr, opsAddr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	const drain = 700 * time.Millisecond
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"SLOW_CHILD_HTTP="+httpAddr, "GRPC_ADDR="+grpcAddr, "OPS_ADDR="+opsAddr,
		"DATABASE_URL="+testutil.NewDatabase(t), "NATS_URL=", "REDIS_URL=", "DATA_DIR="+t.TempDir(),
		"DRAIN_DELAY="+drain.String(), "SHUTDOWN_TIMEOUT=10s", "LOG_LEVEL=warn")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	readyz := "http://" + opsAddr + "/readyz"
	deadline := time.Now().Add(20 * time.Second)
	for status(readyz) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("child never became ready; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	health := healthpb.NewHealthClient(cc)
	if st, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "test.Slow"}); err != nil || st.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before: %v %v", st, err)
	}

	// Load: 16 HTTP and 16 gRPC slow requests in flight.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(s string) { mu.Lock(); failures = append(failures, s); mu.Unlock() }
	for i := 0; i < 16; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + httpAddr + "/")
			if err != nil {
				fail("http: " + err.Error())
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "done" {
				fail(fmt.Sprintf("http: %d %q", resp.StatusCode, body))
			}
		}()
		go func() {
			defer wg.Done()
			if err := cc.Invoke(context.Background(), "/test.Slow/Wait", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
				fail("grpc: " + err.Error())
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the requests reach their handlers
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// Readiness flips first: within the drain delay, while requests are in flight.
	for status(readyz) != http.StatusServiceUnavailable {
		if time.Since(sent) > drain {
			t.Fatalf("/readyz still not 503 after the drain delay")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "test.Slow"})
	if err != nil || st.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health during drain: %v %v", st, err)
	}

	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("in-flight requests failed: %v\nstderr:\n%s", failures, stderr.String())
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within the deadline; stderr:\n%s", stderr.String())
	}
}
