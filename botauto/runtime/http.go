package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

// MaxHTTPResponse bounds a response body a script reads.
const MaxHTTPResponse = 4 << 20

// AllowPrivateKey is the config.csv key that lets a bot call private,
// loopback and link-local addresses (an intranet API).
const AllowPrivateKey = "http-allow-private"

// HTTP is the client behind GET/POST/PUT/PATCH/DELETE HTTP. Its guard
// checks the address actually dialled, after DNS and after every redirect,
// so neither a hostname pointing inside nor a redirect gets past it.
type HTTP struct {
	guarded, open *http.Client
}

// NewHTTP returns the keyword client with a per-request timeout.
func NewHTTP(timeout time.Duration) *HTTP {
	return &HTTP{guarded: client(timeout, true), open: client(timeout, false)}
}

func client(timeout time.Duration, guard bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if guard {
		d.Control = refusePrivate
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			return checkScheme(req.URL)
		},
	}
}

// ErrPrivateAddress is returned for a target inside private networks.
var ErrPrivateAddress = errors.New("refused: the address is private, loopback or link-local (set http-allow-private,true in config.csv to allow)")

func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() || cgnat.Contains(a) {
		return ErrPrivateAddress
	}
	return nil
}

// Carrier-grade NAT space is not "private" to netip but is internal all the same.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("only http and https URLs, not %q", u.Scheme)
	}
	return nil
}

// IsURL tells a URL from a drive path in GET's argument.
func IsURL(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

func (h *Host) http(ctx context.Context, c *vm.Call) (vm.Value, error) {
	switch c.Keyword {
	case "SET HEADER":
		if h.headers == nil {
			h.headers = map[string]string{}
		}
		k := strings.TrimSpace(c.Args[0].String())
		if k == "" || strings.ContainsAny(k, "\r\n:") || strings.ContainsAny(c.Args[1].String(), "\r\n") {
			return vm.Null, fmt.Errorf("bad header %q", k)
		}
		h.headers[k] = c.Args[1].String()
		return vm.Null, nil
	case "CLEAR HEADERS":
		h.headers = nil
		return vm.Null, nil
	}
	target := c.Args[0].String()
	if c.Keyword == "GET" && !IsURL(target) {
		return h.Services.call(ctx, h.Turn, &vm.Call{Keyword: "READ", Service: "drive", Args: c.Args, Pos: c.Pos})
	}
	if h.HTTP == nil {
		return vm.Null, errors.New("HTTP is not available")
	}
	u, err := url.Parse(strings.TrimSpace(target))
	if err != nil || u.Host == "" {
		return vm.Null, fmt.Errorf("%q is not a URL", target)
	}
	if err := checkScheme(u); err != nil {
		return vm.Null, err
	}
	method := map[string]string{"GET": "GET", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE HTTP": "DELETE"}[c.Keyword]
	var body io.Reader
	contentType := ""
	if len(c.Args) > 1 {
		b := c.Args[1]
		switch b.Kind() {
		case vm.ObjectKind, vm.ArrayKind:
			data, err := jsonOf(b)
			if err != nil {
				return vm.Null, err
			}
			body, contentType = strings.NewReader(data), "application/json"
		default:
			body, contentType = strings.NewReader(b.String()), "text/plain; charset=utf-8"
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return vm.Null, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "botserver-go")
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	cl := h.HTTP.guarded
	if strings.EqualFold(h.Turn.Config[AllowPrivateKey], "true") {
		cl = h.HTTP.open
	}
	resp, err := cl.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && errors.Is(ue.Err, ErrPrivateAddress) {
			return vm.Null, fmt.Errorf("%s %s: %w", method, u.Redacted(), ErrPrivateAddress)
		}
		return vm.Null, fmt.Errorf("%s %s: %v", method, u.Redacted(), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPResponse+1))
	if err != nil {
		return vm.Null, fmt.Errorf("%s %s: %v", method, u.Redacted(), err)
	}
	if len(data) > MaxHTTPResponse {
		return vm.Null, fmt.Errorf("%s %s: response larger than %d bytes", method, u.Redacted(), MaxHTTPResponse)
	}
	if resp.StatusCode >= 400 {
		return vm.Null, fmt.Errorf("%s %s: HTTP %d", method, u.Redacted(), resp.StatusCode)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		v, err := vm.ParseJSON(string(data))
		if err != nil {
			return vm.Null, fmt.Errorf("%s %s: bad JSON: %v", method, u.Redacted(), err)
		}
		return v, nil
	}
	return vm.Str(string(data)), nil
}

func jsonOf(v vm.Value) (string, error) {
	data, err := json.Marshal(v.GoValue())
	return string(data), err
}
