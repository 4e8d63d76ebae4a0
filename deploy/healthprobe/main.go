// Command healthprobe is the container health check of every botserver-go
// image. The runtime image (distroless static) has no shell, curl or wget, so
// the image's HEALTHCHECK and compose's healthcheck run this tiny static
// binary: it asks the process's operations server for /readyz and exits 0
// when the answer is 200, 1 otherwise.
//
//	healthprobe [-addr 127.0.0.1:9091] [-path /readyz] [-timeout 2s]
//
// Without -addr the address comes from OPS_ADDR (the variable the service
// listens on, default :9091), so the probe follows a moved port. It speaks
// just enough HTTP/1.0 over a TCP connection to read the status line: no
// net/http, no gRPC, so it adds about 2 MB to an image.
//
// Kubernetes does not use it: the chart probes gRPC health natively.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "", "host:port of the operations server (default: from OPS_ADDR, else 127.0.0.1:9091)")
	path := flag.String("path", "/readyz", "path to GET: /readyz (ready for traffic) or /healthz (alive)")
	timeout := flag.Duration("timeout", 2*time.Second, "time limit for the whole check")
	flag.Parse()
	target := *addr
	if target == "" {
		target = dialAddr(os.Getenv("OPS_ADDR"))
	}
	if err := check(target, *path, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "healthprobe:", err)
		os.Exit(1)
	}
}

// dialAddr turns a listen address (":9091", "0.0.0.0:9091", "[::]:9091")
// into one to dial on this host.
func dialAddr(listen string) string {
	if listen == "" {
		listen = ":9091"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// check sends one HTTP/1.0 GET and accepts only a 200 status line.
func check(addr, path string, timeout time.Duration) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("path %q must start with /", path)
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: healthprobe\r\nConnection: close\r\n\r\n", path, host); err != nil {
		return err
	}
	line, err := bufio.NewReaderSize(conn, 512).ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s%s: reading the status line: %w", addr, path, err)
	}
	// "HTTP/1.1 200 OK"
	proto, rest, ok := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/") {
		return fmt.Errorf("%s%s: not an HTTP answer: %q", addr, path, line)
	}
	if code, _, _ := strings.Cut(rest, " "); code != "200" {
		return errors.New(addr + path + ": " + rest)
	}
	return nil
}
