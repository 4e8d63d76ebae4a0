package botserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/botserver-go/botserver-go/botstate/testutil"
)

var allSchemas = []string{"auth", "auto", "chat", "compliance", "core", "drive", "kb", "llm", "mail", "meet", "people", "tasks"}

// bins holds binaries built once for the package's tests, with the flags
// the Makefile and the Dockerfile use.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "botserver-e2e")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for name, args := range map[string][]string{
			"botserver":         {"./cmd/botserver"},
			"botserver-minimal": {"-tags", "minimal", "./cmd/botserver"},
			"botchat":           {"github.com/botserver-go/botserver-go/botchat/cmd/botchat"},
		} {
			out := filepath.Join(dir, name)
			cmd := exec.Command("go", append([]string{"build", "-trimpath", "-o", out}, args...)...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, b)
				return 1
			}
			bins[name] = out
		}
		return m.Run()
	}()
	os.Exit(code)
}

// env is a complete environment for a binary under test: its own database,
// free ports, an embedded NATS (NATS_URL unset) unless nats is given.
func env(t *testing.T, dbURL string, extra ...string) []string {
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + dbURL, "DATA_DIR=" + t.TempDir(), "LOG_LEVEL=info",
		"GRPC_ADDR=" + testutil.FreeAddr(t), "OPS_ADDR=" + testutil.FreeAddr(t), "PUBLIC_ADDR=" + testutil.FreeAddr(t), "DRAIN_DELAY=0s"}
	return append(base, extra...)
}

func get(e []string, key string) string {
	for _, kv := range e {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

func run(t *testing.T, e []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bins[bin], args...)
	cmd.Env = e
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
	return string(out)
}

// start runs a binary in the background and stops it with SIGTERM at the end,
// failing the test if it does not exit 0.
func start(t *testing.T, e []string, bin string, args ...string) *strings.Builder {
	t.Helper()
	cmd := exec.Command(bins[bin], args...)
	cmd.Env = e
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exit after SIGTERM: %v\n%s", bin, err, logs)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop within 30s\n%s", bin, logs)
		}
	})
	return logs
}

type schemaState struct{ tables, versions map[string]string }

// schemas lists the non-system schemas of a database with their tables and
// migration versions.
func schemas(t *testing.T, dbURL string) schemaState {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	st := schemaState{tables: map[string]string{}, versions: map[string]string{}}
	rows, err := conn.Query(ctx, `SELECT n.nspname, coalesce(string_agg(c.relname, ',' ORDER BY c.relname), '')
		FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind = 'r'
		WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT IN ('information_schema', 'public')
		GROUP BY n.nspname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n, tables string
		if err := rows.Scan(&n, &tables); err != nil {
			t.Fatal(err)
		}
		st.tables[n] = tables
	}
	for n := range st.tables {
		var v int64
		var dirty bool
		err := conn.QueryRow(ctx, `SELECT version, dirty FROM `+pgx.Identifier{n, "schema_migrations"}.Sanitize()).Scan(&v, &dirty)
		if err != nil {
			t.Fatalf("schema %s has no migrations table of its own: %v", n, err)
		}
		st.versions[n] = fmt.Sprintf("%d dirty=%v", v, dirty)
	}
	return st
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestServiceBinaryAloneCreatesOnlyItsSchema(t *testing.T) {
	db := testutil.NewDatabase(t)
	// A service binary needs a real NATS: without NATS_URL it refuses to start.
	cmd := exec.Command(bins["botchat"])
	cmd.Env = env(t, db)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "NATS_URL is not set") {
		t.Fatalf("botchat without NATS_URL: %v %s", err, out)
	}
	e := env(t, db, "NATS_URL="+testutil.NewNATS(t).URL)
	start(t, e, "botchat")
	waitReady(t, "http://"+get(e, "OPS_ADDR")+"/readyz", 20*time.Second)
	if got := keys(schemas(t, db).tables); strings.Join(got, ",") != "chat" {
		t.Fatalf("botchat created schemas %v, want only chat", got)
	}
}

func TestAllInOneMigratesOneSchemaPerServiceAndTwiceIsNoOp(t *testing.T) {
	db := testutil.NewDatabase(t)
	e := env(t, db)
	run(t, e, "botserver", "--services=all", "migrate")
	first := schemas(t, db)
	if got := keys(first.tables); strings.Join(got, ",") != strings.Join(allSchemas, ",") {
		t.Fatalf("schemas %v, want %v", got, allSchemas)
	}
	// Every schema has the platform's base tables next to the service's own.
	for n, tables := range first.tables {
		have := map[string]bool{}
		for _, tb := range strings.Split(tables, ",") {
			have[tb] = true
		}
		if !have["outbox"] || !have["processed_events"] || !have["schema_migrations"] {
			t.Errorf("schema %s tables: %s", n, tables)
		}
	}
	out := run(t, e, "botserver", "--services=all", "migrate")
	if c := strings.Count(out, "schema up to date"); c != len(allSchemas) {
		t.Errorf("second run: %d schemas up to date, want %d\n%s", c, len(allSchemas), out)
	}
	second := schemas(t, db)
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatalf("second run changed the database:\n%v\n%v", first, second)
	}
}

func TestMinimalBuildRunsOnlyTheChatSet(t *testing.T) {
	db := testutil.NewDatabase(t)
	e := env(t, db)
	run(t, e, "botserver-minimal", "--services=all", "migrate")
	want := "auth,auto,chat,core,drive,kb,llm"
	if got := strings.Join(keys(schemas(t, db).tables), ","); got != want {
		t.Fatalf("minimal build created %s, want %s", got, want)
	}
	cmd := exec.Command(bins["botserver-minimal"], "--services=mail", "migrate")
	cmd.Env = e
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not compiled-in") {
		t.Fatalf("minimal build accepted botmail: %v %s", err, out)
	}
}

func waitReady(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s", url, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type healthz struct {
	Status   string `json:"status"`
	Services []struct {
		Name, Service, Status string
	} `json:"services"`
}

// TestAllInOneServesHealthAndReflection is what `make run` promises:
// /healthz lists 12 services SERVING within 15 s of start, and server
// reflection lists every service's health and API.
func TestAllInOneServesHealthAndReflection(t *testing.T) {
	e := env(t, testutil.NewDatabase(t))
	t0 := time.Now()
	logs := start(t, e, "botserver", "--services=all")
	url := "http://" + get(e, "PUBLIC_ADDR") + "/healthz"
	var h healthz
	for {
		resp, err := http.Get(url)
		if err == nil {
			h = healthz{}
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if resp.StatusCode == 200 && h.Status == "ok" {
				break
			}
		}
		if time.Since(t0) > 15*time.Second {
			t.Fatalf("/healthz not ok within 15s: %+v\n%s", h, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("healthy after %s", time.Since(t0).Round(time.Millisecond))
	serving := 0
	for _, s := range h.Services {
		if s.Status == "SERVING" {
			serving++
		}
	}
	if serving != 12 || len(h.Services) != 12 {
		t.Fatalf("healthz: %d of %d SERVING, want 12 of 12: %+v", serving, len(h.Services), h)
	}

	cc, err := grpc.NewClient(get(e, "GRPC_ADDR"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		listed[s.Name] = true
	}
	want := []string{"grpc.health.v1.Health"}
	for _, s := range h.Services {
		want = append(want, s.Service)
	}
	for _, w := range want {
		if !listed[w] {
			t.Errorf("reflection does not list %s (has %v)", w, keys(boolKeys(listed)))
		}
	}
	// Logs are JSON lines, one object each, for log pipelines.
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		if line := sc.Text(); line != "" && !json.Valid([]byte(line)) {
			t.Fatalf("log line is not JSON: %s", line)
		}
	}
}

func boolKeys(m map[string]bool) map[string]string {
	out := map[string]string{}
	for k := range m {
		out[k] = ""
	}
	return out
}
