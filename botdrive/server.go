package botdrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botdrive/drive"
	"github.com/botserver-go/botserver-go/botdrive/extract"
	"github.com/botserver-go/botserver-go/botdrive/pkgimport"
	"github.com/botserver-go/botserver-go/botdrive/presign"
	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/cache"
	"github.com/botserver-go/botserver-go/botstate/pg"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// Permissions botdrive's methods need.
const (
	PermRead    = "files:read"
	PermWrite   = "files:write"
	PermBots    = "bots:write" // deploying a whole package
	PermOrgAdmn = "org:admin"
)

func method(name string) string {
	return "/" + drivev1.DriveService_ServiceDesc.ServiceName + "/" + name
}

// Policy says who may call each method (enforced by the token-verifying
// interceptor; the handlers check the same permission again).
var Policy = authz.Policy{
	method("StatFile"):           {Permission: PermRead},
	method("ListFiles"):          {Permission: PermRead},
	method("GetFile"):            {Permission: PermRead},
	method("ReadFile"):           {Permission: PermRead},
	method("ExtractText"):        {Permission: PermRead},
	method("GetUsage"):           {Permission: PermRead},
	method("PutFile"):            {Permission: PermWrite},
	method("UploadFile"):         {Permission: PermWrite},
	method("CopyFile"):           {Permission: PermWrite},
	method("MoveFile"):           {Permission: PermWrite},
	method("DeleteFile"):         {Permission: PermWrite},
	method("CreatePresignedURL"): {Permission: PermWrite},
	method("ImportPackage"):      {Permission: PermBots},
	method("BeginUpload"):        {Permission: PermWrite},
	method("CommitUpload"):       {Permission: PermWrite},
	method("SetQuota"):           {Permission: PermOrgAdmn},
	// The signed token is the authorisation.
	method("ReadSigned"):   {Public: true},
	method("UploadSigned"): {Public: true},
}

// Limits of the API.
const (
	// SmallFileMax is the most GetFile and PutFile carry (gRPC's default
	// message limit is 4 MiB).
	SmallFileMax = 3 << 20
	// ChunkSize is the size of ReadFile's messages.
	ChunkSize = 256 << 10
)

// server implements drivev1.DriveServiceServer on a Drive.
type server struct {
	drivev1.UnimplementedDriveServiceServer
	d        *drive.Drive
	log      *slog.Logger
	cache    cache.Cache
	signer   *presign.Signer
	presign  storage.Presigner // set when S3 URLs are handed out directly
	data     storage.DataURLs  // set when the gateway may move S3 bytes itself
	redirect storage.DataURLs  // set when downloads may be redirected to S3 (S3_DOWNLOAD_REDIRECT)
	getURLs  getURLs           // recent presigned GETs of data and redirect, by key
	urlTTL   time.Duration     // lifetime of those GETs: dataURLTTL (tests shorten it)
	extract  extract.Limits
	pkgLim   pkgimport.Limits
	pkgMax   int64 // bytes of an uploaded zip
	tmpDir   string
	botsDir  string // "" when the default org is kept in the main store
	cacheTTL time.Duration
}

// caller returns the caller's org after checking it holds perm.
func caller(ctx context.Context, perm string) (string, error) {
	id, ok := authz.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "no credentials")
	}
	if id.Kind == authz.KindVisitor || !id.Can(perm) {
		return "", status.Errorf(codes.PermissionDenied, "%s is required", perm)
	}
	if id.OrgID == "" {
		return "", status.Error(codes.PermissionDenied, "the credentials name no organisation")
	}
	return id.OrgID, nil
}

// toStatus maps domain errors to gRPC statuses; anything unexpected is
// logged and answered as a bare internal error.
func (s *server) toStatus(ctx context.Context, err error) error {
	var ee *extractErr
	switch {
	case err == nil:
		return nil
	case status.Code(err) != codes.Unknown:
		return err
	case errors.Is(err, drive.ErrInvalid), errors.Is(err, pkgimport.ErrRefused):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, drive.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, drive.ErrQuota), errors.Is(err, drive.ErrTooLarge):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, pg.ErrNoOrg):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.As(err, &ee):
		return status.Error(ee.code, ee.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	s.log.ErrorContext(ctx, "drive request failed", "err", err)
	return status.Error(codes.Internal, "internal error")
}

func (s *server) StatFile(ctx context.Context, r *drivev1.StatFileRequest) (*drivev1.StatFileResponse, error) {
	org, err := caller(ctx, PermRead)
	if err != nil {
		return nil, err
	}
	f, err := s.d.Stat(ctx, org, r.GetBot(), r.GetPath())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.StatFileResponse{Info: f.Proto()}, nil
}

func (s *server) ListFiles(ctx context.Context, r *drivev1.ListFilesRequest) (*drivev1.ListFilesResponse, error) {
	org, err := caller(ctx, PermRead)
	if err != nil {
		return nil, err
	}
	files, next, err := s.d.List(ctx, org, r.GetBot(), r.GetPrefix(), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &drivev1.ListFilesResponse{NextPageToken: next}
	for _, f := range files {
		out.Files = append(out.Files, f.Proto())
	}
	return out, nil
}

func (s *server) GetFile(ctx context.Context, r *drivev1.GetFileRequest) (*drivev1.GetFileResponse, error) {
	org, err := caller(ctx, PermRead)
	if err != nil {
		return nil, err
	}
	rc, f, err := s.d.Open(ctx, org, r.GetBot(), r.GetPath(), nil)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	defer rc.Close()
	if f.Size > SmallFileMax {
		return nil, status.Errorf(codes.FailedPrecondition, "%s is %d bytes; GetFile returns at most %d: use ReadFile", f.Path, f.Size, SmallFileMax)
	}
	b, err := io.ReadAll(io.LimitReader(rc, SmallFileMax+1))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.GetFileResponse{Info: f.Proto(), Content: b}, nil
}

func (s *server) ReadFile(r *drivev1.ReadFileRequest, stream grpc.ServerStreamingServer[drivev1.ReadFileResponse]) error {
	ctx := stream.Context()
	org, err := caller(ctx, PermRead)
	if err != nil {
		return err
	}
	redirect := r.GetAcceptRedirect() && s.redirect != nil
	if redirect || (r.GetAcceptUrl() && s.data != nil) {
		m, err := s.readURL(ctx, org, r.GetBot(), r.GetPath(), r.GetOffset(), r.GetLength(), redirect)
		if err != nil {
			return err
		}
		if m != nil {
			return stream.Send(m)
		}
	}
	return s.stream(ctx, org, r.GetBot(), r.GetPath(), r.GetOffset(), r.GetLength(), func(m *drivev1.ReadFileResponse) error { return stream.Send(m) })
}

// Lifetimes of the data URLs and upload tickets handed to the gateway (a
// redirect's URL is a data URL the gateway hands to its client). A URL is
// used at once (S3 checks its expiry when a request starts); a ticket is
// committed when the bytes are in, however long that took.
const (
	dataURLTTL = 5 * time.Minute
	ticketTTL  = 24 * time.Hour
	// ticketMethod marks BeginUpload's tickets: never valid as a signed URL.
	ticketMethod = "COMMIT"
)

// readURL answers ReadFile with a presigned GET of the object when the file
// is in the main store (nil otherwise: stream it): the same checks and the
// same first message as stream, without the bytes, from the metadata
// alone. The URL's answer carries the recorded content type.
//
// For the gateway (url): the reader sends If-Match with url_etag, so an
// object changed behind the metadata is refused (and the reader falls back
// to the stream, which reconciles nothing but serves what is stored, as
// always). For a redirect (redirect_url, S3_DOWNLOAD_REDIRECT): the client
// reads the object itself, with its own Range, and nothing pins it; it
// gets url_etag to compare with the store's answer.
func (s *server) readURL(ctx context.Context, org, bot, p string, offset, length int64, redirect bool) (*drivev1.ReadFileResponse, error) {
	if offset < 0 || length < 0 {
		return nil, status.Error(codes.InvalidArgument, "offset and length must not be negative")
	}
	f, etag, key, inMain, err := s.d.Locate(ctx, org, bot, p)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if !inMain {
		return nil, nil // BOTS_DIR: streamed
	}
	if redirect {
		u, err := s.getURLs.get(ctx, key, f.ContentType, s.urlTTL, s.redirect.PresignGetAs)
		if err != nil {
			return nil, s.toStatus(ctx, err)
		}
		return &drivev1.ReadFileResponse{Info: f.Proto(), Length: f.Size, RedirectUrl: u, UrlEtag: etag}, nil
	}
	if (offset > 0 || length > 0) && offset >= f.Size {
		return nil, nil // stream decides, with the size as stored
	}
	served := f.Size - offset
	if length > 0 && length < served {
		served = length
	}
	u, err := s.getURLs.get(ctx, key, f.ContentType, s.urlTTL, s.data.PresignGetAs)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.ReadFileResponse{Info: f.Proto(), Offset: offset, Length: served, Url: u, UrlEtag: etag}, nil
}

func (s *server) BeginUpload(ctx context.Context, r *drivev1.BeginUploadRequest) (*drivev1.BeginUploadResponse, error) {
	org, err := caller(ctx, PermWrite)
	if err != nil {
		return nil, err
	}
	h := r.GetHeader()
	if h == nil {
		return nil, status.Error(codes.InvalidArgument, "BeginUpload needs the upload's header")
	}
	if err := s.d.CheckName(h.GetBot(), h.GetPath()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	key, inMain := s.d.Key(org, h.GetBot(), h.GetPath())
	if s.data == nil || !inMain {
		return &drivev1.BeginUploadResponse{}, nil // stream it with UploadFile
	}
	began := time.Now()
	ct, err := s.d.PrepareUpload(ctx, org, h.GetBot(), h.GetPath(), h.GetSize(), r.GetHead(), h.GetContentType())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	u, err := s.data.PresignPutExact(ctx, key, s.urlTTL, ct, h.GetSize())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	ticket := s.signer.Sign(presign.Claims{Org: org, Bot: h.GetBot(), Path: h.GetPath(), Method: ticketMethod,
		Exp: began.Add(ticketTTL).Unix(), Size: h.GetSize(), ContentType: ct, Began: began.UnixNano()})
	return &drivev1.BeginUploadResponse{Url: u, ContentType: ct, Ticket: ticket}, nil
}

func (s *server) CommitUpload(ctx context.Context, r *drivev1.CommitUploadRequest) (*drivev1.CommitUploadResponse, error) {
	org, err := caller(ctx, PermWrite)
	if err != nil {
		return nil, err
	}
	c, err := s.signer.Verify(r.GetTicket(), time.Now())
	if err != nil || c.Method != ticketMethod || c.Org != org {
		return nil, status.Error(codes.PermissionDenied, "the upload ticket is invalid or expired")
	}
	f, changed, err := s.d.CommitUpload(ctx, org, c.Bot, c.Path, c.Size, r.GetHash(), c.ContentType, r.GetEtag(), time.Unix(0, c.Began))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.CommitUploadResponse{Info: f.Proto(), Changed: changed}, nil
}

func (s *server) stream(ctx context.Context, org, bot, p string, offset, length int64, send func(*drivev1.ReadFileResponse) error) error {
	if offset < 0 || length < 0 {
		return status.Error(codes.InvalidArgument, "offset and length must not be negative")
	}
	var rng *storage.Range
	if offset > 0 || length > 0 {
		rng = &storage.Range{Offset: offset, Length: length}
	}
	rc, f, err := s.d.Open(ctx, org, bot, p, rng)
	if err != nil {
		if errors.Is(err, drive.ErrInvalid) && rng != nil {
			return status.Error(codes.OutOfRange, err.Error())
		}
		return s.toStatus(ctx, err)
	}
	defer rc.Close()
	served := f.Size - offset
	if length > 0 && length < served {
		served = length
	}
	first := &drivev1.ReadFileResponse{Info: f.Proto(), Offset: offset, Length: served}
	buf := make([]byte, ChunkSize)
	for {
		n, rerr := io.ReadFull(rc, buf)
		if n > 0 || first != nil {
			m := first
			if m == nil {
				m = &drivev1.ReadFileResponse{}
			}
			m.Chunk = buf[:n]
			if err := send(m); err != nil {
				return err
			}
			first = nil
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return s.toStatus(ctx, rerr)
		}
	}
}

func (s *server) PutFile(ctx context.Context, r *drivev1.PutFileRequest) (*drivev1.PutFileResponse, error) {
	org, err := caller(ctx, PermWrite)
	if err != nil {
		return nil, err
	}
	if len(r.GetContent()) > SmallFileMax {
		return nil, status.Errorf(codes.InvalidArgument, "PutFile carries at most %d bytes: use UploadFile", SmallFileMax)
	}
	f, changed, err := s.d.Put(ctx, org, r.GetBot(), r.GetPath(), bytes.NewReader(r.GetContent()), drive.PutOptions{ContentType: r.GetContentType(), Size: int64(len(r.GetContent()))})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.PutFileResponse{Info: f.Proto(), Changed: changed}, nil
}

// chunkReader reads the chunks of a client stream as one byte stream.
type chunkReader struct {
	recv func() ([]byte, error)
	buf  []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		b, err := c.recv()
		if err != nil {
			return 0, err // io.EOF at the end of the stream
		}
		c.buf = b
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (s *server) UploadFile(stream grpc.ClientStreamingServer[drivev1.UploadFileRequest, drivev1.UploadFileResponse]) error {
	ctx := stream.Context()
	org, err := caller(ctx, PermWrite)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return status.Error(codes.InvalidArgument, "the upload sent no header")
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "the first message of an upload must be its header")
	}
	r := &chunkReader{recv: func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if m.GetHeader() != nil {
			return nil, status.Error(codes.InvalidArgument, "a second header in one upload")
		}
		return m.GetChunk(), nil
	}}
	f, changed, err := s.d.Put(ctx, org, h.GetBot(), h.GetPath(), r, drive.PutOptions{ContentType: h.GetContentType(), Size: h.GetSize()})
	if err != nil {
		return s.toStatus(ctx, err)
	}
	return stream.SendAndClose(&drivev1.UploadFileResponse{Info: f.Proto(), Changed: changed})
}

func (s *server) CopyFile(ctx context.Context, r *drivev1.CopyFileRequest) (*drivev1.CopyFileResponse, error) {
	org, err := caller(ctx, PermWrite)
	if err != nil {
		return nil, err
	}
	f, err := s.d.Copy(ctx, org, r.GetBot(), r.GetPath(), r.GetToBot(), r.GetToPath())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.CopyFileResponse{Info: f.Proto()}, nil
}

func (s *server) MoveFile(ctx context.Context, r *drivev1.MoveFileRequest) (*drivev1.MoveFileResponse, error) {
	org, err := caller(ctx, PermWrite)
	if err != nil {
		return nil, err
	}
	f, err := s.d.Move(ctx, org, r.GetBot(), r.GetPath(), r.GetToBot(), r.GetToPath())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.MoveFileResponse{Info: f.Proto()}, nil
}

func (s *server) DeleteFile(ctx context.Context, r *drivev1.DeleteFileRequest) (*drivev1.DeleteFileResponse, error) {
	org, err := caller(ctx, PermWrite)
	if err != nil {
		return nil, err
	}
	if r.GetRecursive() {
		n, err := s.d.DeleteTree(ctx, org, r.GetBot(), r.GetPath())
		if err != nil {
			return nil, s.toStatus(ctx, err)
		}
		return &drivev1.DeleteFileResponse{Deleted: int32(n)}, nil
	}
	if err := s.d.Delete(ctx, org, r.GetBot(), r.GetPath()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.DeleteFileResponse{Deleted: 1}, nil
}

// Presigned URL lifetimes.
const (
	defaultTTL = 15 * time.Minute
	maxTTL     = 7 * 24 * time.Hour
)

// SignedPathPrefix is where the gateway serves botdrive's own presigned URLs.
const SignedPathPrefix = "/api/v1/files/signed/"

func (s *server) CreatePresignedURL(ctx context.Context, r *drivev1.CreatePresignedURLRequest) (*drivev1.CreatePresignedURLResponse, error) {
	org, err := caller(ctx, PermWrite)
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(r.GetTtlSeconds()) * time.Second
	switch {
	case r.GetTtlSeconds() < 0 || ttl > maxTTL:
		return nil, status.Errorf(codes.InvalidArgument, "ttl_seconds must be between 1 and %d", int(maxTTL.Seconds()))
	case ttl == 0:
		ttl = defaultTTL
	}
	var m string
	switch r.GetMethod() {
	case drivev1.PresignMethod_PRESIGN_METHOD_GET:
		m = "GET"
		if _, err := s.d.Stat(ctx, org, r.GetBot(), r.GetPath()); err != nil {
			return nil, s.toStatus(ctx, err)
		}
	case drivev1.PresignMethod_PRESIGN_METHOD_PUT:
		m = "PUT"
		if err := s.d.CheckName(r.GetBot(), r.GetPath()); err != nil {
			return nil, s.toStatus(ctx, err)
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "method must be GET or PUT")
	}
	exp := time.Now().Add(ttl)
	out := &drivev1.CreatePresignedURLResponse{ExpiresAt: timestamppb.New(exp)}
	if key, inMain := s.d.Key(org, r.GetBot(), r.GetPath()); s.presign != nil && inMain {
		// Straight to the bucket. An upload this way is recorded (and its
		// event published) by the next reconcile, not at once.
		if m == "GET" {
			out.Url, err = s.presign.PresignGet(ctx, key, ttl)
		} else {
			out.Url, err = s.presign.PresignPut(ctx, key, ttl)
		}
		if err != nil {
			return nil, s.toStatus(ctx, err)
		}
		return out, nil
	}
	out.Url = SignedPathPrefix + s.signer.Sign(presign.Claims{Org: org, Bot: r.GetBot(), Path: r.GetPath(), Method: m, Exp: exp.Unix()})
	return out, nil
}

func (s *server) verify(token, m string) (presign.Claims, error) {
	c, err := s.signer.Verify(token, time.Now())
	if err != nil || c.Method != m {
		return presign.Claims{}, status.Error(codes.PermissionDenied, presign.ErrInvalid.Error())
	}
	return c, nil
}

func (s *server) ReadSigned(r *drivev1.ReadSignedRequest, stream grpc.ServerStreamingServer[drivev1.ReadSignedResponse]) error {
	c, err := s.verify(r.GetToken(), "GET")
	if err != nil {
		return err
	}
	return s.stream(stream.Context(), c.Org, c.Bot, c.Path, r.GetOffset(), r.GetLength(), func(m *drivev1.ReadFileResponse) error {
		return stream.Send(&drivev1.ReadSignedResponse{Chunk: m.Chunk, Info: m.Info, Offset: m.Offset, Length: m.Length})
	})
}

func (s *server) UploadSigned(stream grpc.ClientStreamingServer[drivev1.UploadSignedRequest, drivev1.UploadSignedResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil || first.GetToken() == "" {
		return status.Error(codes.InvalidArgument, "the first message of a signed upload must be its token")
	}
	c, err := s.verify(first.GetToken(), "PUT")
	if err != nil {
		return err
	}
	r := &chunkReader{recv: func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return m.GetChunk(), nil
	}}
	f, changed, err := s.d.Put(ctx, c.Org, c.Bot, c.Path, r, drive.PutOptions{Size: -1})
	if err != nil {
		return s.toStatus(ctx, err)
	}
	return stream.SendAndClose(&drivev1.UploadSignedResponse{Info: f.Proto(), Changed: changed})
}

func (s *server) GetUsage(ctx context.Context, _ *drivev1.GetUsageRequest) (*drivev1.GetUsageResponse, error) {
	org, err := caller(ctx, PermRead)
	if err != nil {
		return nil, err
	}
	u, err := s.d.Usage(ctx, org)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.GetUsageResponse{BytesUsed: u.Bytes, Files: u.Files, QuotaBytes: u.Quota}, nil
}

func (s *server) SetQuota(ctx context.Context, r *drivev1.SetQuotaRequest) (*drivev1.SetQuotaResponse, error) {
	org, err := caller(ctx, PermOrgAdmn)
	if err != nil {
		return nil, err
	}
	q, err := s.d.SetQuota(ctx, org, r.GetQuotaBytes())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &drivev1.SetQuotaResponse{QuotaBytes: q}, nil
}

// extractErr carries the status an extraction failure maps to.
type extractErr struct {
	code codes.Code
	err  error
}

func (e *extractErr) Error() string { return e.err.Error() }
func (e *extractErr) Unwrap() error { return e.err }

type cachedText struct {
	Text      string `json:"text"`
	Pages     int    `json:"pages"`
	Truncated bool   `json:"truncated"`
}

// extractCacheVersion changes when the extractors' output does, so old
// cached text is not served.
const extractCacheVersion = "v2"

// textCacheKey is where a document's text is cached: by content hash, per
// organisation (a hash recorded by CommitUpload is the uploader's word, so
// it is never trusted across organisations).
func textCacheKey(org, hash, format string) string {
	return "drive:text:" + extractCacheVersion + ":" + org + ":" + hash + ":" + format
}

func (s *server) ExtractText(ctx context.Context, r *drivev1.ExtractTextRequest) (*drivev1.ExtractTextResponse, error) {
	org, err := caller(ctx, PermRead)
	if err != nil {
		return nil, err
	}
	f, err := s.d.Stat(ctx, org, r.GetBot(), r.GetPath())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &drivev1.ExtractTextResponse{ContentType: f.ContentType, Hash: f.Hash}
	key := textCacheKey(org, f.Hash, extract.Format(f.ContentType, f.Path))
	if b, ok, err := s.cache.Get(ctx, key); err == nil && ok {
		var c cachedText
		if json.Unmarshal(b, &c) == nil {
			out.Text, out.Pages, out.Truncated = c.Text, int32(c.Pages), c.Truncated
			return out, nil
		}
	}
	if extract.Format(f.ContentType, f.Path) == "" {
		return nil, status.Errorf(codes.FailedPrecondition, "%s (%s): no text extractor for this format", f.Path, f.ContentType)
	}
	if f.Size > s.extract.MaxInput {
		return nil, status.Errorf(codes.FailedPrecondition, "%s is %d bytes; text is extracted from files of at most %d", f.Path, f.Size, s.extract.MaxInput)
	}
	rc, f2, err := s.d.Open(ctx, org, r.GetBot(), r.GetPath(), nil)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, s.extract.MaxInput+1))
	rc.Close()
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	res, err := extract.Text(ctx, data, f2.ContentType, f2.Path, s.extract)
	switch {
	case errors.Is(err, extract.ErrUnsupported), errors.Is(err, extract.ErrCorrupt), errors.Is(err, extract.ErrLimit):
		return nil, status.Errorf(codes.FailedPrecondition, "%s: %v", f.Path, err)
	case err != nil:
		return nil, s.toStatus(ctx, err)
	}
	out.Text, out.Pages, out.Truncated = res.Text, int32(res.Pages), res.Truncated
	if b, err := json.Marshal(cachedText{res.Text, res.Pages, res.Truncated}); err == nil {
		if err := s.cache.Set(ctx, key, b, s.cacheTTL); err != nil {
			s.log.WarnContext(ctx, "extract cache", "err", err)
		}
	}
	return out, nil
}

func (s *server) ImportPackage(stream grpc.ClientStreamingServer[drivev1.ImportPackageRequest, drivev1.ImportPackageResponse]) error {
	ctx := stream.Context()
	org, err := caller(ctx, PermBots)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil || first.GetHeader() == nil {
		return status.Error(codes.InvalidArgument, "the first message of an import must be its header")
	}
	h := first.GetHeader()
	if err := s.d.CheckName(h.GetBot(), "x"); err != nil {
		return s.toStatus(ctx, err)
	}
	if err := os.MkdirAll(s.tmpDir, 0o700); err != nil {
		return s.toStatus(ctx, err)
	}
	zf, err := os.CreateTemp(s.tmpDir, "upload-*.zip")
	if err != nil {
		return s.toStatus(ctx, err)
	}
	defer os.Remove(zf.Name())
	defer zf.Close()
	r := &chunkReader{recv: func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return m.GetChunk(), nil
	}}
	n, err := io.Copy(zf, io.LimitReader(r, s.pkgMax+1))
	if err != nil {
		return s.toStatus(ctx, err)
	}
	if n > s.pkgMax {
		return status.Errorf(codes.ResourceExhausted, "file too large: the package zip is larger than %d bytes", s.pkgMax)
	}
	pkg, err := pkgimport.Unpack(ctx, zf, n, h.GetBot(), s.tmpDir, s.pkgLim)
	if err != nil {
		return s.toStatus(ctx, err)
	}
	defer pkg.Close()
	files := make([]drive.StagedFile, len(pkg.Files))
	for i, f := range pkg.Files {
		files[i] = drive.StagedFile{Path: f.Path, Local: f.Local, Size: f.Size, Hash: f.Hash}
	}
	st, err := s.d.Import(ctx, org, h.GetBot(), files, h.GetMode() != drivev1.ImportMode_IMPORT_MODE_MERGE)
	if err != nil {
		return s.toStatus(ctx, fmt.Errorf("import %s: %w", h.GetBot(), err))
	}
	s.log.InfoContext(ctx, "package imported", "org", org, "bot", h.GetBot(), "written", st.Written, "unchanged", st.Unchanged, "deleted", st.Deleted)
	return stream.SendAndClose(&drivev1.ImportPackageResponse{Written: int32(st.Written), Unchanged: int32(st.Unchanged), Deleted: int32(st.Deleted), Bytes: st.Bytes})
}
