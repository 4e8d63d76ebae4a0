package botdrive

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/botserver-go/botserver-go/botdrive/storage/s3store/s3test"
	"github.com/botserver-go/botserver-go/botstate/authz"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

func s3Settings(srv *s3test.Server) func(*Settings) {
	return func(s *Settings) {
		s.S3Endpoint, s.S3Bucket, s.S3ForcePathStyle = srv.Endpoint, "direct", true
		s.S3AccessKeyID, s.S3SecretAccessKey = s3test.AccessKey, s3test.SecretKey
		s.S3GatewayDirect = true
	}
}

func httpDo(t *testing.T, method, url string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	res, b, err := httpTry(method, url, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// httpTry is httpDo for requests the server may refuse by closing the
// connection (S3 resets one whose body it will not take).
func httpTry(method, url string, body []byte, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if body == nil {
		req.Body = nil
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b, nil
}

// directPut is what the gateway does with BeginUpload's answer.
func directPut(t *testing.T, b *drivev1.BeginUploadResponse, content []byte) string {
	t.Helper()
	res, body := httpDo(t, "PUT", b.GetUrl(), content, "Content-Type", b.GetContentType())
	if res.StatusCode != 200 {
		t.Fatalf("PUT to the presigned URL: %d %s", res.StatusCode, body)
	}
	return res.Header.Get("ETag")
}

func hashOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestDirectTransfers runs the gateway's side of direct S3 transfers by
// hand against a real S3 server: the checks stay in botdrive, the URLs
// allow exactly one object and size, and the tickets cannot be forged,
// moved to another org or used as signed URLs.
func TestDirectTransfers(t *testing.T) {
	e := startServer(t, s3Settings(s3test.Start(t)))
	ctx := as(testOrg, allPerms)
	content := make([]byte, 2<<20)
	rand.Read(content)
	hdr := &drivev1.UploadHeader{Bot: "b", Path: "b.gbkb/data.bin", Size: int64(len(content))}
	begin, err := e.c.BeginUpload(ctx, &drivev1.BeginUploadRequest{Header: hdr, Head: content[:512]})
	if err != nil || begin.GetUrl() == "" || begin.GetTicket() == "" || begin.GetContentType() != "application/octet-stream" {
		t.Fatalf("begin: %v %v", begin, err)
	}
	// The URL is for exactly that size.
	if res, _, err := httpTry("PUT", begin.GetUrl(), content[:len(content)-1], "Content-Type", begin.GetContentType()); err == nil && res.StatusCode == 200 {
		t.Fatal("the presigned PUT took another size")
	}
	etag := directPut(t, begin, content)
	commit := &drivev1.CommitUploadRequest{Ticket: begin.GetTicket(), Hash: hashOf(content), Etag: etag}
	_, err = e.c.CommitUpload(as(otherOrg, allPerms), commit)
	code(t, err, codes.PermissionDenied)
	_, err = e.c.CommitUpload(ctx, &drivev1.CommitUploadRequest{Ticket: begin.GetTicket() + "x", Hash: commit.Hash, Etag: etag})
	code(t, err, codes.PermissionDenied)
	_, err = e.c.CommitUpload(ctx, &drivev1.CommitUploadRequest{Ticket: begin.GetTicket(), Hash: "zz", Etag: etag})
	code(t, err, codes.InvalidArgument)
	// A ticket is not a signed URL.
	rs, err := e.c.ReadSigned(ctx, &drivev1.ReadSignedRequest{Token: begin.GetTicket()})
	if err == nil {
		_, err = rs.Recv()
	}
	code(t, err, codes.PermissionDenied)
	done, err := e.c.CommitUpload(ctx, commit)
	if err != nil || !done.GetChanged() || done.GetInfo().GetHash() != hashOf(content) || done.GetInfo().GetSize() != int64(len(content)) {
		t.Fatalf("commit: %v %v", done, err)
	}
	// The same bytes again: recorded as unchanged (no event).
	begin, err = e.c.BeginUpload(ctx, &drivev1.BeginUploadRequest{Header: hdr, Head: content[:512]})
	if err != nil {
		t.Fatal(err)
	}
	commit = &drivev1.CommitUploadRequest{Ticket: begin.GetTicket(), Hash: hashOf(content), Etag: directPut(t, begin, content)}
	if done, err := e.c.CommitUpload(ctx, commit); err != nil || done.GetChanged() {
		t.Fatalf("unchanged re-upload: %v %v", done, err)
	}

	// A download by URL: one message, no bytes, and If-Match pins the object.
	st, err := e.c.ReadFile(ctx, &drivev1.ReadFileRequest{Bot: "b", Path: "b.gbkb/data.bin", Offset: 10, AcceptUrl: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || m.GetUrl() == "" || len(m.GetChunk()) != 0 || m.GetUrlEtag() == "" || m.GetOffset() != 10 || m.GetLength() != int64(len(content))-10 {
		t.Fatalf("read by URL: %v %v", m, err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("more than one message: %v", err)
	}
	res, body := httpDo(t, "GET", m.GetUrl(), nil, "Range", "bytes=10-", "If-Match", `"`+m.GetUrlEtag()+`"`)
	if res.StatusCode != 206 || !bytes.Equal(body, content[10:]) {
		t.Fatalf("GET by URL: %d, %d bytes", res.StatusCode, len(body))
	}
	if res, _ := httpDo(t, "GET", m.GetUrl(), nil, "If-Match", `"other"`); res.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("If-Match of another object: %d", res.StatusCode)
	}
	// Past the end: the stream's answer, as without accept_url.
	st, err = e.c.ReadFile(ctx, &drivev1.ReadFileRequest{Bot: "b", Path: "b.gbkb/data.bin", Offset: int64(len(content)) + 1, AcceptUrl: true})
	if err == nil {
		_, err = st.Recv()
	}
	code(t, err, codes.OutOfRange)

	// Checks before any URL: quota, size limit, names.
	if _, err := e.c.SetQuota(ctx, &drivev1.SetQuotaRequest{QuotaBytes: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.BeginUpload(ctx, &drivev1.BeginUploadRequest{Header: &drivev1.UploadHeader{Bot: "b", Path: "b.gbkb/more.bin", Size: 2 << 20}})
	code(t, err, codes.ResourceExhausted)
	_, err = e.c.BeginUpload(ctx, &drivev1.BeginUploadRequest{Header: &drivev1.UploadHeader{Bot: "b", Path: "../x", Size: 10}})
	code(t, err, codes.InvalidArgument)
	_, err = e.c.BeginUpload(ctx, &drivev1.BeginUploadRequest{Header: &drivev1.UploadHeader{Bot: "b", Path: "b.gbkb/unknown.bin", Size: -1}})
	code(t, err, codes.InvalidArgument)
	// A ticket with nothing stored behind it records nothing.
	begin, err = e.c.BeginUpload(ctx, &drivev1.BeginUploadRequest{Header: &drivev1.UploadHeader{Bot: "b", Path: "b.gbkb/never.bin", Size: 5}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.CommitUpload(ctx, &drivev1.CommitUploadRequest{Ticket: begin.GetTicket(), Hash: hashOf([]byte("hello")), Etag: `"x"`})
	code(t, err, codes.InvalidArgument)

	// BOTS_DIR files are not in S3: no URL either way.
	dctx := as(authz.DefaultOrgID, allPerms)
	if b, err := e.c.BeginUpload(dctx, &drivev1.BeginUploadRequest{Header: &drivev1.UploadHeader{Bot: "sample", Path: "sample.gbot/big.bin", Size: 10}}); err != nil || b.GetUrl() != "" {
		t.Fatalf("BOTS_DIR begin: %v %v", b, err)
	}
}

// TestDirectTransfersLocal: on local disk nothing is offered; ReadFile
// streams as it always did.
func TestDirectTransfersLocal(t *testing.T) {
	e := startServer(t, nil)
	ctx := as(testOrg, allPerms)
	b, err := e.c.BeginUpload(ctx, &drivev1.BeginUploadRequest{Header: &drivev1.UploadHeader{Bot: "b", Path: "b.gbkb/x.txt", Size: 5}, Head: []byte("hello")})
	if err != nil || b.GetUrl() != "" {
		t.Fatalf("begin on local disk: %v %v", b, err)
	}
	if _, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "b", Path: "b.gbkb/x.txt", Content: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.ReadFile(ctx, &drivev1.ReadFileRequest{Bot: "b", Path: "b.gbkb/x.txt", AcceptUrl: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || m.GetUrl() != "" || string(m.GetChunk()) != "hello" {
		t.Fatalf("local read: %v %v", m, err)
	}
}

// readOne reads a ReadFile answer that must be a single message.
func readOne(t *testing.T, e *testEnv, ctx context.Context, req *drivev1.ReadFileRequest) *drivev1.ReadFileResponse {
	t.Helper()
	st, err := e.c.ReadFile(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("more than one message: %v", err)
	}
	return m
}

// TestDownloadRedirect: with S3_DOWNLOAD_REDIRECT (and without the
// gateway's own data path, which it does not need) ReadFile hands a caller
// that accepts redirects a presigned GET for its client, after the same
// checks: exactly that object, with the recorded content type, a Range of
// the client's own, expiring. Only S3 files; other callers stream.
func TestDownloadRedirect(t *testing.T) {
	e := startServer(t, func(s *Settings) {
		s3Settings(s3test.Start(t))(s)
		s.S3GatewayDirect, s.S3DownloadRedirect = false, true
	})
	ctx := as(testOrg, readPerms+",files:write")
	content := []byte("<html><body>hello from the bucket</body></html>")
	put, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "b", Path: "b.gbkb/page.html", Content: content})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "b", Path: "b.gbkb/other.txt", Content: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	req := &drivev1.ReadFileRequest{Bot: "b", Path: "b.gbkb/page.html", Offset: 5, AcceptUrl: true, AcceptRedirect: true}
	m := readOne(t, e, ctx, req)
	if m.GetRedirectUrl() == "" || m.GetUrl() != "" || len(m.GetChunk()) != 0 || m.GetUrlEtag() == "" ||
		m.GetInfo().GetHash() != put.GetInfo().GetHash() || m.GetLength() != int64(len(content)) {
		t.Fatalf("redirect answer: %v", m)
	}
	ct := m.GetInfo().GetContentType()
	if !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("recorded content type %q", ct)
	}
	// The whole object (the offset is the client's Range to send), with the
	// recorded content type and the ETag botdrive recorded.
	res, body := httpDo(t, "GET", m.GetRedirectUrl(), nil)
	if res.StatusCode != 200 || !bytes.Equal(body, content) || res.Header.Get("Content-Type") != ct ||
		strings.Trim(res.Header.Get("ETag"), `"`) != strings.Trim(m.GetUrlEtag(), `"`) {
		t.Fatalf("GET the redirect: %d %q %v", res.StatusCode, body, res.Header)
	}
	res, body = httpDo(t, "GET", m.GetRedirectUrl(), nil, "Range", "bytes=5-9")
	if res.StatusCode != 206 || !bytes.Equal(body, content[5:10]) {
		t.Fatalf("Range at the redirect: %d %q", res.StatusCode, body)
	}
	// For that object only: another key, or another content type, is refused.
	for _, u := range []string{
		strings.Replace(m.GetRedirectUrl(), "page.html", "other.txt", 1),
		strings.Replace(m.GetRedirectUrl(), "text%2Fhtml", "text%2Fplain", 1),
	} {
		if u == m.GetRedirectUrl() {
			t.Fatalf("nothing replaced in %s", u)
		}
		if res, _ := httpDo(t, "GET", u, nil); res.StatusCode != http.StatusForbidden {
			t.Fatalf("tampered redirect %s: %d", u, res.StatusCode)
		}
	}
	// The same checks as any read: another org, a missing file, no permission.
	st, err := e.c.ReadFile(as(otherOrg, allPerms), req)
	if err == nil {
		_, err = st.Recv()
	}
	code(t, err, codes.NotFound)
	st, err = e.c.ReadFile(ctx, &drivev1.ReadFileRequest{Bot: "b", Path: "b.gbkb/missing.html", AcceptRedirect: true})
	if err == nil {
		_, err = st.Recv()
	}
	code(t, err, codes.NotFound)
	st, err = e.c.ReadFile(as(testOrg, "files:write"), req)
	if err == nil {
		_, err = st.Recv()
	}
	code(t, err, codes.PermissionDenied)
	// A caller that does not accept redirects gets the bytes (accept_url
	// alone offers nothing: S3_GATEWAY_DIRECT is off).
	got, first, err := readAll(t, e.c, ctx, &drivev1.ReadFileRequest{Bot: "b", Path: "b.gbkb/page.html", AcceptUrl: true})
	if err != nil || !bytes.Equal(got, content) || first.GetRedirectUrl() != "" || first.GetUrl() != "" {
		t.Fatalf("stream without accept_redirect: %q %v %v", got, first, err)
	}
	// BOTS_DIR files are not in S3: streamed.
	dctx := as(authz.DefaultOrgID, allPerms)
	if _, err := e.c.PutFile(dctx, &drivev1.PutFileRequest{Bot: "sample", Path: "sample.gbot/notes.txt", Content: []byte("local")}); err != nil {
		t.Fatal(err)
	}
	if m := readOne(t, e, dctx, &drivev1.ReadFileRequest{Bot: "sample", Path: "sample.gbot/notes.txt", AcceptUrl: true, AcceptRedirect: true}); m.GetRedirectUrl() != "" || string(m.GetChunk()) != "local" {
		t.Fatalf("BOTS_DIR read: %v", m)
	}

	// The URL expires, and the cache never hands out one that has (it
	// reuses a URL only for a fifth of its lifetime).
	e.srv.urlTTL = 3 * time.Second
	e.srv.getURLs.m = nil
	u := readOne(t, e, ctx, req).GetRedirectUrl()
	if res, _ := httpDo(t, "GET", u, nil); res.StatusCode != 200 {
		t.Fatalf("fresh short URL: %d", res.StatusCode)
	}
	time.Sleep(4500 * time.Millisecond)
	if res, _ := httpDo(t, "GET", u, nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("expired URL: %d", res.StatusCode)
	}
	u2 := readOne(t, e, ctx, req).GetRedirectUrl()
	if res, body := httpDo(t, "GET", u2, nil); u2 == u || res.StatusCode != 200 || !bytes.Equal(body, content) {
		t.Fatalf("URL after expiry: same %v, %d", u2 == u, res.StatusCode)
	}
}
