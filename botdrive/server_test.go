package botdrive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botdrive/extract/extracttest"
	"github.com/botserver-go/botserver-go/botdrive/migrations"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/cache"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

const (
	testOrg   = "0195f1c2-0000-7000-8000-0000000000aa"
	otherOrg  = "0195f1c2-0000-7000-8000-0000000000bb"
	allPerms  = "files:read,files:write,bots:write,org:admin"
	readPerms = "files:read"
)

// identityFromMetadata stands in for the token-verifying interceptor: the
// test names the caller's org, kind and permissions in metadata.
func identityFromMetadata(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("x-org")) == 0 {
		return ctx
	}
	id := &authz.Identity{Kind: authz.KindUser, Subject: "tester", OrgID: md.Get("x-org")[0]}
	if k := md.Get("x-kind"); len(k) > 0 {
		id.Kind = authz.Kind(k[0])
	}
	if p := md.Get("x-perms"); len(p) > 0 && p[0] != "" {
		id.Permissions = strings.Split(p[0], ",")
	}
	return authz.WithIdentity(ctx, id)
}

type testEnv struct {
	c       drivev1.DriveServiceClient
	srv     *server
	botsDir string
	tmpDir  string
}

func startServer(t *testing.T, mod func(*Settings)) *testEnv {
	t.Helper()
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(context.Background(), url, pg.Schema{Name: "drive", FS: migrations.FS}); err != nil {
		t.Fatal(err)
	}
	s := &Settings{S3PartSizeMB: 8, BotsDir: filepath.Join(t.TempDir(), "bots"), MaxFileBytes: 64 << 20,
		ExtractMaxBytes: 10 << 20, ExtractMaxPages: 100, ExtractTimeout: 10e9, ExtractCacheTTL: 3600e9,
		PackageMaxBytes: 32 << 20, PackageMaxUnpacked: 64 << 20, PackageMaxFiles: 1000,
		URLSecret: strings.Repeat("s", 32)}
	if mod != nil {
		mod(s)
	}
	srv, _, err := build(context.Background(), pool, t.TempDir(), s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.cache = cache.NewMemory()
	gs := grpc.NewServer(
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(identityFromMetadata(ctx), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, &idStream{ss, identityFromMetadata(ss.Context())})
		}),
	)
	drivev1.RegisterDriveServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &testEnv{c: drivev1.NewDriveServiceClient(cc), srv: srv, botsDir: s.BotsDir, tmpDir: srv.tmpDir}
}

type idStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *idStream) Context() context.Context { return s.ctx }

func as(org, perms string, kv ...string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), append([]string{"x-org", org, "x-perms", perms}, kv...)...)
}

func code(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if status.Code(err) != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func upload(t *testing.T, c drivev1.DriveServiceClient, ctx context.Context, bot, p string, data []byte, chunk int) (*drivev1.UploadFileResponse, error) {
	t.Helper()
	st, err := c.UploadFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&drivev1.UploadFileRequest{Msg: &drivev1.UploadFileRequest_Header{Header: &drivev1.UploadHeader{Bot: bot, Path: p, Size: int64(len(data))}}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += chunk {
		if err := st.Send(&drivev1.UploadFileRequest{Msg: &drivev1.UploadFileRequest_Chunk{Chunk: data[i:min(i+chunk, len(data))]}}); err != nil {
			break // the server answered early; CloseAndRecv has its error
		}
	}
	return st.CloseAndRecv()
}

func readAll(t *testing.T, c drivev1.DriveServiceClient, ctx context.Context, req *drivev1.ReadFileRequest) ([]byte, *drivev1.ReadFileResponse, error) {
	t.Helper()
	st, err := c.ReadFile(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	var first *drivev1.ReadFileResponse
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), first, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if first == nil {
			first = m
		}
		buf.Write(m.GetChunk())
	}
}

func TestAuthorisation(t *testing.T) {
	e := startServer(t, nil)
	req := &drivev1.StatFileRequest{Bot: "b", Path: "a.txt"}
	_, err := e.c.StatFile(context.Background(), req)
	code(t, err, codes.Unauthenticated)
	_, err = e.c.StatFile(as(testOrg, ""), req)
	code(t, err, codes.PermissionDenied)
	_, err = e.c.StatFile(as(testOrg, allPerms, "x-kind", "visitor"), req)
	code(t, err, codes.PermissionDenied)
	_, err = e.c.PutFile(as(testOrg, readPerms), &drivev1.PutFileRequest{Bot: "b", Path: "a.txt", Content: []byte("x")})
	code(t, err, codes.PermissionDenied)
	_, err = e.c.SetQuota(as(testOrg, "files:read,files:write"), &drivev1.SetQuotaRequest{QuotaBytes: 1})
	code(t, err, codes.PermissionDenied)
	_, err = e.c.StatFile(as(testOrg, allPerms), req)
	code(t, err, codes.NotFound)
	// Every method has a rule.
	for _, m := range drivev1.DriveService_ServiceDesc.Methods {
		if _, ok := Policy[method(m.MethodName)]; !ok {
			t.Errorf("no policy for %s", m.MethodName)
		}
	}
	for _, m := range drivev1.DriveService_ServiceDesc.Streams {
		if _, ok := Policy[method(m.StreamName)]; !ok {
			t.Errorf("no policy for %s", m.StreamName)
		}
	}
}

func TestFileAPI(t *testing.T) {
	e := startServer(t, nil)
	ctx := as(testOrg, allPerms)
	data := bytes.Repeat([]byte("0123456789abcdef"), 100000) // 1.6 MB
	res, err := upload(t, e.c, ctx, "mybot", "mybot.gbkb/docs/big.txt", data, 100000)
	if err != nil || !res.GetChanged() || res.GetInfo().GetSize() != int64(len(data)) {
		t.Fatalf("upload: %v %v", res, err)
	}
	got, first, err := readAll(t, e.c, ctx, &drivev1.ReadFileRequest{Bot: "mybot", Path: "mybot.gbkb/docs/big.txt"})
	if err != nil || !bytes.Equal(got, data) || first.GetInfo().GetHash() != res.GetInfo().GetHash() {
		t.Fatalf("read: %d bytes %v", len(got), err)
	}
	got, first, err = readAll(t, e.c, ctx, &drivev1.ReadFileRequest{Bot: "mybot", Path: "mybot.gbkb/docs/big.txt", Offset: 16, Length: 10})
	if err != nil || string(got) != "0123456789" || first.GetOffset() != 16 || first.GetLength() != 10 {
		t.Fatalf("range: %q %v %v", got, first, err)
	}
	_, _, err = readAll(t, e.c, ctx, &drivev1.ReadFileRequest{Bot: "mybot", Path: "mybot.gbkb/docs/big.txt", Offset: int64(len(data))})
	code(t, err, codes.OutOfRange)
	// Declared size that does not match: refused, previous content kept.
	if _, err := upload(t, e.c, ctx, "mybot", "mybot.gbkb/docs/big.txt", data[:100], 50); status.Code(err) != codes.OK {
		t.Fatalf("small re-upload: %v", err)
	}
	st, _ := e.c.UploadFile(ctx)
	st.Send(&drivev1.UploadFileRequest{Msg: &drivev1.UploadFileRequest_Header{Header: &drivev1.UploadHeader{Bot: "mybot", Path: "mybot.gbkb/docs/big.txt", Size: 1000}}})
	st.Send(&drivev1.UploadFileRequest{Msg: &drivev1.UploadFileRequest_Chunk{Chunk: []byte("short")}})
	_, err = st.CloseAndRecv()
	code(t, err, codes.InvalidArgument)
	g, err := e.c.GetFile(ctx, &drivev1.GetFileRequest{Bot: "mybot", Path: "mybot.gbkb/docs/big.txt"})
	if err != nil || !bytes.Equal(g.GetContent(), data[:100]) {
		t.Fatalf("get: %v", err)
	}
	// Small files, listing, copy, move, delete.
	p, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "mybot", Path: "mybot.gbdialog/start.bas", Content: []byte(`TALK "hi"`)})
	if err != nil || !p.GetChanged() || !strings.HasPrefix(p.GetInfo().GetContentType(), "text/plain") {
		t.Fatalf("put: %v %v", p, err)
	}
	p, _ = e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "mybot", Path: "mybot.gbdialog/start.bas", Content: []byte(`TALK "hi"`)})
	if p.GetChanged() {
		t.Fatal("identical PutFile reported a change")
	}
	if _, err := e.c.CopyFile(ctx, &drivev1.CopyFileRequest{Bot: "mybot", Path: "mybot.gbdialog/start.bas", ToPath: "mybot.gbdialog/copy.bas"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.MoveFile(ctx, &drivev1.MoveFileRequest{Bot: "mybot", Path: "mybot.gbdialog/copy.bas", ToBot: "other", ToPath: "other.gbdialog/moved.bas"}); err != nil {
		t.Fatal(err)
	}
	l, err := e.c.ListFiles(ctx, &drivev1.ListFilesRequest{Bot: "mybot", Prefix: "mybot.gbdialog/"})
	if err != nil || len(l.GetFiles()) != 1 || l.GetFiles()[0].GetPath() != "mybot.gbdialog/start.bas" {
		t.Fatalf("list: %v %v", l, err)
	}
	if _, err := e.c.StatFile(ctx, &drivev1.StatFileRequest{Bot: "other", Path: "other.gbdialog/moved.bas"}); err != nil {
		t.Fatal(err)
	}
	d, err := e.c.DeleteFile(ctx, &drivev1.DeleteFileRequest{Bot: "mybot", Path: "mybot.gbkb", Recursive: true})
	if err != nil || d.GetDeleted() != 1 {
		t.Fatalf("delete tree: %v %v", d, err)
	}
	// Another org sees nothing.
	_, err = e.c.GetFile(as(otherOrg, allPerms), &drivev1.GetFileRequest{Bot: "mybot", Path: "mybot.gbdialog/start.bas"})
	code(t, err, codes.NotFound)
	// Path traversal and bad names.
	for _, bad := range []string{"../../etc/passwd", "/abs", "a/../b", `a\b`, ".env", ""} {
		_, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "mybot", Path: bad, Content: []byte("x")})
		code(t, err, codes.InvalidArgument)
	}
	_, err = e.c.StatFile(ctx, &drivev1.StatFileRequest{Bot: "../x", Path: "a"})
	code(t, err, codes.InvalidArgument)
	// Default org files are in BOTS_DIR.
	if _, err := e.c.PutFile(as(authz.DefaultOrgID, allPerms), &drivev1.PutFileRequest{Bot: "sample", Path: "sample.gbot/config.csv", Content: []byte("name,value\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.botsDir, "sample.gbai/sample.gbot/config.csv")); err != nil {
		t.Fatal(err)
	}
	u, err := e.c.GetUsage(ctx, &drivev1.GetUsageRequest{})
	if err != nil || u.GetFiles() != 2 || u.GetBytesUsed() != 18 {
		t.Fatalf("usage: %v %v", u, err)
	}
}

func TestQuotaOverAPI(t *testing.T) {
	e := startServer(t, nil)
	ctx := as(testOrg, allPerms)
	if _, err := e.c.SetQuota(ctx, &drivev1.SetQuotaRequest{QuotaBytes: 1000}); err != nil {
		t.Fatal(err)
	}
	_, err := upload(t, e.c, ctx, "b", "big.bin", make([]byte, 1001), 100)
	code(t, err, codes.ResourceExhausted)
	if _, err := e.c.StatFile(ctx, &drivev1.StatFileRequest{Bot: "b", Path: "big.bin"}); status.Code(err) != codes.NotFound {
		t.Fatalf("refused upload stored: %v", err)
	}
}

func TestExtractText(t *testing.T) {
	e := startServer(t, nil)
	ctx := as(testOrg, allPerms)
	docx := extracttest.DOCX([]string{"Refund policy", "Refunds within 30 days."})
	if _, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "b", Path: "b.gbkb/docs/policy.docx", Content: docx}); err != nil {
		t.Fatal(err)
	}
	r, err := e.c.ExtractText(ctx, &drivev1.ExtractTextRequest{Bot: "b", Path: "b.gbkb/docs/policy.docx"})
	if err != nil || r.GetText() != "Refund policy\nRefunds within 30 days." || len(r.GetHash()) != 64 ||
		r.GetContentType() != "application/vnd.openxmlformats-officedocument.wordprocessingml.document" {
		t.Fatalf("extract: %v %v", r, err)
	}
	// Cached by hash: the cache now answers (checked by poisoning it).
	key := textCacheKey(testOrg, r.GetHash(), "docx")
	if _, ok, _ := e.srv.cache.Get(context.Background(), key); !ok {
		t.Fatal("extracted text not cached")
	}
	e.srv.cache.Set(context.Background(), key, []byte(`{"text":"from cache"}`), 0)
	if r, _ := e.c.ExtractText(ctx, &drivev1.ExtractTextRequest{Bot: "b", Path: "b.gbkb/docs/policy.docx"}); r.GetText() != "from cache" {
		t.Fatalf("second extraction did not use the cache: %q", r.GetText())
	}
	// A corrupt PDF: a clear error, not a crash.
	if _, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "b", Path: "b.gbkb/bad.pdf", Content: []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.ExtractText(ctx, &drivev1.ExtractTextRequest{Bot: "b", Path: "b.gbkb/bad.pdf"})
	code(t, err, codes.FailedPrecondition)
	if !strings.Contains(status.Convert(err).Message(), "corrupt") {
		t.Fatalf("message: %v", err)
	}
	if _, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "b", Path: "b.gbkb/img.png", Content: []byte("\x89PNG\r\n\x1a\n....")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.ExtractText(ctx, &drivev1.ExtractTextRequest{Bot: "b", Path: "b.gbkb/img.png"})
	code(t, err, codes.FailedPrecondition)
}

func importZip(t *testing.T, c drivev1.DriveServiceClient, ctx context.Context, bot string, zip []byte, mode drivev1.ImportMode) (*drivev1.ImportPackageResponse, error) {
	t.Helper()
	st, err := c.ImportPackage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Send(&drivev1.ImportPackageRequest{Msg: &drivev1.ImportPackageRequest_Header{Header: &drivev1.ImportHeader{Bot: bot, Mode: mode}}})
	for i := 0; i < len(zip); i += 64 << 10 {
		if st.Send(&drivev1.ImportPackageRequest{Msg: &drivev1.ImportPackageRequest_Chunk{Chunk: zip[i:min(i+64<<10, len(zip))]}}) != nil {
			break
		}
	}
	return st.CloseAndRecv()
}

func TestImportPackage(t *testing.T) {
	e := startServer(t, nil)
	ctx := as(testOrg, allPerms)
	v1 := extracttest.Zip(
		[2]string{"mybot.gbai/mybot.gbdialog/start.bas", `TALK "v1"`},
		[2]string{"mybot.gbai/mybot.gbot/config.csv", "name,value\n"},
		[2]string{"mybot.gbai/mybot.gbkb/docs/old.md", "# old"},
	)
	r, err := importZip(t, e.c, ctx, "mybot", v1, drivev1.ImportMode_IMPORT_MODE_UNSPECIFIED)
	if err != nil || r.GetWritten() != 3 {
		t.Fatalf("import v1: %v %v", r, err)
	}
	v2 := extracttest.Zip(
		[2]string{"mybot.gbai/mybot.gbdialog/start.bas", `TALK "v2"`},
		[2]string{"mybot.gbai/mybot.gbot/config.csv", "name,value\n"},
	)
	r, err = importZip(t, e.c, ctx, "mybot", v2, drivev1.ImportMode_IMPORT_MODE_REPLACE)
	if err != nil || r.GetWritten() != 1 || r.GetUnchanged() != 1 || r.GetDeleted() != 1 {
		t.Fatalf("import v2: %v %v", r, err)
	}
	g, err := e.c.GetFile(ctx, &drivev1.GetFileRequest{Bot: "mybot", Path: "mybot.gbdialog/start.bas"})
	if err != nil || string(g.GetContent()) != `TALK "v2"` {
		t.Fatalf("after v2: %v", err)
	}
	// Needs bots:write.
	_, err = importZip(t, e.c, as(testOrg, "files:read,files:write"), "mybot", v2, 0)
	code(t, err, codes.PermissionDenied)
	// Hostile zips: refused, and nothing stored or left in the temporary folder.
	many := make([][2]string, 10000)
	for i := range many {
		many[i] = [2]string{fmt.Sprintf("f%05d.txt", i), "x"}
	}
	for name, z := range map[string][]byte{
		"zip slip":    extracttest.Zip([2]string{"../../evil.bas", "x"}),
		"10000 files": extracttest.Zip(many...),
		"zip bomb":    extracttest.Zip([2]string{"zeros.bin", strings.Repeat("\x00", 40<<20)}),
		"not a zip":   []byte("plain text"),
	} {
		_, err := importZip(t, e.c, ctx, "evil", z, 0)
		code(t, err, codes.InvalidArgument)
		l, _ := e.c.ListFiles(ctx, &drivev1.ListFilesRequest{Bot: "evil"})
		if len(l.GetFiles()) != 0 {
			t.Fatalf("%s: stored %v", name, l.GetFiles())
		}
	}
	left, _ := os.ReadDir(e.tmpDir)
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// Too big a zip.
	e2 := startServer(t, func(s *Settings) { s.PackageMaxBytes = 1000 })
	_, err = importZip(t, e2.c, ctx, "mybot", append(v1, make([]byte, 2000)...), 0)
	code(t, err, codes.ResourceExhausted)
}

func TestPresignedTokens(t *testing.T) {
	e := startServer(t, nil)
	ctx := as(testOrg, allPerms)
	if _, err := e.c.PutFile(ctx, &drivev1.PutFileRequest{Bot: "b", Path: "shared.txt", Content: []byte("shared")}); err != nil {
		t.Fatal(err)
	}
	u, err := e.c.CreatePresignedURL(ctx, &drivev1.CreatePresignedURLRequest{Bot: "b", Path: "shared.txt", Method: drivev1.PresignMethod_PRESIGN_METHOD_GET, TtlSeconds: 60})
	if err != nil || !strings.HasPrefix(u.GetUrl(), SignedPathPrefix) {
		t.Fatalf("presign: %v %v", u, err)
	}
	token := strings.TrimPrefix(u.GetUrl(), SignedPathPrefix)
	st, err := e.c.ReadSigned(context.Background(), &drivev1.ReadSignedRequest{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || string(m.GetChunk()) != "shared" {
		t.Fatalf("read signed: %v %v", m, err)
	}
	st, _ = e.c.ReadSigned(context.Background(), &drivev1.ReadSignedRequest{Token: token[:len(token)-2] + "xx"})
	_, err = st.Recv()
	code(t, err, codes.PermissionDenied)
	// A GET token does not upload.
	up, _ := e.c.UploadSigned(context.Background())
	up.Send(&drivev1.UploadSignedRequest{Msg: &drivev1.UploadSignedRequest_Token{Token: token}})
	_, err = up.CloseAndRecv()
	code(t, err, codes.PermissionDenied)
	u, err = e.c.CreatePresignedURL(ctx, &drivev1.CreatePresignedURLRequest{Bot: "b", Path: "inbox/new.txt", Method: drivev1.PresignMethod_PRESIGN_METHOD_PUT})
	if err != nil {
		t.Fatal(err)
	}
	up, _ = e.c.UploadSigned(context.Background())
	up.Send(&drivev1.UploadSignedRequest{Msg: &drivev1.UploadSignedRequest_Token{Token: strings.TrimPrefix(u.GetUrl(), SignedPathPrefix)}})
	up.Send(&drivev1.UploadSignedRequest{Msg: &drivev1.UploadSignedRequest_Chunk{Chunk: []byte("dropped in")}})
	if r, err := up.CloseAndRecv(); err != nil || r.GetInfo().GetSize() != 10 {
		t.Fatalf("upload signed: %v %v", r, err)
	}
	_, err = e.c.CreatePresignedURL(ctx, &drivev1.CreatePresignedURLRequest{Bot: "b", Path: "../x", Method: drivev1.PresignMethod_PRESIGN_METHOD_PUT})
	code(t, err, codes.InvalidArgument)
}
