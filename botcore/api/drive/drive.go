// Package drive is the public HTTP file API, translated to botdrive's gRPC
// DriveService:
//
//	GET    /api/v1/bots/{bot}/files?prefix=&page_size=&page_token=   list
//	GET    /api/v1/bots/{bot}/files/{path...}                        download (Range, If-None-Match)
//	HEAD   /api/v1/bots/{bot}/files/{path...}                        headers only
//	GET    /api/v1/bots/{bot}/files/{path...}?metadata=true          the file's metadata as JSON
//	PUT    /api/v1/bots/{bot}/files/{path...}                        upload (streamed; any size up to the service's limit)
//	DELETE /api/v1/bots/{bot}/files/{path...}[?recursive=true]       delete a file or a folder
//	POST   /api/v1/bots/{bot}/copy   {"path","to_bot","to_path"}      copy
//	POST   /api/v1/bots/{bot}/move   {"path","to_bot","to_path"}      move
//	GET    /api/v1/bots/{bot}/text/{path...}                         extracted text
//	POST   /api/v1/bots/{bot}/presign {"path","method","ttl_seconds"} presigned URL
//	POST   /api/v1/bots/{bot}/package[?mode=merge]                   deploy a zip of <bot>.gbai
//	GET    /api/v1/drive/usage                                       the org's use and quota
//	PUT    /api/v1/drive/quota       {"quota_bytes"}                 change the quota (org:admin)
//	GET|PUT /api/v1/files/signed/{token}                             presigned download/upload (no token needed)
//
// The caller's Authorization header travels to botdrive as gRPC metadata;
// botdrive decides. Uploads and package imports are streamed in chunks, so
// the gateway holds at most one chunk of a body in memory.
package drive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// chunkSize is the size of the messages an upload is streamed in.
const chunkSize = 256 << 10

type api struct{ c drivev1.DriveServiceClient }

// Register mounts the file API on gw, talking to botdrive over cc.
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	a := &api{c: drivev1.NewDriveServiceClient(cc)}
	gw.HandleFunc("GET /api/v1/bots/{bot}/files", a.list)
	gw.HandleFunc("GET /api/v1/bots/{bot}/files/{path...}", a.download)
	gw.HandleFunc("HEAD /api/v1/bots/{bot}/files/{path...}", a.download)
	// Uploads are bounded by botdrive (DRIVE_MAX_FILE_BYTES, quotas,
	// DRIVE_PACKAGE_MAX_BYTES), not by the gateway's MAX_BODY_BYTES.
	gw.HandleLimit("PUT /api/v1/bots/{bot}/files/{path...}", 0, http.HandlerFunc(a.upload))
	gw.HandleLimit("POST /api/v1/bots/{bot}/package", 0, http.HandlerFunc(a.importPackage))
	gw.HandleLimit("PUT /api/v1/files/signed/{token}", 0, http.HandlerFunc(a.uploadSigned))
	gw.HandleFunc("GET /api/v1/files/signed/{token}", a.downloadSigned)
	gw.HandleFunc("HEAD /api/v1/files/signed/{token}", a.downloadSigned)
	gw.HandleFunc("DELETE /api/v1/bots/{bot}/files/{path...}", a.delete)
	gw.HandleFunc("POST /api/v1/bots/{bot}/copy", a.copyOrMove(false))
	gw.HandleFunc("POST /api/v1/bots/{bot}/move", a.copyOrMove(true))
	gw.HandleFunc("GET /api/v1/bots/{bot}/text/{path...}", a.text)
	gw.HandleFunc("POST /api/v1/bots/{bot}/presign", a.presign)
	gw.HandleFunc("GET /api/v1/drive/usage", a.usage)
	gw.HandleFunc("PUT /api/v1/drive/quota", a.quota)
}

func outgoing(r *http.Request) context.Context { return gateway.Forward(r, false) }

// writeStatus answers a gRPC error in the JSON error format.
func writeStatus(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument:
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, msg)
	case codes.NotFound:
		gateway.WriteError(w, http.StatusNotFound, gateway.CodeNotFound, msg)
	case codes.Unauthenticated:
		gateway.WriteError(w, http.StatusUnauthorized, gateway.CodeUnauthorized, msg)
	case codes.PermissionDenied:
		gateway.WriteError(w, http.StatusForbidden, gateway.CodeForbidden, msg)
	case codes.ResourceExhausted:
		if strings.HasPrefix(msg, "quota exceeded") {
			gateway.WriteError(w, http.StatusInsufficientStorage, "quota_exceeded", msg)
		} else {
			gateway.WriteError(w, http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge, msg)
		}
	case codes.FailedPrecondition:
		gateway.WriteError(w, http.StatusUnprocessableEntity, "unprocessable", msg)
	case codes.OutOfRange:
		gateway.WriteError(w, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", msg)
	case codes.Unavailable:
		gateway.WriteError(w, http.StatusServiceUnavailable, gateway.CodeUnavailable, "the file service is unavailable")
	case codes.DeadlineExceeded:
		gateway.WriteError(w, http.StatusGatewayTimeout, gateway.CodeUnavailable, "the file service did not answer in time")
	case codes.Canceled:
		gateway.WriteError(w, 499, "canceled", "request canceled")
	default:
		gateway.WriteError(w, http.StatusInternalServerError, gateway.CodeInternal, "internal error")
	}
}

// fileJSON is a file's metadata in responses.
type fileJSON struct {
	Bot         string    `json:"bot"`
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	Hash        string    `json:"hash"`
	ContentType string    `json:"content_type"`
	ModifiedAt  time.Time `json:"modified_at"`
	CreatedAt   time.Time `json:"created_at"`
}

func toJSON(f *drivev1.FileInfo) fileJSON {
	return fileJSON{Bot: f.GetBot(), Path: f.GetPath(), Size: f.GetSize(), Hash: f.GetHash(), ContentType: f.GetContentType(),
		ModifiedAt: f.GetModifiedAt().AsTime().UTC(), CreatedAt: f.GetCreatedAt().AsTime().UTC()}
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := 0
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "page_size must be 1-1000")
			return
		}
		size = n
	}
	res, err := a.c.ListFiles(outgoing(r), &drivev1.ListFilesRequest{Bot: r.PathValue("bot"), Prefix: q.Get("prefix"), PageSize: int32(size), PageToken: q.Get("page_token")})
	if err != nil {
		writeStatus(w, err)
		return
	}
	out := struct {
		Files         []fileJSON `json:"files"`
		NextPageToken string     `json:"next_page_token,omitempty"`
	}{Files: []fileJSON{}, NextPageToken: res.GetNextPageToken()}
	for _, f := range res.GetFiles() {
		out.Files = append(out.Files, toJSON(f))
	}
	gateway.WriteJSON(w, http.StatusOK, out)
}

// byteRange parses a single "bytes=a-b" / "bytes=a-" Range header. Suffix
// ranges ("bytes=-n") need the size first, so they get a stat.
type byteRange struct {
	offset, length int64
	suffix         int64
}

func parseRange(h string) (*byteRange, error) {
	if h == "" {
		return nil, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, errors.New("only a single bytes= range is supported")
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return nil, errors.New("malformed Range")
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return nil, errors.New("malformed Range")
		}
		return &byteRange{suffix: n}, nil
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return nil, errors.New("malformed Range")
	}
	br := &byteRange{offset: start}
	if b != "" {
		end, err := strconv.ParseInt(b, 10, 64)
		if err != nil || end < start {
			return nil, errors.New("malformed Range")
		}
		br.length = end - start + 1
	}
	return br, nil
}

type readStream interface {
	Recv() (*drivev1.ReadFileResponse, error)
}

func (a *api) download(w http.ResponseWriter, r *http.Request) {
	ctx := outgoing(r)
	bot, p := r.PathValue("bot"), r.PathValue("path")
	if r.URL.Query().Get("metadata") == "true" {
		res, err := a.c.StatFile(ctx, &drivev1.StatFileRequest{Bot: bot, Path: p})
		if err != nil {
			writeStatus(w, err)
			return
		}
		gateway.WriteJSON(w, http.StatusOK, toJSON(res.GetInfo()))
		return
	}
	a.serve(w, r, func(offset, length int64) (readStream, error) {
		if r.Method == http.MethodHead || length < 0 {
			res, err := a.c.StatFile(ctx, &drivev1.StatFileRequest{Bot: bot, Path: p})
			if err != nil {
				return nil, err
			}
			return &statOnly{info: res.GetInfo()}, nil
		}
		return a.c.ReadFile(ctx, &drivev1.ReadFileRequest{Bot: bot, Path: p, Offset: offset, Length: length})
	})
}

func (a *api) downloadSigned(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	a.serve(w, r, func(offset, length int64) (readStream, error) {
		if length < 0 { // only the info is needed: read one byte
			offset, length = 0, 1
		}
		st, err := a.c.ReadSigned(r.Context(), &drivev1.ReadSignedRequest{Token: token, Offset: offset, Length: length})
		if err != nil {
			return nil, err
		}
		return signedStream{st}, nil
	})
}

type signedStream struct {
	s grpc.ServerStreamingClient[drivev1.ReadSignedResponse]
}

func (s signedStream) Recv() (*drivev1.ReadFileResponse, error) {
	m, err := s.s.Recv()
	if err != nil {
		return nil, err
	}
	return &drivev1.ReadFileResponse{Chunk: m.GetChunk(), Info: m.GetInfo(), Offset: m.GetOffset(), Length: m.GetLength()}, nil
}

// statOnly is a stream of one message without content (HEAD, or the size
// probe of a suffix range).
type statOnly struct {
	info *drivev1.FileInfo
	done bool
}

func (s *statOnly) Recv() (*drivev1.ReadFileResponse, error) {
	if s.done {
		return nil, io.EOF
	}
	s.done = true
	return &drivev1.ReadFileResponse{Info: s.info, Length: s.info.GetSize()}, nil
}

// serve answers a download: headers from the first message, then the
// chunks as they arrive. open(offset, length) with length -1 asks only for
// the file's info (to resolve a suffix range).
func (a *api) serve(w http.ResponseWriter, r *http.Request, open func(offset, length int64) (readStream, error)) {
	rng, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		gateway.WriteError(w, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", err.Error())
		return
	}
	var offset, length int64
	if rng != nil {
		offset, length = rng.offset, rng.length
		if rng.suffix > 0 {
			probe, err := open(0, -1)
			if err != nil {
				writeStatus(w, err)
				return
			}
			m, err := probe.Recv()
			if err != nil {
				writeStatus(w, err)
				return
			}
			size := m.GetInfo().GetSize()
			offset = max(size-rng.suffix, 0)
			length = size - offset
		}
	}
	st, err := open(offset, length)
	if err != nil {
		writeStatus(w, err)
		return
	}
	first, err := st.Recv()
	if err != nil {
		writeStatus(w, err)
		return
	}
	info := first.GetInfo()
	etag := `"` + info.GetHash() + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", info.GetContentType())
	h.Set("Last-Modified", info.GetModifiedAt().AsTime().UTC().Format(http.TimeFormat))
	h.Set("X-Content-Type-Options", "nosniff")
	// Files are bot content, not pages of this site: never rendered inline
	// as HTML under the API's origin.
	h.Set("Content-Security-Policy", "sandbox")
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == etag || inm == "*") {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	served := first.GetLength()
	if r.Method == http.MethodHead {
		served = info.GetSize()
	}
	h.Set("Content-Length", strconv.FormatInt(served, 10))
	status := http.StatusOK
	if rng != nil {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first.GetOffset(), first.GetOffset()+served-1, info.GetSize()))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(first.GetChunk()); err != nil {
		return
	}
	for {
		m, err := st.Recv()
		if err != nil {
			// After the headers an error can only cut the body short; the
			// client sees fewer bytes than Content-Length.
			return
		}
		if _, err := w.Write(m.GetChunk()); err != nil {
			return
		}
	}
}

// sendBody streams the request body to send in chunks.
func sendBody(body io.Reader, send func([]byte) error) error {
	buf := make([]byte, chunkSize)
	for {
		n, err := io.ReadFull(body, buf)
		if n > 0 {
			if serr := send(buf[:n]); serr != nil {
				return nil // the service stopped the stream; CloseAndRecv says why
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func bodyError(w http.ResponseWriter, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		gateway.WriteError(w, http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge, "request body is too large")
		return
	}
	gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "reading the request body: "+err.Error())
}

func (a *api) upload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(outgoing(r))
	defer cancel()
	st, err := a.c.UploadFile(ctx)
	if err != nil {
		writeStatus(w, err)
		return
	}
	size := r.ContentLength
	if size <= 0 {
		size = -1
	}
	hdr := &drivev1.UploadHeader{Bot: r.PathValue("bot"), Path: r.PathValue("path"), ContentType: r.Header.Get("Content-Type"), Size: size}
	if r.ContentLength == 0 {
		hdr.Size = 0
	}
	if err := st.Send(&drivev1.UploadFileRequest{Msg: &drivev1.UploadFileRequest_Header{Header: hdr}}); err != nil {
		_, err = st.CloseAndRecv()
		writeStatus(w, err)
		return
	}
	if err := sendBody(r.Body, func(b []byte) error {
		return st.Send(&drivev1.UploadFileRequest{Msg: &drivev1.UploadFileRequest_Chunk{Chunk: b}})
	}); err != nil {
		cancel() // the file must not be stored from a partial body
		bodyError(w, err)
		return
	}
	res, err := st.CloseAndRecv()
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"file": toJSON(res.GetInfo()), "changed": res.GetChanged()})
}

func (a *api) uploadSigned(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	st, err := a.c.UploadSigned(ctx)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if err := st.Send(&drivev1.UploadSignedRequest{Msg: &drivev1.UploadSignedRequest_Token{Token: r.PathValue("token")}}); err != nil {
		_, err = st.CloseAndRecv()
		writeStatus(w, err)
		return
	}
	if err := sendBody(r.Body, func(b []byte) error {
		return st.Send(&drivev1.UploadSignedRequest{Msg: &drivev1.UploadSignedRequest_Chunk{Chunk: b}})
	}); err != nil {
		cancel()
		bodyError(w, err)
		return
	}
	res, err := st.CloseAndRecv()
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"file": toJSON(res.GetInfo()), "changed": res.GetChanged()})
}

func (a *api) importPackage(w http.ResponseWriter, r *http.Request) {
	mode := drivev1.ImportMode_IMPORT_MODE_REPLACE
	switch r.URL.Query().Get("mode") {
	case "", "replace":
	case "merge":
		mode = drivev1.ImportMode_IMPORT_MODE_MERGE
	default:
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "mode must be replace or merge")
		return
	}
	ctx, cancel := context.WithCancel(outgoing(r))
	defer cancel()
	st, err := a.c.ImportPackage(ctx)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if err := st.Send(&drivev1.ImportPackageRequest{Msg: &drivev1.ImportPackageRequest_Header{Header: &drivev1.ImportHeader{Bot: r.PathValue("bot"), Mode: mode}}}); err != nil {
		_, err = st.CloseAndRecv()
		writeStatus(w, err)
		return
	}
	if err := sendBody(r.Body, func(b []byte) error {
		return st.Send(&drivev1.ImportPackageRequest{Msg: &drivev1.ImportPackageRequest_Chunk{Chunk: b}})
	}); err != nil {
		cancel()
		bodyError(w, err)
		return
	}
	res, err := st.CloseAndRecv()
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"written": res.GetWritten(), "unchanged": res.GetUnchanged(), "deleted": res.GetDeleted(), "bytes": res.GetBytes()})
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	res, err := a.c.DeleteFile(outgoing(r), &drivev1.DeleteFileRequest{Bot: r.PathValue("bot"), Path: r.PathValue("path"), Recursive: r.URL.Query().Get("recursive") == "true"})
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]int32{"deleted": res.GetDeleted()})
}

func (a *api) copyOrMove(move bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Path   string `json:"path"`
			ToBot  string `json:"to_bot"`
			ToPath string `json:"to_path"`
		}
		if !gateway.DecodeJSON(w, r, &in) {
			return
		}
		var info *drivev1.FileInfo
		var err error
		if move {
			var res *drivev1.MoveFileResponse
			res, err = a.c.MoveFile(outgoing(r), &drivev1.MoveFileRequest{Bot: r.PathValue("bot"), Path: in.Path, ToBot: in.ToBot, ToPath: in.ToPath})
			info = res.GetInfo()
		} else {
			var res *drivev1.CopyFileResponse
			res, err = a.c.CopyFile(outgoing(r), &drivev1.CopyFileRequest{Bot: r.PathValue("bot"), Path: in.Path, ToBot: in.ToBot, ToPath: in.ToPath})
			info = res.GetInfo()
		}
		if err != nil {
			writeStatus(w, err)
			return
		}
		gateway.WriteJSON(w, http.StatusOK, map[string]any{"file": toJSON(info)})
	}
}

func (a *api) text(w http.ResponseWriter, r *http.Request) {
	res, err := a.c.ExtractText(outgoing(r), &drivev1.ExtractTextRequest{Bot: r.PathValue("bot"), Path: r.PathValue("path")})
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"text": res.GetText(), "content_type": res.GetContentType(),
		"hash": res.GetHash(), "truncated": res.GetTruncated(), "pages": res.GetPages()})
}

func (a *api) presign(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Path       string `json:"path"`
		Method     string `json:"method"`
		TTLSeconds int32  `json:"ttl_seconds"`
	}
	if !gateway.DecodeJSON(w, r, &in) {
		return
	}
	m := drivev1.PresignMethod_PRESIGN_METHOD_UNSPECIFIED
	switch strings.ToUpper(in.Method) {
	case "", "GET":
		m = drivev1.PresignMethod_PRESIGN_METHOD_GET
	case "PUT":
		m = drivev1.PresignMethod_PRESIGN_METHOD_PUT
	default:
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "method must be GET or PUT")
		return
	}
	res, err := a.c.CreatePresignedURL(outgoing(r), &drivev1.CreatePresignedURLRequest{Bot: r.PathValue("bot"), Path: in.Path, Method: m, TtlSeconds: in.TTLSeconds})
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"url": res.GetUrl(), "expires_at": res.GetExpiresAt().AsTime().UTC()})
}

func (a *api) usage(w http.ResponseWriter, r *http.Request) {
	res, err := a.c.GetUsage(outgoing(r), &drivev1.GetUsageRequest{})
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]int64{"bytes_used": res.GetBytesUsed(), "files": res.GetFiles(), "quota_bytes": res.GetQuotaBytes()})
}

func (a *api) quota(w http.ResponseWriter, r *http.Request) {
	var in struct {
		QuotaBytes *int64 `json:"quota_bytes"`
	}
	if !gateway.DecodeJSON(w, r, &in) {
		return
	}
	if in.QuotaBytes == nil {
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "quota_bytes is required")
		return
	}
	res, err := a.c.SetQuota(outgoing(r), &drivev1.SetQuotaRequest{QuotaBytes: *in.QuotaBytes})
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]int64{"quota_bytes": res.GetQuotaBytes()})
}
