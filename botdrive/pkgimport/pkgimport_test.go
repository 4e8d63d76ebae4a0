package pkgimport_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botdrive/pkgimport"
)

type entry struct {
	name string
	data string
	mode fs.FileMode
}

func zipOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(e.data))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func unpack(t *testing.T, data []byte, lim pkgimport.Limits) (*pkgimport.Package, string, error) {
	t.Helper()
	tmp := t.TempDir()
	p, err := pkgimport.Unpack(context.Background(), bytes.NewReader(data), int64(len(data)), "mybot", tmp, lim)
	if p != nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, tmp, err
}

func paths(p *pkgimport.Package) []string {
	var out []string
	for _, f := range p.Files {
		out = append(out, f.Path)
	}
	return out
}

func TestGoodPackages(t *testing.T) {
	withRoot := zipOf(t,
		entry{name: "mybot.gbai/"},
		entry{name: "mybot.gbai/mybot.gbdialog/start.bas", data: `TALK "hi"`},
		entry{name: "mybot.gbai/mybot.gbot/config.csv", data: "name,value\n"},
		entry{name: "mybot.gbai/.DS_Store", data: "junk"},
		entry{name: "__MACOSX/mybot.gbai/._start.bas", data: "junk"},
	)
	p, _, err := unpack(t, withRoot, pkgimport.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(p); !slices.Equal(got, []string{"mybot.gbdialog/start.bas", "mybot.gbot/config.csv"}) {
		t.Fatalf("paths %q", got)
	}
	if len(p.Skipped) != 2 {
		t.Fatalf("skipped %q", p.Skipped)
	}
	b, err := os.ReadFile(p.Files[0].Local)
	if err != nil || string(b) != `TALK "hi"` || p.Files[0].Size != 9 || len(p.Files[0].Hash) != 64 {
		t.Fatalf("unpacked %q %+v %v", b, p.Files[0], err)
	}
	// The folder's contents without the folder itself.
	p, _, err = unpack(t, zipOf(t, entry{name: "mybot.gbkb/docs/a.md", data: "# a"}), pkgimport.Limits{})
	if err != nil || !slices.Equal(paths(p), []string{"mybot.gbkb/docs/a.md"}) {
		t.Fatalf("%v %v", paths(p), err)
	}
}

// lyingZip declares a small size for an entry that inflates to much more.
func lyingZip(t *testing.T, declared uint64, real []byte) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(real)
	fw.Close()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	h := &zip.FileHeader{Name: "mybot.gbkb/bomb.txt", Method: zip.Deflate,
		CRC32: crc32.ChecksumIEEE(real[:declared]), CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared}
	rw, err := w.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	rw.Write(comp.Bytes())
	w.Close()
	return b.Bytes()
}

func TestHostilePackagesAreRefused(t *testing.T) {
	many := make([]entry, 10000)
	for i := range many {
		many[i] = entry{name: fmt.Sprintf("mybot.gbkb/f%05d.txt", i), data: "x"}
	}
	zeros := strings.Repeat("\x00", 50<<20)
	for _, tc := range []struct {
		name string
		zip  []byte
		lim  pkgimport.Limits
		want string
	}{
		{"zip slip", zipOf(t, entry{name: "../../etc/cron.d/x", data: "evil"}), pkgimport.Limits{}, "zip slip"},
		{"zip slip inside", zipOf(t, entry{name: "mybot.gbai/a/../../../x", data: "evil"}), pkgimport.Limits{}, "zip slip"},
		{"absolute", zipOf(t, entry{name: "/etc/passwd", data: "evil"}), pkgimport.Limits{}, "absolute"},
		{"backslash", zipOf(t, entry{name: `..\..\evil.bat`, data: "evil"}), pkgimport.Limits{}, "backslash"},
		{"drive letter", zipOf(t, entry{name: `C:/evil`, data: "evil"}), pkgimport.Limits{}, "drive letter"},
		{"symlink", zipOf(t, entry{name: "mybot.gbdialog/link", data: "/etc/passwd", mode: fs.ModeSymlink | 0o777}), pkgimport.Limits{}, "symbolic link"},
		{"10,000 tiny files", zipOf(t, many...), pkgimport.Limits{}, "10000 entries"},
		{"bomb by ratio", zipOf(t, entry{name: "mybot.gbkb/zeros.bin", data: zeros}), pkgimport.Limits{}, "zip bomb"},
		{"bomb by total", zipOf(t, entry{name: "a.txt", data: strings.Repeat("ab", 1000)}, entry{name: "b.txt", data: strings.Repeat("cd", 1000)}), pkgimport.Limits{MaxTotal: 3000}, "more than 3000 bytes"},
		{"file too large", zipOf(t, entry{name: "a.txt", data: strings.Repeat("ab", 1000)}), pkgimport.Limits{MaxFileBytes: 1000}, "at most 1000"},
		{"lying header", lyingZip(t, 100, []byte(strings.Repeat("A", 1<<20))), pkgimport.Limits{}, "more than the 100 bytes it declares"},
		{"other bot", zipOf(t, entry{name: "otherbot.gbai/x.bas", data: "x"}), pkgimport.Limits{}, "otherbot.gbai"},
		{"mixed roots", zipOf(t, entry{name: "mybot.gbai/x.bas", data: "x"}, entry{name: "y.bas", data: "y"}), pkgimport.Limits{}, "mixes"},
		{"duplicate", zipOf(t, entry{name: "mybot.gbai/x.bas", data: "x"}, entry{name: "mybot.gbai/x.bas", data: "y"}), pkgimport.Limits{}, "twice"},
		{"empty", zipOf(t, entry{name: "mybot.gbai/"}), pkgimport.Limits{}, "no files"},
		{"not a zip", []byte("this is not a zip"), pkgimport.Limits{}, "not a readable zip"},
		{"control char", zipOf(t, entry{name: "a\x01b", data: "x"}), pkgimport.Limits{}, "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, tmp, err := unpack(t, tc.zip, tc.lim)
			if !errors.Is(err, pkgimport.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want a refusal about %q", err, tc.want)
			}
			left, _ := os.ReadDir(tmp)
			if len(left) != 0 {
				t.Fatalf("a refused package left %d entries in the temporary folder", len(left))
			}
		})
	}
}
