// Package s3store keeps objects in a bucket of any S3-compatible server
// (AWS S3, MinIO, versitygw, R2, ...) through aws-sdk-go-v2. Large writes
// go up as multipart uploads with a few parts in flight, so memory per
// upload stays at (in flight + 1) × PartSize whatever the file's size; a
// failed upload is aborted, so nothing half-written is ever visible.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/botserver-go/botserver-go/botdrive/storage"
)

// Config says which bucket to use and how to reach it.
type Config struct {
	Endpoint        string // e.g. http://127.0.0.1:9000; empty: AWS
	Region          string // default us-east-1
	Bucket          string
	AccessKeyID     string
	SecretAccessKey string
	ForcePathStyle  bool   // MinIO/versitygw usually need it
	Prefix          string // optional key prefix inside the bucket ("botserver/")
	PartSize        int64  // multipart part size; default 8 MiB (S3's minimum is 5 MiB)
	Concurrency     int    // parts in flight per upload; default 3
	// CreateBucket makes the bucket at Open when it does not exist.
	CreateBucket bool
	HTTPClient   *http.Client // optional
}

// Store is a storage.Store on an S3 bucket.
type Store struct {
	c       *s3.Client
	presign *s3.PresignClient
	cfg     Config
}

const minPart = 5 << 20

// Open checks the bucket answers (creating it when asked) and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: S3_BUCKET is not set")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 8 << 20
	}
	if cfg.PartSize < minPart {
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 3
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.ForcePathStyle,
		// Checksums only when the API requires them: several S3-compatible
		// servers reject the newer default trailing checksums, and the
		// content is hashed with sha256 above this layer anyway.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           3,
	}
	if cfg.AccessKeyID != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	}
	if cfg.Endpoint != "" {
		if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: S3_ENDPOINT %q is not an http(s) URL", cfg.Endpoint)
		}
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	c := s3.New(opts)
	s := &Store{c: c, presign: s3.NewPresignClient(c), cfg: cfg}
	if err := s.ensureBucket(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) ensureBucket(ctx context.Context) error {
	_, err := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.cfg.Bucket})
	if err == nil {
		return nil
	}
	if !isNotFound(err) || !s.cfg.CreateBucket {
		return fmt.Errorf("s3: bucket %q at %s: %w", s.cfg.Bucket, s.endpointName(), err)
	}
	if _, err := s.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.cfg.Bucket}); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return fmt.Errorf("s3: create bucket %q: %w", s.cfg.Bucket, err)
		}
	}
	return nil
}

func (s *Store) endpointName() string {
	if s.cfg.Endpoint == "" {
		return "AWS"
	}
	return s.cfg.Endpoint
}

func (s *Store) full(key string) *string { return aws.String(s.cfg.Prefix + key) }

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nb *types.NoSuchBucket
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nb) {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if isNotFound(err) {
		return storage.ErrNotFound
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable {
		return storage.ErrInvalidRange
	}
	return fmt.Errorf("s3: %w", err)
}

func etag(p *string) string { return strings.Trim(aws.ToString(p), `"`) }

// Put implements storage.Store: one PutObject when the content fits in a
// part, a multipart upload otherwise.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	if err := storage.CheckKey(key); err != nil {
		return storage.Object{}, err
	}
	first := make([]byte, s.cfg.PartSize)
	n, err := io.ReadFull(r, first)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return s.putSmall(ctx, key, first[:n], opts)
	case err != nil:
		return storage.Object{}, err
	}
	return s.putMultipart(ctx, key, first, r, opts)
}

func (s *Store) putSmall(ctx context.Context, key string, b []byte, opts storage.PutOptions) (storage.Object, error) {
	in := &s3.PutObjectInput{
		Bucket: &s.cfg.Bucket, Key: s.full(key), Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))),
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	out, err := s.c.PutObject(ctx, in)
	if err != nil {
		return storage.Object{}, mapErr(err)
	}
	return storage.Object{Key: key, Size: int64(len(b)), ETag: etag(out.ETag), ModTime: time.Now(), ContentType: opts.ContentType}, nil
}

func (s *Store) putMultipart(ctx context.Context, key string, first []byte, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: s.full(key)}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	mu, err := s.c.CreateMultipartUpload(ctx, in)
	if err != nil {
		return storage.Object{}, mapErr(err)
	}
	ok := false
	defer func() {
		if !ok { // the parts are discarded; nothing becomes visible
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = s.c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: s.full(key), UploadId: mu.UploadId})
		}
	}()
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu2      sync.Mutex
		parts    []types.CompletedPart
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, s.cfg.Concurrency)
		pool     = sync.Pool{New: func() any { return make([]byte, s.cfg.PartSize) }}
		size     int64
	)
	fail := func(err error) {
		mu2.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu2.Unlock()
	}
	upload := func(num int32, buf []byte, n int) {
		defer wg.Done()
		defer func() { <-sem }()
		defer pool.Put(buf) //nolint:staticcheck // a slice header is fine here
		out, err := s.c.UploadPart(uctx, &s3.UploadPartInput{
			Bucket: &s.cfg.Bucket, Key: s.full(key), UploadId: mu.UploadId,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n)),
		})
		if err != nil {
			fail(mapErr(err))
			return
		}
		mu2.Lock()
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		mu2.Unlock()
	}
	buf, n := first, len(first)
	for num := int32(1); ; num++ {
		if num > 10000 {
			fail(fmt.Errorf("s3: %s is larger than 10000 parts of %d bytes", key, s.cfg.PartSize))
			break
		}
		size += int64(n)
		sem <- struct{}{}
		wg.Add(1)
		go upload(num, buf, n)
		buf = pool.Get().([]byte)
		var rerr error
		n, rerr = io.ReadFull(r, buf)
		if errors.Is(rerr, io.EOF) {
			pool.Put(buf) //nolint:staticcheck
			break
		}
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			pool.Put(buf) //nolint:staticcheck
			fail(rerr)
			break
		}
		if uctx.Err() != nil {
			break
		}
		if errors.Is(rerr, io.ErrUnexpectedEOF) { // the short last part
			size += int64(n)
			sem <- struct{}{}
			wg.Add(1)
			go upload(num+1, buf, n)
			break
		}
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return storage.Object{}, firstErr
	}
	sortParts(parts)
	out, err := s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.cfg.Bucket, Key: s.full(key), UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return storage.Object{}, mapErr(err)
	}
	ok = true
	return storage.Object{Key: key, Size: size, ETag: etag(out.ETag), ModTime: time.Now(), ContentType: opts.ContentType}, nil
}

func sortParts(p []types.CompletedPart) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && *p[j].PartNumber < *p[j-1].PartNumber; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string, rng *storage.Range) (io.ReadCloser, storage.Object, error) {
	if err := storage.CheckKey(key); err != nil {
		return nil, storage.Object{}, err
	}
	in := &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: s.full(key)}
	ranged := rng != nil && (rng.Offset != 0 || rng.Length > 0)
	if ranged {
		if rng.Offset < 0 {
			return nil, storage.Object{}, storage.ErrInvalidRange
		}
		h := fmt.Sprintf("bytes=%d-", rng.Offset)
		if rng.Length > 0 {
			h += fmt.Sprint(rng.Offset + rng.Length - 1)
		}
		in.Range = aws.String(h)
	}
	out, err := s.c.GetObject(ctx, in)
	if err != nil {
		return nil, storage.Object{}, mapErr(err)
	}
	obj := storage.Object{
		Key: key, ETag: etag(out.ETag), ModTime: aws.ToTime(out.LastModified),
		ContentType: aws.ToString(out.ContentType), Size: aws.ToInt64(out.ContentLength),
	}
	if ranged {
		// Content-Range: bytes a-b/total
		cr := aws.ToString(out.ContentRange)
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			var total int64
			if _, err := fmt.Sscan(cr[i+1:], &total); err == nil {
				obj.Size = total
			}
		}
	}
	return out.Body, obj, nil
}

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	if err := storage.CheckKey(key); err != nil {
		return storage.Object{}, err
	}
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: s.full(key)})
	if err != nil {
		return storage.Object{}, mapErr(err)
	}
	return storage.Object{
		Key: key, Size: aws.ToInt64(out.ContentLength), ETag: etag(out.ETag),
		ModTime: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType),
	}, nil
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, prefix, startAfter string, limit int) (storage.Page, error) {
	if err := storage.CheckPrefix(prefix); err != nil {
		return storage.Page{}, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	in := &s3.ListObjectsV2Input{
		Bucket: &s.cfg.Bucket, Prefix: aws.String(s.cfg.Prefix + prefix), MaxKeys: aws.Int32(int32(limit)),
	}
	if startAfter != "" {
		in.StartAfter = aws.String(s.cfg.Prefix + startAfter)
	}
	out, err := s.c.ListObjectsV2(ctx, in)
	if err != nil {
		return storage.Page{}, mapErr(err)
	}
	var page storage.Page
	for _, o := range out.Contents {
		k := strings.TrimPrefix(aws.ToString(o.Key), s.cfg.Prefix)
		if strings.HasSuffix(k, "/") || storage.CheckKey(k) != nil {
			continue // folder markers and keys no API could name
		}
		page.Objects = append(page.Objects, storage.Object{
			Key: k, Size: aws.ToInt64(o.Size), ETag: etag(o.ETag), ModTime: aws.ToTime(o.LastModified),
		})
	}
	if aws.ToBool(out.IsTruncated) && len(out.Contents) > 0 {
		page.Next = strings.TrimPrefix(aws.ToString(out.Contents[len(out.Contents)-1].Key), s.cfg.Prefix)
	}
	return page, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckKey(key); err != nil {
		return err
	}
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: s.full(key)})
	if err != nil && !isNotFound(err) {
		return mapErr(err)
	}
	return nil
}

// Copy implements storage.Store (server side; objects up to 5 GiB).
func (s *Store) Copy(ctx context.Context, src, dst string) (storage.Object, error) {
	if err := storage.CheckKey(src); err != nil {
		return storage.Object{}, err
	}
	if err := storage.CheckKey(dst); err != nil {
		return storage.Object{}, err
	}
	source := s.cfg.Bucket + "/" + escapePath(s.cfg.Prefix+src)
	if _, err := s.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.cfg.Bucket, Key: s.full(dst), CopySource: &source}); err != nil {
		return storage.Object{}, mapErr(err)
	}
	return s.Stat(ctx, dst)
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// PresignGet implements storage.Presigner.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return s.PresignGetAs(ctx, key, ttl, "")
}

// PresignGetAs implements storage.DataURLs.
func (s *Store) PresignGetAs(ctx context.Context, key string, ttl time.Duration, contentType string) (string, error) {
	if err := storage.CheckKey(key); err != nil {
		return "", err
	}
	in := &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: s.full(key)}
	if contentType != "" {
		in.ResponseContentType = aws.String(contentType)
	}
	req, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", mapErr(err)
	}
	return req.URL, nil
}

// PresignPut implements storage.Presigner.
func (s *Store) PresignPut(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := storage.CheckKey(key); err != nil {
		return "", err
	}
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: s.full(key)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", mapErr(err)
	}
	return req.URL, nil
}

// PresignPutExact implements storage.DataURLs.
func (s *Store) PresignPutExact(ctx context.Context, key string, ttl time.Duration, contentType string, size int64) (string, error) {
	if err := storage.CheckKey(key); err != nil {
		return "", err
	}
	if size < 0 {
		return "", errors.New("s3: a presigned PUT needs the exact size")
	}
	in := &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: s.full(key), ContentLength: aws.Int64(size)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	req, err := s.presign.PresignPutObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", mapErr(err)
	}
	return req.URL, nil
}
