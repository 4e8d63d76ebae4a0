package botserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botcore/api/drive"
	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botdrive"
	"github.com/botserver-go/botserver-go/botdrive/extract/extracttest"
	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botdrive/storage/s3store/s3test"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
)

const driveOrg = "0195f1c2-0000-7000-8000-0000000000d1"

type driveEnv struct {
	base  string
	iss   *authztest.Issuer
	s3    *s3test.Server
	admin string // token with every file permission in driveOrg
}

// driveAPI runs botdrive in-process on a real S3 server (versitygw) behind
// a real gateway with the file routes mounted, as botcore mounts them. The
// gateway's default body limit is tiny, so uploads prove their route has
// its own.
func driveAPI(t testing.TB, extra ...string) *driveEnv {
	t.Helper()
	iss := authztest.NewIssuer(t)
	srv := s3test.Start(t)
	env := append(iss.Env(),
		"S3_ENDPOINT="+srv.Endpoint, "S3_BUCKET=drive-e2e", "S3_ACCESS_KEY_ID="+s3test.AccessKey,
		"S3_SECRET_ACCESS_KEY="+s3test.SecretKey, "S3_FORCE_PATH_STYLE=true", "DRIVE_URL_SECRET="+strings.Repeat("k", 32))
	addrs := apptest.Start(t, append(env, extra...), botdrive.Service())
	cc, err := grpcx.Dial(addrs.GRPC, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	gw, err := gateway.New(gateway.Options{MaxBodyBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	drive.Register(gw, cc)
	hs := httptest.NewServer(gw)
	t.Cleanup(hs.Close)
	return &driveEnv{base: hs.URL, iss: iss, s3: srv,
		admin: iss.User(driveOrg, "files:read", "files:write", "bots:write", "org:admin")}
}

type httpResp struct {
	status int
	header http.Header
	body   []byte
}

func (r httpResp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON (%d): %s", r.status, r.body)
	}
	return m
}

func (e *driveEnv) do(t testing.TB, token, method, path string, body io.Reader, hdr ...string) httpResp {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return httpResp{res.StatusCode, res.Header, b}
}

func errCode(t testing.TB, r httpResp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var eb gateway.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code != code {
		t.Fatalf("error body %s, want code %q", r.body, code)
	}
}

func TestDriveFileAPI(t *testing.T) {
	e := driveAPI(t)
	big := make([]byte, 12<<20) // over MAX_BODY_BYTES' default, and a multipart upload to S3
	rand.Read(big)
	r := e.do(t, e.admin, "PUT", "/api/v1/bots/mybot/files/mybot.gbkb/docs/big.bin", bytes.NewReader(big), "Content-Type", "application/octet-stream")
	if r.status != 200 || r.json(t)["changed"] != true {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	r = e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/mybot.gbkb/docs/big.bin", nil)
	if r.status != 200 || !bytes.Equal(r.body, big) || r.header.Get("Accept-Ranges") != "bytes" || r.header.Get("ETag") == "" {
		t.Fatalf("download: %d, %d bytes, headers %v", r.status, len(r.body), r.header)
	}
	etag := r.header.Get("ETag")
	if r := e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/mybot.gbkb/docs/big.bin", nil, "If-None-Match", etag); r.status != 304 {
		t.Fatalf("If-None-Match: %d", r.status)
	}
	r = e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/mybot.gbkb/docs/big.bin", nil, "Range", "bytes=100-199")
	if r.status != 206 || !bytes.Equal(r.body, big[100:200]) || r.header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(big)) {
		t.Fatalf("range: %d %d %q", r.status, len(r.body), r.header.Get("Content-Range"))
	}
	r = e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/mybot.gbkb/docs/big.bin", nil, "Range", "bytes=-10")
	if r.status != 206 || !bytes.Equal(r.body, big[len(big)-10:]) {
		t.Fatalf("suffix range: %d %d", r.status, len(r.body))
	}
	errCode(t, e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/mybot.gbkb/docs/big.bin", nil, "Range", fmt.Sprintf("bytes=%d-", len(big)+5)), 416, "range_not_satisfiable")
	r = e.do(t, e.admin, "HEAD", "/api/v1/bots/mybot/files/mybot.gbkb/docs/big.bin", nil)
	if r.status != 200 || r.header.Get("Content-Length") != fmt.Sprint(len(big)) || len(r.body) != 0 {
		t.Fatalf("head: %d %v", r.status, r.header)
	}
	// Small files, metadata, list, copy, move, delete.
	r = e.do(t, e.admin, "PUT", "/api/v1/bots/mybot/files/mybot.gbdialog/start.bas", strings.NewReader(`TALK "hi"`))
	if r.status != 200 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	m := e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/mybot.gbdialog/start.bas?metadata=true", nil).json(t)
	if m["size"] != float64(9) || !strings.HasPrefix(m["content_type"].(string), "text/plain") || len(m["hash"].(string)) != 64 {
		t.Fatalf("metadata: %v", m)
	}
	if r := e.do(t, e.admin, "POST", "/api/v1/bots/mybot/copy", strings.NewReader(`{"path":"mybot.gbdialog/start.bas","to_path":"mybot.gbdialog/copy.bas"}`)); r.status != 200 {
		t.Fatalf("copy: %d %s", r.status, r.body)
	}
	if r := e.do(t, e.admin, "POST", "/api/v1/bots/mybot/move", strings.NewReader(`{"path":"mybot.gbdialog/copy.bas","to_path":"mybot.gbdialog/moved.bas"}`)); r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	l := e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files?prefix=mybot.gbdialog/&page_size=1", nil).json(t)
	files := l["files"].([]any)
	if len(files) != 1 || files[0].(map[string]any)["path"] != "mybot.gbdialog/moved.bas" || l["next_page_token"] == "" {
		t.Fatalf("list page 1: %v", l)
	}
	l = e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files?prefix=mybot.gbdialog/&page_size=1&page_token="+l["next_page_token"].(string), nil).json(t)
	if files := l["files"].([]any); len(files) != 1 || files[0].(map[string]any)["path"] != "mybot.gbdialog/start.bas" || l["next_page_token"] != nil {
		t.Fatalf("list page 2: %v", l)
	}
	if r := e.do(t, e.admin, "DELETE", "/api/v1/bots/mybot/files/mybot.gbdialog/moved.bas", nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	errCode(t, e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/mybot.gbdialog/moved.bas", nil), 404, "not_found")
	// Text extraction.
	pdf := extracttest.PDF([]string{"Opening hours: 9 to 5"})
	e.do(t, e.admin, "PUT", "/api/v1/bots/mybot/files/mybot.gbkb/docs/hours.pdf", bytes.NewReader(pdf))
	if m := e.do(t, e.admin, "GET", "/api/v1/bots/mybot/text/mybot.gbkb/docs/hours.pdf", nil).json(t); !strings.Contains(m["text"].(string), "Opening hours: 9 to 5") {
		t.Fatalf("text: %v", m)
	}
	// Path traversal, in every spelling a client can send.
	for _, p := range []string{"..%2F..%2Fetc%2Fpasswd", "a%2F..%2F..%2Fb", "%2Fetc%2Fpasswd", "a%5C..%5Cb", ".env"} {
		errCode(t, e.do(t, e.admin, "PUT", "/api/v1/bots/mybot/files/"+p, strings.NewReader("x")), 400, "bad_request")
		errCode(t, e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/"+p, nil), 400, "bad_request")
	}
	if r := e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/../../etc/passwd", nil); r.status == 200 {
		t.Fatalf("dot-dot path served: %s", r.body)
	}
	// Auth: none, not enough, another org.
	errCode(t, e.do(t, "", "GET", "/api/v1/bots/mybot/files", nil), 401, "unauthorized")
	reader := e.iss.User(driveOrg, "files:read")
	errCode(t, e.do(t, reader, "PUT", "/api/v1/bots/mybot/files/x.txt", strings.NewReader("x")), 403, "forbidden")
	other := e.iss.User("0195f1c2-0000-7000-8000-0000000000d2", "files:read", "files:write")
	errCode(t, e.do(t, other, "GET", "/api/v1/bots/mybot/files/mybot.gbdialog/start.bas", nil), 404, "not_found")
	// Presigned download through the gateway, no token.
	p := e.do(t, e.admin, "POST", "/api/v1/bots/mybot/presign", strings.NewReader(`{"path":"mybot.gbdialog/start.bas","method":"GET","ttl_seconds":60}`)).json(t)
	r = e.do(t, "", "GET", p["url"].(string), nil)
	if r.status != 200 || string(r.body) != `TALK "hi"` {
		t.Fatalf("presigned get: %d %s", r.status, r.body)
	}
	errCode(t, e.do(t, "", "GET", p["url"].(string)+"x", nil), 403, "forbidden")
	// Quota: 507 and nothing stored.
	if r := e.do(t, e.admin, "PUT", "/api/v1/drive/quota", strings.NewReader(`{"quota_bytes": 13000000}`)); r.status != 200 {
		t.Fatalf("quota: %d %s", r.status, r.body)
	}
	errCode(t, e.do(t, e.admin, "PUT", "/api/v1/bots/mybot/files/over.bin", bytes.NewReader(big[:1<<20])), 507, "quota_exceeded")
	errCode(t, e.do(t, e.admin, "GET", "/api/v1/bots/mybot/files/over.bin", nil), 404, "not_found")
	u := e.do(t, e.admin, "GET", "/api/v1/drive/usage", nil).json(t)
	if u["quota_bytes"] != float64(13000000) || u["files"] != float64(3) {
		t.Fatalf("usage: %v", u)
	}
}

func TestDrivePackageImportAPI(t *testing.T) {
	e := driveAPI(t)
	zip := extracttest.Zip(
		[2]string{"shop.gbai/shop.gbdialog/start.bas", `TALK "welcome"`},
		[2]string{"shop.gbai/shop.gbot/config.csv", "name,value\nwelcome-message,hi\n"},
		[2]string{"shop.gbai/shop.gbkb/faq/faq.md", "# FAQ"},
	)
	r := e.do(t, e.admin, "POST", "/api/v1/bots/shop/package", bytes.NewReader(zip), "Content-Type", "application/zip")
	if m := r.json(t); r.status != 200 || m["written"] != float64(3) {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	if r := e.do(t, e.admin, "GET", "/api/v1/bots/shop/files/shop.gbdialog/start.bas", nil); string(r.body) != `TALK "welcome"` {
		t.Fatalf("imported file: %d %s", r.status, r.body)
	}
	// Same package again: nothing written.
	if m := e.do(t, e.admin, "POST", "/api/v1/bots/shop/package", bytes.NewReader(zip)).json(t); m["unchanged"] != float64(3) || m["written"] != float64(0) {
		t.Fatalf("re-import: %v", m)
	}
	many := make([][2]string, 10000)
	for i := range many {
		many[i] = [2]string{fmt.Sprintf("shop.gbai/shop.gbkb/f/%05d.txt", i), "x"}
	}
	for name, z := range map[string][]byte{
		"zip slip":          extracttest.Zip([2]string{"shop.gbai/../../../tmp/evil.sh", "rm -rf /"}),
		"zip bomb":          extracttest.Zip([2]string{"shop.gbai/shop.gbkb/zero.txt", strings.Repeat("0", 64<<20)}),
		"10,000 tiny files": extracttest.Zip(many...),
	} {
		r := e.do(t, e.admin, "POST", "/api/v1/bots/evil/package", bytes.NewReader(z))
		errCode(t, r, 400, "bad_request")
		if !strings.Contains(string(r.body), "package refused") {
			t.Fatalf("%s: %s", name, r.body)
		}
		if l := e.do(t, e.admin, "GET", "/api/v1/bots/evil/files", nil).json(t); len(l["files"].([]any)) != 0 {
			t.Fatalf("%s left files: %v", name, l)
		}
	}
	errCode(t, e.do(t, e.iss.User(driveOrg, "files:write"), "POST", "/api/v1/bots/shop/package", bytes.NewReader(zip)), 403, "forbidden")
}

// A file added, changed or removed in $BOTS_DIR by any tool shows up
// through the API for the default organisation, promptly (the watcher;
// the periodic reconcile is set far away here).
func TestDriveBotsDirWatcher(t *testing.T) {
	dir := t.TempDir()
	e := driveAPI(t, "BOTS_DIR="+dir, "BOTS_DIR_RECONCILE_INTERVAL=1h", "DRIVE_RECONCILE_INTERVAL=1h")
	tok := e.iss.User(authz.DefaultOrgID, "files:read", "files:write")
	list := func() []string {
		l := e.do(t, tok, "GET", "/api/v1/bots/sample/files", nil).json(t)
		var out []string
		for _, f := range l["files"].([]any) {
			out = append(out, f.(map[string]any)["path"].(string)+"="+f.(map[string]any)["hash"].(string)[:8])
		}
		return out
	}
	waitFor := func(what string, ok func([]string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := list()
			if ok(got) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: BOTS_DIR change not seen; files %v", what, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.MkdirAll(filepath.Join(dir, "sample.gbai/sample.gbdialog"), 0o755)
	os.WriteFile(filepath.Join(dir, "sample.gbai/sample.gbdialog/start.bas"), []byte(`TALK "one"`), 0o644)
	waitFor("added", func(f []string) bool { return len(f) == 1 })
	before := list()[0]
	os.WriteFile(filepath.Join(dir, "sample.gbai/sample.gbdialog/start.bas"), []byte(`TALK "two"`), 0o644)
	waitFor("changed", func(f []string) bool { return len(f) == 1 && f[0] != before })
	os.Remove(filepath.Join(dir, "sample.gbai/sample.gbdialog/start.bas"))
	waitFor("removed", func(f []string) bool { return len(f) == 0 })
}

// TestDriveDirectFallbacks: uploads and downloads that skip the gRPC hop
// (the gateway moves the bytes to and from S3 itself) keep the stream's
// guarantees: a body cut short stores nothing, and an object changed in the
// bucket behind the metadata is still served as stored.
func TestDriveDirectFallbacks(t *testing.T) {
	e := driveAPI(t)
	const p = "/api/v1/bots/mybot/files/mybot.gbkb/p.bin"
	a := make([]byte, 2<<20)
	rand.Read(a)
	if r := e.do(t, e.admin, "PUT", p, bytes.NewReader(a)); r.status != 200 || r.json(t)["changed"] != true {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	// Half a body, then the client stops sending: 400, the old file stays.
	c, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", p, e.admin, len(a))
	c.Write(bytes.Repeat([]byte{'b'}, 1<<20))
	c.(*net.TCPConn).CloseWrite()
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != 400 {
		t.Fatalf("cut body: %v %v", res, err)
	}
	if r := e.do(t, e.admin, "GET", p, nil); r.status != 200 || !bytes.Equal(r.body, a) {
		t.Fatalf("after a cut upload: %d, %d bytes", r.status, len(r.body))
	}
	// Replaced in the bucket by another tool: served as stored, whole and
	// in ranges.
	b := bytes.Repeat([]byte("changed behind the metadata "), 50000)
	st := e.s3.Open(t, "drive-e2e", nil)
	if _, err := st.Put(context.Background(), driveOrg+"/mybot.gbai/mybot.gbkb/p.bin", bytes.NewReader(b), storage.PutOptions{Size: int64(len(b))}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, e.admin, "GET", p, nil); r.status != 200 || !bytes.Equal(r.body, b) {
		t.Fatalf("changed behind the metadata: %d, %d bytes", r.status, len(r.body))
	}
	if r := e.do(t, e.admin, "GET", p, nil, "Range", "bytes=100-1199999"); r.status != 206 || !bytes.Equal(r.body, b[100:1200000]) {
		t.Fatalf("range of a changed file: %d, %d bytes", r.status, len(r.body))
	}
}

// TestDriveDownloadRedirect: with S3_DOWNLOAD_REDIRECT a download of an S3
// file answers 307 to a presigned GET of exactly that object, after the
// same checks; clients that follow it (Go's http.Client, browsers) get the
// bytes and their Range from S3. HEAD, conditional hits, ?redirect=false
// and BOTS_DIR files are served as before.
func TestDriveDownloadRedirect(t *testing.T) {
	dir := t.TempDir()
	e := driveAPI(t, "S3_DOWNLOAD_REDIRECT=true", "BOTS_DIR="+dir)
	const p = "/api/v1/bots/mybot/files/mybot.gbkb/big.bin"
	big := make([]byte, 3<<20)
	rand.Read(big)
	if r := e.do(t, e.admin, "PUT", p, bytes.NewReader(big)); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	meta := e.do(t, e.admin, "GET", p+"?metadata=true", nil).json(t)
	etag := `"` + meta["hash"].(string) + `"`
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(c *http.Client, token, url string, hdr ...string) httpResp {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return httpResp{res.StatusCode, res.Header, b}
	}
	r := get(noFollow, e.admin, e.base+p)
	loc := r.header.Get("Location")
	if r.status != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, e.s3.Endpoint+"/") || r.header.Get("ETag") != etag ||
		r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Storage-ETag") == "" || len(r.body) != 0 {
		t.Fatalf("redirect: %d %v %q", r.status, r.header, r.body)
	}
	// The Location needs no token, and S3 answers the recorded version.
	s3r := get(http.DefaultClient, "", loc)
	if s3r.status != 200 || !bytes.Equal(s3r.body, big) || s3r.header.Get("ETag") != r.header.Get("X-Storage-ETag") ||
		s3r.header.Get("Content-Type") != meta["content_type"] {
		t.Fatalf("GET Location: %d, %d bytes, %v", s3r.status, len(s3r.body), s3r.header)
	}
	// Followed by Go's client, with a Range it re-sends to S3.
	r = get(http.DefaultClient, e.admin, e.base+p, "Range", "bytes=100-1100099")
	if r.status != 206 || !bytes.Equal(r.body, big[100:1100100]) || r.header.Get("Content-Range") != fmt.Sprintf("bytes 100-1100099/%d", len(big)) {
		t.Fatalf("followed range: %d, %d bytes, %v", r.status, len(r.body), r.header)
	}
	r = get(http.DefaultClient, e.admin, e.base+p, "Range", "bytes=-10")
	if r.status != 206 || !bytes.Equal(r.body, big[len(big)-10:]) {
		t.Fatalf("followed suffix range: %d, %d bytes", r.status, len(r.body))
	}
	// For that object only.
	if r := get(http.DefaultClient, "", strings.Replace(loc, "big.bin", "other.bin", 1)); r.status != http.StatusForbidden {
		t.Fatalf("Location for another key: %d", r.status)
	}
	// The same checks as before, answered by the gateway: another org,
	// no token, a missing file.
	other := e.iss.User("0195f1c2-0000-7000-8000-0000000000d2", "files:read", "files:write")
	errCode(t, get(noFollow, other, e.base+p), 404, "not_found")
	errCode(t, get(noFollow, "", e.base+p), 401, "unauthorized")
	errCode(t, get(noFollow, e.admin, e.base+"/api/v1/bots/mybot/files/mybot.gbkb/missing.bin"), 404, "not_found")
	// Not redirected: a conditional hit, HEAD, ?redirect=false (the relay).
	if r := get(noFollow, e.admin, e.base+p, "If-None-Match", etag); r.status != 304 {
		t.Fatalf("If-None-Match: %d", r.status)
	}
	if r := e.do(t, e.admin, "HEAD", p, nil); r.status != 200 || r.header.Get("Content-Length") != fmt.Sprint(len(big)) || r.header.Get("Location") != "" {
		t.Fatalf("head: %d %v", r.status, r.header)
	}
	r = get(noFollow, e.admin, e.base+p+"?redirect=false", "Range", "bytes=10-19")
	if r.status != 206 || !bytes.Equal(r.body, big[10:20]) || r.header.Get("Location") != "" {
		t.Fatalf("?redirect=false: %d %v", r.status, r.header)
	}
	// BOTS_DIR is on local disk: served by the gateway.
	tok := e.iss.User(authz.DefaultOrgID, "files:read", "files:write")
	if r := e.do(t, tok, "PUT", "/api/v1/bots/sample/files/sample.gbot/notes.txt", strings.NewReader("local")); r.status != 200 {
		t.Fatalf("BOTS_DIR put: %d %s", r.status, r.body)
	}
	if r := get(noFollow, tok, e.base+"/api/v1/bots/sample/files/sample.gbot/notes.txt"); r.status != 200 || string(r.body) != "local" {
		t.Fatalf("BOTS_DIR get: %d %q", r.status, r.body)
	}
	// Without the setting the same download is relayed.
	off := driveAPI(t)
	if r := off.do(t, off.admin, "PUT", p, bytes.NewReader(big)); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if r := get(noFollow, off.admin, off.base+p); r.status != 200 || !bytes.Equal(r.body, big) || r.header.Get("Location") != "" {
		t.Fatalf("without S3_DOWNLOAD_REDIRECT: %d %v", r.status, r.header)
	}
}
