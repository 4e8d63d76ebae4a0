package botdrive

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"testing"

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
