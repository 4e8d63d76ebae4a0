package botserver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botdrive/storage/s3store"
)

const benchSize = 32 << 20

// BenchmarkDriveThroughput compares moving a 32 MiB file through the public
// API (HTTP → gateway → gRPC stream → botdrive, which hashes and sniffs it
// and records metadata → S3) with moving it straight to the same S3 server
// with the same client code and part size. Goal: the API adds ≤ 10 %.
func BenchmarkDriveThroughput(b *testing.B) {
	e := driveAPI(b, "LOG_LEVEL=error")
	data := make([]byte, benchSize)
	rand.Read(data)
	direct, err := s3store.Open(context.Background(), func() s3store.Config {
		c := e.s3.Config("direct-bench")
		c.PartSize = 8 << 20
		return c
	}())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	url := e.base + "/api/v1/bots/bench/files/bench.gbkb/big.bin"
	client := &http.Client{}
	put := func(b *testing.B, i int) {
		req, _ := http.NewRequest("PUT", fmt.Sprintf("%s-%d", url, i%4), bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("upload: %d", res.StatusCode)
		}
	}
	b.Run("upload/api", func(b *testing.B) {
		b.SetBytes(benchSize)
		i := 0
		for b.Loop() {
			data[0] = byte(i) // new content each time: a real write, not "unchanged"
			put(b, i)
			i++
		}
	})
	b.Run("upload/direct-s3", func(b *testing.B) {
		b.SetBytes(benchSize)
		i := 0
		for b.Loop() {
			data[0] = byte(i)
			if _, err := direct.Put(ctx, fmt.Sprintf("bench/big-%d", i%4), bytes.NewReader(data), storage.PutOptions{Size: benchSize}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	put(b, 0)
	if _, err := direct.Put(ctx, "bench/big-0", bytes.NewReader(data), storage.PutOptions{Size: benchSize}); err != nil {
		b.Fatal(err)
	}
	b.Run("download/api", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			req, _ := http.NewRequest("GET", url+"-0", nil)
			req.Header.Set("Authorization", "Bearer "+e.admin)
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if n != benchSize {
				b.Fatalf("downloaded %d bytes", n)
			}
		}
	})
	b.Run("download/direct-s3", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			r, _, err := direct.Get(ctx, "bench/big-0", nil)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, r)
			r.Close()
			if n != benchSize {
				b.Fatalf("downloaded %d bytes", n)
			}
		}
	})
}
