// Package storagetest is the contract every storage.Store must honour, as
// one test suite run against each backend (local disk, a real S3 server).
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/botserver-go/botserver-go/botdrive/storage"
)

// Options tune the suite to a backend.
type Options struct {
	// LargeSize is the size of the "large" object, chosen to cross the
	// backend's multipart threshold (S3); 0: 3 MiB.
	LargeSize int
}

// Run runs the contract against fresh stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store, o Options) {
	if o.LargeSize == 0 {
		o.LargeSize = 3 << 20
	}
	ctx := context.Background()
	t.Run("PutGetStat", func(t *testing.T) {
		s := newStore(t)
		for _, tc := range []struct {
			key  string
			data []byte
		}{
			{"org/bot.gbai/empty.txt", nil},
			{"org/bot.gbai/bot.gbdialog/start.bas", []byte("TALK \"hi\"\n")},
			{"org/bot.gbai/docs/relatório final (v2).txt", []byte("ünïcødé + spaces & symbols=ok")},
			{"org/bot.gbai/large.bin", randomBytes(o.LargeSize)},
		} {
			obj, err := s.Put(ctx, tc.key, bytes.NewReader(tc.data), storage.PutOptions{ContentType: "text/plain", Size: int64(len(tc.data))})
			if err != nil {
				t.Fatalf("put %s: %v", tc.key, err)
			}
			if obj.Key != tc.key || obj.Size != int64(len(tc.data)) || obj.ETag == "" {
				t.Fatalf("put %s: got %+v", tc.key, obj)
			}
			got, gobj := read(t, s, tc.key, nil)
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("get %s: %d bytes back, want %d", tc.key, len(got), len(tc.data))
			}
			if gobj.Size != int64(len(tc.data)) || gobj.ETag != obj.ETag {
				t.Fatalf("get %s: object %+v, put gave %+v", tc.key, gobj, obj)
			}
			st, err := s.Stat(ctx, tc.key)
			if err != nil || st.Size != int64(len(tc.data)) || st.ETag != obj.ETag || st.ModTime.IsZero() {
				t.Fatalf("stat %s: %+v %v", tc.key, st, err)
			}
		}
	})

	t.Run("UnknownSizeLargeUpload", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(o.LargeSize*2 + 12345)
		// A reader that hands out odd-sized pieces and no size up front.
		if _, err := s.Put(ctx, "k/big", &chunky{r: bytes.NewReader(data), n: 70001}, storage.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
		got, obj := read(t, s, "k/big", nil)
		if !bytes.Equal(got, data) || obj.Size != int64(len(data)) {
			t.Fatalf("got %d bytes (size %d), want %d", len(got), obj.Size, len(data))
		}
	})

	t.Run("MissingKeys", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Get(ctx, "no/such", nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
		if _, err := s.Stat(ctx, "no/such"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("stat missing: %v", err)
		}
		if err := s.Delete(ctx, "no/such"); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
		if _, err := s.Copy(ctx, "no/such", "x/y"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("copy missing: %v", err)
		}
		put(t, s, "a/b/c", "x")
		// A "folder" is not an object.
		if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("stat of a folder: %v", err)
		}
		if err := s.Delete(ctx, "a/b"); err != nil {
			t.Fatalf("delete of a folder: %v", err)
		}
		if got, _ := read(t, s, "a/b/c", nil); string(got) != "x" {
			t.Fatal("deleting a folder name removed what is inside")
		}
	})

	t.Run("OverwriteChangesETag", func(t *testing.T) {
		s := newStore(t)
		a := put(t, s, "k/f", "same")
		b := put(t, s, "k/f", "same")
		if a.ETag == b.ETag && a.ModTime.Equal(b.ModTime) {
			// Local disk keys the ETag on the inode, S3 servers on content:
			// what must hold is that the object still reads back right.
			t.Logf("same ETag for identical rewrites: %s", a.ETag)
		}
		c := put(t, s, "k/f", "different")
		if c.ETag == a.ETag {
			t.Fatalf("ETag %q did not change with the content", c.ETag)
		}
		if got, _ := read(t, s, "k/f", nil); string(got) != "different" {
			t.Fatalf("overwrite: %q", got)
		}
	})

	t.Run("FailedPutKeepsOldObject", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "k/f", "original")
		for _, n := range []int{10, o.LargeSize + 100} {
			boom := errors.New("client went away")
			_, err := s.Put(ctx, "k/f", io.MultiReader(bytes.NewReader(randomBytes(n)), errReader{boom}), storage.PutOptions{Size: -1})
			if !errors.Is(err, boom) {
				t.Fatalf("put with failing reader (%d bytes): %v", n, err)
			}
			if got, _ := read(t, s, "k/f", nil); string(got) != "original" {
				t.Fatalf("after a failed put of %d bytes the object is %d bytes", n, len(got))
			}
			_, err = s.Put(ctx, "k/new", io.MultiReader(bytes.NewReader(randomBytes(n)), errReader{boom}), storage.PutOptions{Size: -1})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if _, err := s.Stat(ctx, "k/new"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a failed put of a new key left an object: %v", err)
			}
		}
		page, err := s.List(ctx, "k/", "", 100)
		if err != nil || len(page.Objects) != 1 {
			t.Fatalf("failed puts left objects behind: %+v %v", page.Objects, err)
		}
	})

	t.Run("CancelledPut", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		r := &cancelAfter{r: bytes.NewReader(randomBytes(o.LargeSize + 1)), after: 4096, cancel: cancel}
		if _, err := s.Put(cctx, "k/c", r, storage.PutOptions{Size: -1}); err == nil {
			t.Fatal("a cancelled put succeeded")
		}
		if _, err := s.Stat(ctx, "k/c"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a cancelled put left an object: %v", err)
		}
	})

	t.Run("Ranges", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "k/r", "0123456789")
		for _, tc := range []struct {
			rng  storage.Range
			want string
		}{
			{storage.Range{Offset: 0, Length: 0}, "0123456789"},
			{storage.Range{Offset: 3, Length: 4}, "3456"},
			{storage.Range{Offset: 7, Length: 0}, "789"},
			{storage.Range{Offset: 8, Length: 100}, "89"},
			{storage.Range{Offset: 9, Length: 1}, "9"},
		} {
			got, obj := read(t, s, "k/r", &tc.rng)
			if string(got) != tc.want || obj.Size != 10 {
				t.Fatalf("range %+v: %q (size %d), want %q (size 10)", tc.rng, got, obj.Size, tc.want)
			}
		}
		for _, rng := range []storage.Range{{Offset: 10}, {Offset: 11, Length: 1}, {Offset: -1}} {
			if _, _, err := s.Get(ctx, "k/r", &rng); !errors.Is(err, storage.ErrInvalidRange) {
				t.Fatalf("range %+v: %v, want ErrInvalidRange", rng, err)
			}
		}
	})

	t.Run("ListOrderPrefixPages", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"p/a.b", "p/a/b", "p/a-b", "p/a/c/d", "p/ab", "p/b", "q/other", "p/Z", "p/é"}
		for _, k := range keys {
			put(t, s, k, k)
		}
		want := []string{"p/Z", "p/a-b", "p/a.b", "p/a/b", "p/a/c/d", "p/ab", "p/b", "p/é"} // byte order
		var got []string
		after := ""
		pages := 0
		for {
			page, err := s.List(ctx, "p/", after, 3)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Objects) > 3 {
				t.Fatalf("page of %d objects with limit 3", len(page.Objects))
			}
			for _, o := range page.Objects {
				got = append(got, o.Key)
				if o.Size != int64(len(o.Key)) || o.ETag == "" {
					t.Fatalf("list entry %+v", o)
				}
			}
			if page.Next == "" {
				break
			}
			after = page.Next
			if pages > 10 {
				t.Fatal("list does not end")
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("list p/:\n got %q\nwant %q", got, want)
		}
		// A prefix that ends inside a segment.
		page, err := s.List(ctx, "p/a", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if k := keysOf(page); !slices.Equal(k, []string{"p/a-b", "p/a.b", "p/a/b", "p/a/c/d", "p/ab"}) {
			t.Fatalf("list p/a: %q", k)
		}
		if page, err := s.List(ctx, "p/a/c/", "", 100); err != nil || !slices.Equal(keysOf(page), []string{"p/a/c/d"}) {
			t.Fatalf("list p/a/c/: %q %v", keysOf(page), err)
		}
		if page, err := s.List(ctx, "nothing/", "", 100); err != nil || len(page.Objects) != 0 || page.Next != "" {
			t.Fatalf("list of an empty prefix: %+v %v", page, err)
		}
		if page, err := s.List(ctx, "", "", 100); err != nil || len(page.Objects) != len(keys) {
			t.Fatalf("list all: %q %v", keysOf(page), err)
		}
	})

	t.Run("DeleteAndCopy", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "k/dir/a", "A")
		put(t, s, "k/dir/b", "B")
		if _, err := s.Copy(ctx, "k/dir/a", "k/other/a copy"); err != nil {
			t.Fatal(err)
		}
		if got, _ := read(t, s, "k/other/a copy", nil); string(got) != "A" {
			t.Fatalf("copy: %q", got)
		}
		if got, _ := read(t, s, "k/dir/a", nil); string(got) != "A" {
			t.Fatal("copy changed the source")
		}
		if _, err := s.Copy(ctx, "k/dir/b", "k/dir/a"); err != nil { // onto an existing key
			t.Fatal(err)
		}
		if got, _ := read(t, s, "k/dir/a", nil); string(got) != "B" {
			t.Fatalf("copy over: %q", got)
		}
		for _, k := range []string{"k/dir/a", "k/dir/b"} {
			if err := s.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.List(ctx, "k/", "", 100)
		if err != nil || !slices.Equal(keysOf(page), []string{"k/other/a copy"}) {
			t.Fatalf("after delete: %q %v", keysOf(page), err)
		}
		// The key can be written again where a folder was pruned.
		put(t, s, "k/dir/a", "again")
	})

	t.Run("BadKeysRefused", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"", "../escape", "a/../../b", "/abs", "a//b", "a/./b", `a\b`, "a/b/", "nul\x00", "ctl\n"} {
			if _, err := s.Put(ctx, k, strings.NewReader("x"), storage.PutOptions{}); err == nil {
				t.Fatalf("put %q accepted", k)
			}
			if _, _, err := s.Get(ctx, k, nil); err == nil || errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("get %q: %v, want a key error", k, err)
			}
			if err := s.Delete(ctx, k); err == nil {
				t.Fatalf("delete %q accepted", k)
			}
		}
		if _, err := s.List(ctx, "../", "", 10); err == nil {
			t.Fatal("list ../ accepted")
		}
	})

	t.Run("ConcurrentWritersLeaveOneWholeObject", func(t *testing.T) {
		s := newStore(t)
		const writers = 4
		payloads := make([][]byte, writers)
		for i := range payloads {
			payloads[i] = bytes.Repeat([]byte{byte('a' + i)}, 256<<10)
		}
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Put(ctx, "k/race", bytes.NewReader(payloads[i]), storage.PutOptions{Size: -1}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, _ := read(t, s, "k/race", nil)
		if !slices.ContainsFunc(payloads, func(p []byte) bool { return bytes.Equal(p, got) }) {
			t.Fatalf("the object is a mix of writers (%d bytes)", len(got))
		}
		if page, _ := s.List(ctx, "k/", "", 100); len(page.Objects) != 1 {
			t.Fatalf("concurrent writers left %q", keysOf(page))
		}
	})
}

func keysOf(p storage.Page) []string {
	var k []string
	for _, o := range p.Objects {
		k = append(k, o.Key)
	}
	return k
}

func put(t *testing.T, s storage.Store, key, data string) storage.Object {
	t.Helper()
	obj, err := s.Put(context.Background(), key, strings.NewReader(data), storage.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return obj
}

func read(t *testing.T, s storage.Store, key string, rng *storage.Range) ([]byte, storage.Object) {
	t.Helper()
	r, obj, err := s.Get(context.Background(), key, rng)
	if err != nil {
		t.Fatalf("get %s %+v: %v", key, rng, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b, obj
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type chunky struct {
	r io.Reader
	n int
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

type cancelAfter struct {
	r      io.Reader
	after  int
	read   int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	if c.read >= c.after {
		c.cancel()
	}
	return n, err
}
