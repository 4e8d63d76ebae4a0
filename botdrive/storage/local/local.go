// Package local stores objects as files under one folder. Every access goes
// through os.Root, so no key (and no symbolic link planted in the folder by
// another tool) can reach outside it. Writes go to a hidden temporary file
// that is renamed into place, so readers never see half a file.
//
// Files and folders whose name starts with "." are not objects: they are
// this package's temporary files, or other tools' (.git, editor swap files),
// and List skips them.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/botserver-go/botserver-go/botdrive/storage"
)

const tmpPrefix = ".drive-tmp-"

// Store is a storage.Store on a local folder.
type Store struct {
	root *os.Root
	dir  string
}

// Open opens (creating it if needed) the folder dir as a store.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("local storage: no folder given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	return &Store{root: r, dir: dir}, nil
}

// Dir is the folder the store serves.
func (s *Store) Dir() string { return s.dir }

// Close releases the folder handle.
func (s *Store) Close() error { return s.root.Close() }

func (s *Store) object(key string, fi fs.FileInfo) storage.Object {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return storage.Object{
		Key: key, Size: fi.Size(), ModTime: fi.ModTime(),
		// A rename-into-place gives every write a new inode, so the ETag
		// changes even when size and mtime do not.
		ETag: fmt.Sprintf("%x-%x-%x", fi.Size(), fi.ModTime().UnixNano(), ino),
	}
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return storage.ErrNotFound
	}
	return err
}

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, _ storage.PutOptions) (storage.Object, error) {
	if err := storage.CheckKey(key); err != nil {
		return storage.Object{}, err
	}
	dir := path.Dir(key)
	var f *os.File
	var tmp string
	// A concurrent Delete may prune the folder between MkdirAll and the
	// create: try again a few times.
	for attempt := 0; ; attempt++ {
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			return storage.Object{}, fmt.Errorf("local storage: %w", err)
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		tmp = path.Join(dir, tmpPrefix+hex.EncodeToString(b[:]))
		var err error
		f, err = s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return storage.Object{}, fmt.Errorf("local storage: %w", err)
		}
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = s.root.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return storage.Object{}, err
	}
	if err := f.Sync(); err != nil {
		return storage.Object{}, fmt.Errorf("local storage: %w", err)
	}
	if err := f.Close(); err != nil {
		return storage.Object{}, fmt.Errorf("local storage: %w", err)
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return storage.Object{}, fmt.Errorf("local storage: %w", err)
	}
	ok = true
	return s.Stat(ctx, key)
}

// ctxReader stops a copy when the context ends (a client that went away).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get implements storage.Store.
func (s *Store) Get(_ context.Context, key string, rng *storage.Range) (io.ReadCloser, storage.Object, error) {
	if err := storage.CheckKey(key); err != nil {
		return nil, storage.Object{}, err
	}
	f, err := s.root.Open(key)
	if err != nil {
		return nil, storage.Object{}, notFound(err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = storage.ErrNotFound
		}
		return nil, storage.Object{}, err
	}
	obj := s.object(key, fi)
	if rng == nil || (rng.Offset == 0 && rng.Length <= 0) {
		return f, obj, nil
	}
	if rng.Offset < 0 || rng.Offset >= fi.Size() {
		f.Close()
		return nil, storage.Object{}, storage.ErrInvalidRange
	}
	n := fi.Size() - rng.Offset
	if rng.Length > 0 && rng.Length < n {
		n = rng.Length
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, rng.Offset, n), f}, obj, nil
}

// Stat implements storage.Store.
func (s *Store) Stat(_ context.Context, key string) (storage.Object, error) {
	if err := storage.CheckKey(key); err != nil {
		return storage.Object{}, err
	}
	fi, err := s.root.Stat(key)
	if err != nil {
		return storage.Object{}, notFound(err)
	}
	if !fi.Mode().IsRegular() {
		return storage.Object{}, storage.ErrNotFound
	}
	return s.object(key, fi), nil
}

// List implements storage.Store. It walks the folders the prefix can match
// and sorts the keys, since a walk's order (per folder) is not byte order
// over whole keys ("a/b" walks before "a.b" but sorts after it).
func (s *Store) List(ctx context.Context, prefix, startAfter string, limit int) (storage.Page, error) {
	if err := storage.CheckPrefix(prefix); err != nil {
		return storage.Page{}, err
	}
	if limit <= 0 {
		limit = 1000
	}
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		start = prefix[:i]
	}
	var objs []storage.Object
	fsys := s.root.FS()
	err := fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			if errors.Is(err, fs.ErrNotExist) { // removed while walking
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if p == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			// Only folders that can hold a matching key.
			if !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(p, prefix) || p <= startAfter {
			return nil
		}
		fi, err := s.root.Stat(p) // follows a symbolic link, inside the root only
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		objs = append(objs, s.object(p, fi))
		return nil
	})
	if err != nil {
		return storage.Page{}, fmt.Errorf("local storage: list %q: %w", prefix, err)
	}
	slices.SortFunc(objs, func(a, b storage.Object) int { return strings.Compare(a.Key, b.Key) })
	page := storage.Page{Objects: objs}
	if len(objs) > limit {
		page.Objects = objs[:limit]
		page.Next = objs[limit-1].Key
	}
	return page, nil
}

// Delete implements storage.Store, and removes folders it leaves empty
// (up to the store's root), so a deleted package leaves no empty tree.
func (s *Store) Delete(_ context.Context, key string) error {
	if err := storage.CheckKey(key); err != nil {
		return err
	}
	fi, err := s.root.Lstat(key)
	switch {
	case errors.Is(notFound(err), storage.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("local storage: %w", err)
	case fi.IsDir():
		return nil // a folder is not an object
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local storage: %w", err)
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if s.root.Remove(dir) != nil { // not empty (or gone): stop
			break
		}
	}
	return nil
}

// Copy implements storage.Store.
func (s *Store) Copy(ctx context.Context, src, dst string) (storage.Object, error) {
	r, _, err := s.Get(ctx, src, nil)
	if err != nil {
		return storage.Object{}, err
	}
	defer r.Close()
	return s.Put(ctx, dst, r, storage.PutOptions{Size: -1})
}
