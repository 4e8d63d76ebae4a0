package s3store_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botdrive/storage/s3store"
	"github.com/botserver-go/botserver-go/botdrive/storage/s3store/s3test"
	"github.com/botserver-go/botserver-go/botdrive/storage/storagetest"
)

// The contract suite against a real S3 server process (versitygw), with the
// part size at S3's minimum so the large objects go up as multipart uploads.
func TestContract(t *testing.T) {
	srv := s3test.Start(t)
	for _, prefix := range []string{"", "tenant-data/"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store {
				return srv.Open(t, s3test.Bucket(t), func(c *s3store.Config) {
					c.PartSize = 5 << 20
					c.Prefix = prefix
				})
			}, storagetest.Options{LargeSize: 6 << 20})
		})
	}
}

func TestPresignedURLs(t *testing.T) {
	srv := s3test.Start(t)
	s := srv.Open(t, s3test.Bucket(t), nil)
	ctx := context.Background()
	put, err := s.PresignPut(ctx, "org/b.gbai/up.txt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, put, strings.NewReader("uploaded directly"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned put: %v %v", resp, err)
	}
	resp.Body.Close()
	get, err := s.PresignGet(ctx, "org/b.gbai/up.txt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(get)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "uploaded directly" {
		t.Fatalf("presigned get: %d %q", resp.StatusCode, b)
	}
	// A tampered URL is refused by the server.
	resp, err = http.Get(strings.Replace(get, "up.txt", "other.txt", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered presigned URL: %d", resp.StatusCode)
	}
	// With a content type: the answer carries it (whatever was stored), and
	// it is signed: another one in the URL is refused.
	as, err := s.PresignGetAs(ctx, "org/b.gbai/up.txt", time.Minute, "text/plain; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(as)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "uploaded directly" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("presigned get with a content type: %d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(as, "response-content-type=text%2Fplain") {
		t.Fatalf("no response-content-type in %s", as)
	}
	resp, err = http.Get(strings.Replace(as, "response-content-type=text%2Fplain", "response-content-type=text%2Fhtml", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("presigned get with its content type changed: %d", resp.StatusCode)
	}
}

func TestOpenFailsClearly(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	cfg := srv.Config("missing-bucket")
	cfg.CreateBucket = false
	if _, err := s3store.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "missing-bucket") {
		t.Fatalf("missing bucket: %v", err)
	}
	cfg = srv.Config("b")
	cfg.SecretAccessKey = "wrong"
	if _, err := s3store.Open(ctx, cfg); err == nil {
		t.Fatal("wrong secret accepted")
	}
	cfg = srv.Config("b")
	cfg.Endpoint = "ftp://x"
	if _, err := s3store.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "S3_ENDPOINT") {
		t.Fatalf("bad endpoint: %v", err)
	}
}
