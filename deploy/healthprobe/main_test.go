package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDialAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":              "127.0.0.1:9091",
		":9091":         "127.0.0.1:9091",
		"0.0.0.0:7000":  "127.0.0.1:7000",
		"[::]:7000":     "127.0.0.1:7000",
		"10.1.2.3:9091": "10.1.2.3:9091",
		"ops:9091":      "ops:9091",
	} {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/readyz" && ready:
			w.Write([]byte("ok"))
		case r.URL.Path == "/readyz":
			http.Error(w, "draining", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	if err := check(addr, "/readyz", time.Second); err != nil {
		t.Fatalf("ready server: %v", err)
	}
	if err := check(addr, "/healthz", time.Second); err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	ready = false
	if err := check(addr, "/readyz", time.Second); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("draining server: got %v, want a 503 error", err)
	}
	if err := check(addr, "/nope", time.Second); err == nil {
		t.Fatal("404 accepted")
	}
	if err := check(addr, "readyz", time.Second); err == nil {
		t.Fatal("relative path accepted")
	}
}

func TestCheckNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := check(addr, "/readyz", time.Second); err == nil {
		t.Fatal("closed port accepted")
	}
}

func TestCheckNotHTTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("SSH-2.0-nope\r\n"))
			c.Close()
		}
	}()
	if err := check(l.Addr().String(), "/readyz", time.Second); err == nil {
		t.Fatal("non-HTTP answer accepted")
	}
}

func TestCheckTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			time.Sleep(2 * time.Second) // never answers in time
			c.Close()
		}
	}()
	start := time.Now()
	if err := check(l.Addr().String(), "/readyz", 200*time.Millisecond); err == nil {
		t.Fatal("silent server accepted")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("check took %v despite a 200ms timeout", d)
	}
}
