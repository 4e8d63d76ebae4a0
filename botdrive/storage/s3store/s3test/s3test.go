// Package s3test runs a real S3 server (versitygw, a single static Go
// binary) for tests: installed once per machine with `go install` into the
// tools cache (~/.cache/botserver-go/tools/bin, the same place `make
// tools-drive` puts it), then started per test on a free loopback port with
// a temporary folder behind it.
package s3test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botdrive/storage/s3store"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// Version is the versitygw release the tests run; mk/drive.mk pins the same.
const Version = "v1.8.0"

const pkg = "github.com/versity/versitygw/cmd/versitygw"

// Credentials of the test server's root account.
const (
	AccessKey = "botserver-test"
	SecretKey = "botserver-test-secret"
)

// Server is a running S3 server.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	Dir      string // the folder behind it: one sub-folder per bucket
}

// Config returns a store configuration for bucket on this server.
func (s *Server) Config(bucket string) s3store.Config {
	return s3store.Config{
		Endpoint: s.Endpoint, Region: "us-east-1", Bucket: bucket,
		AccessKeyID: AccessKey, SecretAccessKey: SecretKey, ForcePathStyle: true, CreateBucket: true,
	}
}

// Open opens a store on a new bucket of this server.
func (s *Server) Open(t testing.TB, bucket string, mod func(*s3store.Config)) *s3store.Store {
	t.Helper()
	cfg := s.Config(bucket)
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s3store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("s3test: open bucket %s: %v", bucket, err)
	}
	return st
}

// ToolsBin is where the binary is cached (TOOLS_BIN overrides).
func ToolsBin() string {
	if d := os.Getenv("TOOLS_BIN"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "botserver-go", "tools", "bin")
}

// Binary returns the versitygw binary, installing it first if needed. The
// install takes a few minutes once per machine; concurrent test processes
// wait for one another through a lock file.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p
	}
	dir := ToolsBin()
	bin := filepath.Join(dir, "versitygw")
	stamp := filepath.Join(dir, ".stamp-versitygw-"+Version)
	if ok(bin, stamp) {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".versitygw.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("s3test: lock: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if ok(bin, stamp) {                                  // another process installed it meanwhile
		return bin
	}
	t.Logf("s3test: installing %s@%s into %s (once per machine; takes a few minutes)", pkg, Version, dir)
	tmp, err := os.MkdirTemp(dir, ".versitygw-install-")
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", pkg+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("s3test: the S3 test server could not be installed (go install %s@%s: %v).\n"+
			"Run `make tools-drive` to see why, or set VERSITYGW to a versitygw binary.\n%s", pkg, Version, err, tail(out))
	}
	if err := os.Rename(filepath.Join(tmp, "versitygw"), bin); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, ".stamp-versitygw-*"))
	for _, o := range old {
		os.Remove(o)
	}
	if err := os.WriteFile(stamp, nil, 0o644); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	return bin
}

func ok(bin, stamp string) bool {
	_, e1 := os.Stat(bin)
	_, e2 := os.Stat(stamp)
	return e1 == nil && e2 == nil
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// Start runs a fresh S3 server for the test and stops it at the end.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	logf, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--port", addr, "--quiet", "posix", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("s3test: start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("s3test: versitygw exited at start:\n%s", tail(b))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("s3test: versitygw did not listen on %s within 20s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Server{Endpoint: "http://" + addr, Dir: dir}
}

// Bucket makes a bucket name unique to the test.
func Bucket(t testing.TB) string {
	n := strings.ToLower(t.Name())
	var b strings.Builder
	for _, r := range n {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	return fmt.Sprintf("t-%s-%d", strings.Trim(s, "-"), time.Now().UnixNano()%1e9)
}
