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
//
// File bytes on S3 skip the gRPC hop when botdrive allows it
// (S3_GATEWAY_DIRECT): a download asks ReadFile for a URL, and botdrive,
// after its checks, answers with the file's info and a short-lived
// presigned GET of exactly that object, which the gateway reads and relays;
// an upload of known size (at least directMin bytes) asks BeginUpload
// (checks, quota, content type from the first bytes) for a presigned PUT
// of exactly that size, sends the body there while hashing it, and records
// the file with CommitUpload (botdrive checks the stored size and ETag,
// then compares hashes and publishes the event as for any upload). These
// URLs never leave the gateway. Local disk and BOTS_DIR files, unknown
// sizes and small uploads go through the gRPC streams.
//
// With S3_DOWNLOAD_REDIRECT (botdrive's setting: clients can reach the
// bucket) a download of an S3 file is not relayed at all: ReadFile, after
// the same checks, answers with a presigned GET of exactly that object for
// the client, and the gateway answers 307 to it (ETag: the recorded hash;
// X-Storage-ETag: the ETag S3 answers for the recorded version, so the
// client can tell a replaced object; Cache-Control: no-store). The client
// sends its Range there itself. ?redirect=false asks for the relay.
package drive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// chunkSize is the size of the messages an upload is streamed in.
const chunkSize = 256 << 10

// directMin is the smallest upload sent straight to S3; smaller ones take
// one UploadFile stream.
const directMin = 1 << 20

// sniffLen is how many first bytes BeginUpload gets for content sniffing.
const sniffLen = 512

type api struct {
	c  drivev1.DriveServiceClient
	hc *http.Client // to S3, with botdrive's presigned URLs only
}

// Register mounts the file API on gw, talking to botdrive over cc.
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	a := &api{c: drivev1.NewDriveServiceClient(cc), hc: &http.Client{
		// No redirects: a presigned URL names its object exactly.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			DisableCompression:    true, // the bytes as stored, Content-Length checked
			WriteBufferSize:       64 << 10,
			ReadBufferSize:        64 << 10,
		},
	}}
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
	redirect := r.Method == http.MethodGet && r.URL.Query().Get("redirect") != "false"
	a.serve(w, r, func(offset, length int64, acceptURL bool) (readStream, error) {
		if r.Method == http.MethodHead || length < 0 {
			res, err := a.c.StatFile(ctx, &drivev1.StatFileRequest{Bot: bot, Path: p})
			if err != nil {
				return nil, err
			}
			return &statOnly{info: res.GetInfo()}, nil
		}
		// A redirect is offered only with the URL (not on the fallback
		// read after a failed fetch).
		return a.c.ReadFile(ctx, &drivev1.ReadFileRequest{Bot: bot, Path: p, Offset: offset, Length: length,
			AcceptUrl: acceptURL, AcceptRedirect: acceptURL && redirect})
	})
}

func (a *api) downloadSigned(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	a.serve(w, r, func(offset, length int64, _ bool) (readStream, error) {
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
// chunks as they arrive, or the bytes read from the URL the first message
// carries. open(offset, length, acceptURL) with length -1 asks only for
// the file's info (to resolve a suffix range).
func (a *api) serve(w http.ResponseWriter, r *http.Request, open func(offset, length int64, acceptURL bool) (readStream, error)) {
	rng, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		gateway.WriteError(w, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", err.Error())
		return
	}
	var offset, length int64
	if rng != nil {
		offset, length = rng.offset, rng.length
		if rng.suffix > 0 {
			probe, err := open(0, -1, false)
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
	st, err := open(offset, length, r.Method == http.MethodGet)
	if err != nil {
		writeStatus(w, err)
		return
	}
	first, err := st.Recv()
	if err != nil {
		writeStatus(w, err)
		return
	}
	etag := `"` + first.GetInfo().GetHash() + `"`
	if u := first.GetRedirectUrl(); u != "" && !matches(r.Header.Get("If-None-Match"), etag) {
		// The client reads the bytes from S3 itself (S3_DOWNLOAD_REDIRECT).
		h := w.Header()
		h.Set("Location", u)
		h.Set("ETag", etag)
		if e := first.GetUrlEtag(); e != "" {
			h.Set("X-Storage-ETag", `"`+strings.Trim(e, `"`)+`"`)
		}
		h.Set("Cache-Control", "no-store") // the URL expires; the next GET is authorised anew
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	var direct relay // the bytes, read from S3
	if first.GetUrl() != "" && first.GetLength() > 0 && !matches(r.Header.Get("If-None-Match"), etag) {
		if direct, err = a.fetch(r.Context(), first); err != nil {
			// Not readable this way (S3 unreachable from here, or the
			// object replaced meanwhile): through botdrive, as always.
			if st, err = open(offset, length, false); err == nil {
				first, err = st.Recv()
			}
			if err != nil {
				writeStatus(w, err)
				return
			}
			direct = nil
		}
	}
	if direct != nil {
		defer direct.Close()
	}
	info := first.GetInfo()
	etag = `"` + info.GetHash() + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", info.GetContentType())
	h.Set("Last-Modified", info.GetModifiedAt().AsTime().UTC().Format(http.TimeFormat))
	h.Set("X-Content-Type-Options", "nosniff")
	// Files are bot content, not pages of this site: never rendered inline
	// as HTML under the API's origin.
	h.Set("Content-Security-Policy", "sandbox")
	if matches(r.Header.Get("If-None-Match"), etag) {
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
	if direct != nil {
		// An error cuts the body short, as below.
		_ = direct.relay(w, served)
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

func matches(inm, etag string) bool { return inm != "" && (inm == etag || inm == "*") }

// relay is a storage answer whose body is being relayed to the client.
type relay interface {
	relay(w io.Writer, n int64) error
	Close() error
}

// fetch opens the range a ReadFile answer describes at its URL; the object
// must still be the one described (If-Match) and the answer exactly the
// range.
func (a *api) fetch(ctx context.Context, m *drivev1.ReadFileResponse) (relay, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.GetUrl(), nil)
	if err != nil {
		return nil, err
	}
	want := http.StatusOK
	if m.GetOffset() > 0 || m.GetLength() < m.GetInfo().GetSize() {
		want = http.StatusPartialContent
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", m.GetOffset(), m.GetOffset()+m.GetLength()-1))
	}
	if e := m.GetUrlEtag(); e != "" {
		req.Header.Set("If-Match", `"`+e+`"`)
	}
	if req.URL.Scheme == "http" && m.GetLength() >= directMin && !viaProxy(req.URL) {
		return fetchRaw(ctx, req, want, m.GetLength())
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != want || res.ContentLength != m.GetLength() {
		res.Body.Close()
		return nil, fmt.Errorf("storage answered %d with %d bytes", res.StatusCode, res.ContentLength)
	}
	return httpRelay{res.Body}, nil
}

type httpRelay struct{ body io.ReadCloser }

func (h httpRelay) relay(w io.Writer, n int64) error {
	_, err := copyBuffered(w, h.body, n)
	return err
}

func (h httpRelay) Close() error { return h.body.Close() }

// fetchRaw makes the request on a connection of its own, so the body can
// be relayed from that TCP connection to the client's by the kernel
// (splice, through net/http's ReadFrom) instead of read into the gateway
// and written out again. Large plain-HTTP answers only; the connection is
// not reused.
func fetchRaw(ctx context.Context, req *http.Request, want int, n int64) (relay, error) {
	c, abort, err := dialRaw(ctx, req.URL)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (relay, error) {
		abort()
		return nil, err
	}
	req.Close = true
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute)) // until the answer's headers
	if err := req.Write(c); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(c, 16<<10)
	res, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	if res.StatusCode != want || res.ContentLength != n || len(res.TransferEncoding) > 0 {
		return fail(fmt.Errorf("storage answered %d with %d bytes", res.StatusCode, res.ContentLength))
	}
	_ = c.SetDeadline(time.Time{})
	return &rawRelay{c: c, br: br, close: abort}, nil
}

type rawRelay struct {
	c     net.Conn
	br    *bufio.Reader
	close func()
}

func (r *rawRelay) relay(w io.Writer, n int64) error {
	// What the header read buffered first, then the connection itself: an
	// *io.LimitedReader of a *net.TCPConn is what net/http splices.
	k := min(int64(r.br.Buffered()), n)
	if k > 0 {
		b, _ := r.br.Peek(int(k))
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	got, err := io.Copy(w, &io.LimitedReader{R: r.c, N: n - k})
	if err == nil && got != n-k {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (r *rawRelay) Close() error {
	r.close()
	return nil
}

// bufs are the buffers of relayed bodies: fewer, larger writes than
// io.Copy's 32 KiB.
var bufs = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// copyBuffered copies n bytes from r to w.
func copyBuffered(w io.Writer, r io.Reader, n int64) (int64, error) {
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	return io.CopyBuffer(onlyWriter{w}, io.LimitReader(onlyReader{r}, n), *bp)
}

// onlyWriter and onlyReader hide ReadFrom/WriteTo, so CopyBuffer uses its
// buffer.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

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
	size := r.ContentLength
	if size <= 0 {
		size = -1
	}
	hdr := &drivev1.UploadHeader{Bot: r.PathValue("bot"), Path: r.PathValue("path"), ContentType: r.Header.Get("Content-Type"), Size: size}
	if r.ContentLength == 0 {
		hdr.Size = 0
	}
	if size >= directMin {
		a.uploadDirect(w, r, hdr)
		return
	}
	a.uploadStream(w, r, hdr, r.Body)
}

// uploadStream sends an upload through botdrive's UploadFile stream.
func (a *api) uploadStream(w http.ResponseWriter, r *http.Request, hdr *drivev1.UploadHeader, body io.Reader) {
	ctx, cancel := context.WithCancel(outgoing(r))
	defer cancel()
	st, err := a.c.UploadFile(ctx)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if err := st.Send(&drivev1.UploadFileRequest{Msg: &drivev1.UploadFileRequest_Header{Header: hdr}}); err != nil {
		_, err = st.CloseAndRecv()
		writeStatus(w, err)
		return
	}
	if err := sendBody(body, func(b []byte) error {
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

// uploadDirect sends an upload of known size straight to S3 when botdrive
// allows it (see the package comment), else through uploadStream.
func (a *api) uploadDirect(w http.ResponseWriter, r *http.Request, hdr *drivev1.UploadHeader) {
	ctx := outgoing(r)
	head := make([]byte, min(sniffLen, hdr.GetSize()))
	if _, err := io.ReadFull(r.Body, head); err != nil {
		bodyError(w, err)
		return
	}
	begin, err := a.c.BeginUpload(ctx, &drivev1.BeginUploadRequest{Header: hdr, Head: head})
	if err != nil {
		writeStatus(w, err)
		return
	}
	body := io.MultiReader(bytes.NewReader(head), r.Body)
	if begin.GetUrl() == "" {
		a.uploadStream(w, r, hdr, body)
		return
	}
	u, err := url.Parse(begin.GetUrl())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || viaProxy(u) {
		a.uploadStream(w, r, hdr, body) // putRaw cannot reach it
		return
	}
	c, abort, err := dialRaw(r.Context(), u)
	if err != nil {
		a.uploadStream(w, r, hdr, body) // S3 is not reachable from here: through botdrive
		return
	}
	defer abort()
	hb := &hashingBody{r: body, h: sha256.New(), left: hdr.GetSize()}
	code, etag, err := putRaw(c, u, begin.GetContentType(), hdr.GetSize(), hb)
	switch {
	case hb.err != nil: // the client's body failed; the PUT was aborted, nothing is stored
		bodyError(w, hb.err)
		return
	case err != nil:
		gateway.WriteError(w, http.StatusServiceUnavailable, gateway.CodeUnavailable, "the file store is unavailable")
		return
	case code != http.StatusOK || hb.left != 0:
		gateway.WriteError(w, http.StatusBadGateway, gateway.CodeUnavailable, fmt.Sprintf("the file store refused the upload (%d)", code))
		return
	}
	done, err := a.c.CommitUpload(ctx, &drivev1.CommitUploadRequest{Ticket: begin.GetTicket(), Hash: hex.EncodeToString(hb.h.Sum(nil)), Etag: etag})
	if err != nil {
		writeStatus(w, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"file": toJSON(done.GetInfo()), "changed": done.GetChanged()})
}

// viaProxy says whether the environment routes u through a proxy, which
// the raw connections below do not speak.
func viaProxy(u *url.URL) bool {
	p, err := http.ProxyFromEnvironment(&http.Request{URL: u})
	return err != nil || p != nil
}

// dialRaw opens a connection of its own to u's host (TLS for https),
// closed when ctx ends or by abort, always with a TCP reset.
func dialRaw(ctx context.Context, u *url.URL) (c net.Conn, abort func(), err error) {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	tc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, nil, err
	}
	// Every close is a reset, whoever closes (the end of ctx too: the
	// client going away cancels it), so no cut body passes for an end.
	if t, ok := tc.(*net.TCPConn); ok {
		_ = t.SetLinger(0)
	}
	stop := context.AfterFunc(ctx, func() { tc.Close() })
	abort = func() {
		stop()
		tc.Close()
	}
	c = tc
	if u.Scheme == "https" {
		tlc := tls.Client(tc, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tlc.HandshakeContext(ctx); err != nil {
			abort()
			return nil, nil, err
		}
		c = tlc
	}
	return c, abort, nil
}

// putRaw sends exactly size bytes of body to the presigned PUT u on c
// (from dialRaw, which the caller aborts) and returns the answer's status
// and ETag. The connection is its own so that a body that fails (the
// client stopped sending) ends in a TCP reset:
// an S3 server that does not check Content-Length (versitygw stores what
// it got when the connection is merely closed) cannot take a cut body for
// a whole one.
func putRaw(c net.Conn, u *url.URL, contentType string, size int64, body io.Reader) (int, string, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Minute)) // renewed as the body goes
	h := http.Header{}
	h.Set("Host", u.Host)
	h.Set("User-Agent", "botserver-gateway")
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Connection", "close")
	var head bytes.Buffer
	fmt.Fprintf(&head, "PUT %s HTTP/1.1\r\n", u.RequestURI())
	_ = h.Write(&head)
	head.WriteString("\r\n")
	if _, err := c.Write(head.Bytes()); err != nil {
		return 0, "", err
	}
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	for sent := int64(0); sent < size; {
		n, err := io.ReadFull(body, (*bp)[:min(int64(len(*bp)), size-sent)])
		if err != nil {
			return 0, "", err // abort: a reset, not an end
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
		if _, err := c.Write((*bp)[:n]); err != nil {
			return 0, "", err
		}
		sent += int64(n)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodPut})
	if err != nil {
		return 0, "", err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) //nolint:errcheck // an error's XML, not needed
	res.Body.Close()
	return res.StatusCode, res.Header.Get("ETag"), nil
}

// hashingBody is an upload's body on its way to S3: it hashes what passes,
// stops at the declared size, and keeps the client's read error (a body
// shorter than its Content-Length) apart from the store's.
type hashingBody struct {
	r    io.Reader
	h    hash.Hash
	left int64
	err  error
}

func (b *hashingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.left -= int64(n)
	if errors.Is(err, io.EOF) && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
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
