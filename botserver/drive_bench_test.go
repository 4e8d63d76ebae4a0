package botserver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botdrive/storage/s3store"
)

const benchSize = 32 << 20

// BenchmarkDriveThroughput compares moving a 32 MiB file through the public
// API with moving it straight to the same S3 server with botdrive's own S3
// client code and part size. Goal: the API adds ≤ 10 %. Through the API
// (S3_GATEWAY_DIRECT, the default): botdrive checks and records over gRPC,
// and the gateway moves the bytes to and from S3 itself (hashing uploads
// on the way), so the data path is HTTP → gateway → S3.
//
// Botdrive runs with S3_DOWNLOAD_REDIRECT: download/*-redirect answer 307
// to a presigned GET that Go's http.Client follows (the bytes go client ↔
// S3; botdrive still authorises each request), the other downloads ask for
// the relay with ?redirect=false (the default data path).
//
// On a shared, noisy machine compare the paired sub-benchmarks: each
// iteration moves the file both ways (alternating which goes first) and
// reports api/direct, the ratio of the two total times.
func BenchmarkDriveThroughput(b *testing.B) {
	e := driveAPI(b, "LOG_LEVEL=error", "S3_DOWNLOAD_REDIRECT=true")
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
	// Each upload has new content (a real write, not "unchanged").
	apiPut := func(b *testing.B, i int) {
		data[0] = byte(i)
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
	directPut := func(b *testing.B, i int) {
		data[0] = byte(i)
		if _, err := direct.Put(ctx, fmt.Sprintf("bench/big-%d", i%4), bytes.NewReader(data), storage.PutOptions{Size: benchSize}); err != nil {
			b.Fatal(err)
		}
	}
	// Time until the answer's headers, per download: the fixed cost of a
	// download (through the API: ReadFile, then S3's answer) apart from
	// the bytes.
	var apiHdr, dirHdr []time.Duration
	// apiGetAt downloads through the API: relayed by the gateway, or
	// redirected to S3 (the client follows; the headers timed are S3's).
	apiGetAt := func(redirect bool) func(*testing.B) {
		u := url + "-0?redirect=false"
		if redirect {
			u = url + "-0"
		}
		return func(b *testing.B) {
			start := time.Now()
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+e.admin)
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			apiHdr = append(apiHdr, time.Since(start))
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if n != benchSize || res.StatusCode != 200 || (res.Request.URL.Host == req.URL.Host) == redirect {
				b.Fatalf("downloaded %d bytes (%d) from %s", n, res.StatusCode, res.Request.URL.Host)
			}
		}
	}
	apiGet, apiGetRedirect := apiGetAt(false), apiGetAt(true)
	directGet := func(b *testing.B) {
		start := time.Now()
		r, _, err := direct.Get(ctx, "bench/big-0", nil)
		if err != nil {
			b.Fatal(err)
		}
		dirHdr = append(dirHdr, time.Since(start))
		n, _ := io.Copy(io.Discard, r)
		r.Close()
		if n != benchSize {
			b.Fatalf("downloaded %d bytes", n)
		}
	}
	paired := func(b *testing.B, api, dir func(*testing.B, int)) {
		b.SetBytes(2 * benchSize)
		var ta, td time.Duration
		i := 0
		for b.Loop() {
			for k := range 2 {
				f, t := api, &ta
				if (i+k)%2 == 1 {
					f, t = dir, &td
				}
				start := time.Now()
				f(b, i)
				*t += time.Since(start)
			}
			i++
		}
		b.ReportMetric(float64(ta.Nanoseconds())/float64(i), "api-ns/op")
		b.ReportMetric(float64(td.Nanoseconds())/float64(i), "direct-ns/op")
		b.ReportMetric(float64(ta)/float64(td), "api/direct")
	}
	loop := func(f func(*testing.B, int)) func(*testing.B) {
		return func(b *testing.B) {
			b.SetBytes(benchSize)
			i := 0
			for b.Loop() {
				f(b, i)
				i++
			}
		}
	}
	b.Run("upload/api", loop(apiPut))
	b.Run("upload/direct-s3", loop(directPut))
	// The floor for one PUT: a presigned single-request upload of exactly
	// the size (unsigned payload, no hashing at all), which is what the
	// gateway sends when it goes straight to S3 (it hashes on the way).
	b.Run("upload/direct-s3-presigned", loop(func(b *testing.B, i int) {
		data[0] = byte(i)
		u, err := direct.PresignPutExact(ctx, fmt.Sprintf("bench/big-%d", i%4), time.Minute, "application/octet-stream", benchSize)
		if err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequest("PUT", u, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("presigned upload: %d", res.StatusCode)
		}
	}))
	b.Run("upload/paired", func(b *testing.B) { paired(b, apiPut, directPut) })
	apiPut(b, 0)
	directPut(b, 0)
	b.Run("download/api", loop(func(b *testing.B, _ int) { apiGet(b) }))
	b.Run("download/direct-s3", loop(func(b *testing.B, _ int) { directGet(b) }))
	b.Run("download/api-redirect", loop(func(b *testing.B, _ int) { apiGetRedirect(b) }))
	for _, c := range []struct {
		name string
		get  func(*testing.B)
	}{{"download/paired", apiGet}, {"download/paired-redirect", apiGetRedirect}} {
		b.Run(c.name, func(b *testing.B) {
			apiHdr, dirHdr = apiHdr[:0], dirHdr[:0]
			paired(b, func(b *testing.B, _ int) { c.get(b) }, func(b *testing.B, _ int) { directGet(b) })
			b.ReportMetric(median(apiHdr).Seconds()*1e3, "api-hdr-ms")
			b.ReportMetric(median(dirHdr).Seconds()*1e3, "direct-hdr-ms")
		})
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkDriveRelayFloor is the floor of any relay on this machine: 32
// MiB from a file served with sendfile (as versitygw does), read by the
// client with io.Copy to io.Discard (8 KiB reads, as the benchmarks above),
// either straight or through one bare TCP hop that splices (no HTTP, no
// gRPC, no checks). Its paired api/direct is what the gateway's relay
// cannot beat.
func BenchmarkDriveRelayFloor(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "src")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Write(make([]byte, benchSize)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	serve := func(handle func(net.Conn)) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					handle(c)
				}()
			}
		}()
		return l.Addr().String()
	}
	src := serve(func(c net.Conn) {
		if r, err := os.Open(f.Name()); err == nil {
			io.Copy(c, r) // sendfile
			r.Close()
		}
	})
	hop := serve(func(c net.Conn) {
		s, err := net.Dial("tcp", src)
		if err != nil {
			return
		}
		defer s.Close()
		c.(*net.TCPConn).ReadFrom(&io.LimitedReader{R: s, N: benchSize}) // splice
	})
	get := func(addr string) func(*testing.B, int) {
		return func(b *testing.B, _ int) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			if n != benchSize {
				b.Fatalf("read %d bytes", n)
			}
		}
	}
	b.SetBytes(2 * benchSize)
	var ta, td time.Duration
	i := 0
	for b.Loop() {
		for k := range 2 {
			g, t := get(hop), &ta
			if (i+k)%2 == 1 {
				g, t = get(src), &td
			}
			start := time.Now()
			g(b, i)
			*t += time.Since(start)
		}
		i++
	}
	b.ReportMetric(float64(ta)/float64(td), "hop/direct")
}
