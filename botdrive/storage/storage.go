// Package storage is the blob interface botdrive keeps files behind, with
// two implementations: local disk (storage/local) and any S3-compatible
// server (storage/s3store). Keys are slash-separated, relative, and already
// validated by CheckKey; the service above maps (org, bot, path) to them.
//
// Every backend honours the same contract (storage/storagetest runs it):
//   - Put is atomic: a reader sees the old object or the new one, never a
//     part; a Put whose reader fails leaves the old object untouched.
//   - List returns keys in byte order, so pages are stable.
//   - Delete of a missing key is not an error.
//   - Each write gives the object a new ETag, even with the same content
//     (local: size, mtime and inode; S3: the server's ETag), so a caller can
//     tell whether the object is still the one it wrote.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is returned for a key that does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalidRange is returned by Get for an offset past the end.
var ErrInvalidRange = errors.New("range not satisfiable")

// Object describes a stored object.
type Object struct {
	Key         string
	Size        int64
	ETag        string // changes on every write
	ModTime     time.Time
	ContentType string // as stored; may be empty (local disk keeps none)
}

// Range selects bytes [Offset, Offset+Length); Length <= 0 means to the end.
type Range struct{ Offset, Length int64 }

// PutOptions are optional attributes of a Put.
type PutOptions struct {
	ContentType string
	// Size, when >= 0, is the exact size of the reader's content; backends
	// may use it to pick a single request over a multipart upload.
	Size int64
}

// Page is one page of a List.
type Page struct {
	Objects []Object
	// Next is the key to pass as StartAfter for the next page; "" at the end.
	Next string
}

// Store is a flat key → bytes store.
type Store interface {
	// Put writes the reader's content under key, replacing any object.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error)
	// Get opens the object (or a range of it); the caller closes the reader.
	Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, Object, error)
	// Stat describes the object.
	Stat(ctx context.Context, key string) (Object, error)
	// List returns up to limit objects whose key starts with prefix and sorts
	// after startAfter, in byte order.
	List(ctx context.Context, prefix, startAfter string, limit int) (Page, error)
	// Delete removes the object; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Copy duplicates src to dst on the server side.
	Copy(ctx context.Context, src, dst string) (Object, error)
}

// Presigner is implemented by backends that can hand out URLs clients use
// directly (S3).
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	PresignPut(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// DataURLs is implemented by backends whose bytes botdrive's own gateway
// may move itself (S3), so file data skips the gRPC hop: short-lived URLs
// for exactly one object.
type DataURLs interface {
	// PresignGetAs signs a GET whose answer carries this Content-Type
	// (S3's response-content-type), whatever the object was stored with;
	// "" leaves the stored one. Botdrive hands these to its clients too
	// when downloads are redirected (S3_DOWNLOAD_REDIRECT).
	PresignGetAs(ctx context.Context, key string, ttl time.Duration, contentType string) (string, error)
	// PresignPutExact signs a PUT of exactly size bytes with this content
	// type (both are signed headers: the server refuses anything else).
	PresignPutExact(ctx context.Context, key string, ttl time.Duration, contentType string, size int64) (string, error)
}

// MaxKeyLen bounds a key (S3 allows 1024 bytes).
const MaxKeyLen = 1024

// CheckKey rejects keys that are not a clean relative slash path: empty,
// absolute, with "." or ".." or empty segments, backslashes, NUL or other
// control characters, or invalid UTF-8. Backends call it on every key, so
// no key reaches a file system or bucket unchecked.
func CheckKey(key string) error {
	switch {
	case key == "":
		return errors.New("storage: empty key")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("storage: key is longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return errors.New("storage: key is not valid UTF-8")
	case strings.ContainsAny(key, `\`):
		return fmt.Errorf("storage: key %q contains a backslash", key)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("storage: key %q contains a control character", key)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("storage: key %q has an empty, . or .. segment", key)
		}
	}
	return nil
}

// CheckPrefix is CheckKey for a List prefix, which may be empty or end in "/".
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return CheckKey(strings.TrimSuffix(prefix, "/"))
}

// ListAll calls fn for every object under prefix, a page at a time.
func ListAll(ctx context.Context, s Store, prefix string, fn func(Object) error) error {
	after := ""
	for {
		p, err := s.List(ctx, prefix, after, 1000)
		if err != nil {
			return err
		}
		for _, o := range p.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		after = p.Next
	}
}
