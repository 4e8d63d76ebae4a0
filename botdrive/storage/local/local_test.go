package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botdrive/storage/local"
	"github.com/botserver-go/botserver-go/botdrive/storage/storagetest"
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := local.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, storagetest.Options{})
}

// A symbolic link planted in the folder by another tool cannot lead outside it.
func TestSymlinkCannotEscape(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "file")); err != nil {
		t.Fatal(err)
	}
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, k := range []string{"link/secret", "file"} {
		if _, _, err := s.Get(ctx, k, nil); err == nil {
			t.Fatalf("get %s escaped the folder", k)
		}
	}
	if _, err := s.Put(ctx, "link/new", strings.NewReader("x"), storage.PutOptions{}); err == nil {
		t.Fatal("put through a symlink escaped the folder")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Fatal("file written outside the folder")
	}
	page, err := s.List(ctx, "", "", 100)
	if err != nil || len(page.Objects) != 0 {
		t.Fatalf("list shows %+v %v", page.Objects, err)
	}
}

// Deleting the last file of a folder removes the folders it leaves empty,
// and hidden files (temporary files, .git) are not listed.
func TestDeletePrunesAndHiddenFilesAreSkipped(t *testing.T) {
	dir := t.TempDir()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, "o/b.gbai/a/b/c.txt", strings.NewReader("x"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "o/.git"), 0o755)
	os.WriteFile(filepath.Join(dir, "o/.git/HEAD"), []byte("ref"), 0o644)
	os.WriteFile(filepath.Join(dir, "o/b.gbai/.start.bas.swp"), []byte("swap"), 0o644)
	page, err := s.List(ctx, "", "", 100)
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Key != "o/b.gbai/a/b/c.txt" {
		t.Fatalf("list: %+v %v", page.Objects, err)
	}
	if err := s.Delete(ctx, "o/b.gbai/a/b/c.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "o/b.gbai/a")); !os.IsNotExist(err) {
		t.Fatalf("empty folders left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "o/b.gbai")); err != nil {
		t.Fatal("a folder with other files was pruned")
	}
}
