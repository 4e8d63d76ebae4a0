// Package pkgimport checks and unpacks a bot package uploaded as a zip of
// its <bot>.gbai folder. The whole zip is judged before a byte is unpacked
// (entry names, count, declared sizes and compression ratios), then every
// entry is unpacked into a private temporary folder while the real sizes
// are counted, so a lying header or a bomb is caught there and not in
// storage. Only a package that unpacked completely is handed on to be
// stored; a refused one leaves nothing behind.
package pkgimport

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/botserver-go/botserver-go/botdrive/drivepath"
)

// ErrRefused wraps every reason a package is refused.
var ErrRefused = errors.New("package refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Limits bound a package.
type Limits struct {
	MaxFiles     int     // entries (files and folders); default 5000
	MaxTotal     int64   // bytes unpacked in all; default 1 GiB
	MaxFileBytes int64   // bytes of one file; default MaxTotal
	MaxRatio     float64 // unpacked/packed for an entry over 1 MiB, and for the whole; default 200
}

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = 5000
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = 1 << 30
	}
	if l.MaxFileBytes <= 0 || l.MaxFileBytes > l.MaxTotal {
		l.MaxFileBytes = l.MaxTotal
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 200
	}
	return l
}

// ratioFloor: small entries compress arbitrarily well (a 100 KiB file of
// spaces) without being a threat; the ratio rule applies above this.
const ratioFloor = 1 << 20

// File is one unpacked file of a package.
type File struct {
	Path  string // relative to the package root
	Local string // the unpacked copy
	Size  int64
	Hash  string // hex sha256
}

// Package is an unpacked, checked package. Close removes the unpacked copy.
type Package struct {
	Files   []File
	Skipped []string // hidden entries left out (.DS_Store, __MACOSX/...)
	dir     string
}

// Close removes the temporary folder.
func (p *Package) Close() error { return os.RemoveAll(p.dir) }

// Unpack checks the zip in r (size bytes) as a package of bot and unpacks
// it under a new folder in tmpDir.
func Unpack(ctx context.Context, r io.ReaderAt, size int64, bot, tmpDir string, lim Limits) (*Package, error) {
	lim = lim.withDefaults()
	if err := drivepath.Bot(bot); err != nil {
		return nil, refuse("%v", err)
	}
	z, err := zip.NewReader(r, size)
	if err != nil {
		return nil, refuse("not a readable zip file: %v", err)
	}
	if len(z.File) > lim.MaxFiles {
		return nil, refuse("the zip has %d entries; a package may have at most %d", len(z.File), lim.MaxFiles)
	}
	type entry struct {
		f    *zip.File
		path string
	}
	var entries []entry
	pkg := &Package{}
	var total, packed uint64
	seen := map[string]bool{}
	root := drivepath.PackageDir(bot) + "/"
	for _, f := range z.File {
		name := f.Name
		if err := checkName(name); err != nil {
			return nil, err
		}
		mode := f.Mode()
		if mode&fs.ModeSymlink != 0 {
			return nil, refuse("entry %q is a symbolic link; packages hold regular files only", name)
		}
		if f.FileInfo().IsDir() || strings.HasSuffix(name, "/") {
			continue
		}
		if !mode.IsRegular() {
			return nil, refuse("entry %q is not a regular file", name)
		}
		if hidden(name) {
			pkg.Skipped = append(pkg.Skipped, name)
			continue
		}
		if f.UncompressedSize64 > uint64(lim.MaxFileBytes) {
			return nil, refuse("entry %q unpacks to %d bytes; a file may have at most %d", name, f.UncompressedSize64, lim.MaxFileBytes)
		}
		if f.UncompressedSize64 > ratioFloor && float64(f.UncompressedSize64) > lim.MaxRatio*float64(max(f.CompressedSize64, 1)) {
			return nil, refuse("entry %q compresses %d:1; more than %.0f:1 is refused as a zip bomb", name, f.UncompressedSize64/max(f.CompressedSize64, 1), lim.MaxRatio)
		}
		total += f.UncompressedSize64
		packed += f.CompressedSize64
		if total > uint64(lim.MaxTotal) {
			return nil, refuse("the package unpacks to more than %d bytes", lim.MaxTotal)
		}
		entries = append(entries, entry{f, name})
	}
	if total > ratioFloor && float64(total) > lim.MaxRatio*float64(max(packed, 1)) {
		return nil, refuse("the package compresses %d:1; more than %.0f:1 is refused as a zip bomb", total/max(packed, 1), lim.MaxRatio)
	}
	if len(entries) == 0 {
		return nil, refuse("the zip holds no files")
	}
	// The zip may hold the <bot>.gbai folder itself or its contents.
	allUnderRoot, underRoot, otherRoot := true, 0, ""
	for _, e := range entries {
		first, _, _ := strings.Cut(e.path, "/")
		if strings.HasPrefix(e.path, root) {
			underRoot++
		} else {
			allUnderRoot = false
		}
		if strings.HasSuffix(first, ".gbai") && first+"/" != root && strings.Contains(e.path, "/") {
			otherRoot = first
		}
	}
	if otherRoot != "" {
		return nil, refuse("the zip holds %s, not the package of bot %q (%s)", otherRoot, bot, strings.TrimSuffix(root, "/"))
	}
	if underRoot > 0 && !allUnderRoot {
		return nil, refuse("the zip mixes files inside %s with files outside it", strings.TrimSuffix(root, "/"))
	}
	for i := range entries {
		if allUnderRoot {
			entries[i].path = strings.TrimPrefix(entries[i].path, root)
		}
		p := entries[i].path
		if err := drivepath.Path(p); err != nil {
			return nil, refuse("entry %q: %v", entries[i].f.Name, err)
		}
		if seen[p] {
			return nil, refuse("entry %q appears twice", p)
		}
		seen[p] = true
	}

	dir, err := os.MkdirTemp(tmpDir, "package-")
	if err != nil {
		return nil, fmt.Errorf("pkgimport: %w", err)
	}
	pkg.dir = dir
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	var unpacked int64
	for i, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		local := filepath.Join(dir, fmt.Sprintf("%06d", i))
		n, sum, err := unpackOne(e.f, local, lim.MaxFileBytes)
		if err != nil {
			return nil, err
		}
		unpacked += n
		if unpacked > lim.MaxTotal {
			return nil, refuse("the package unpacks to more than %d bytes", lim.MaxTotal)
		}
		pkg.Files = append(pkg.Files, File{Path: e.path, Local: local, Size: n, Hash: sum})
	}
	ok = true
	return pkg, nil
}

// unpackOne copies one entry out, refusing more bytes than it declared (a
// lying header) and letting archive/zip check the CRC at the end.
func unpackOne(f *zip.File, local string, maxFile int64) (int64, string, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, "", refuse("entry %q: %v", f.Name, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, "", fmt.Errorf("pkgimport: %w", err)
	}
	defer out.Close()
	h := sha256.New()
	limit := min(int64(f.UncompressedSize64), maxFile)
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(rc, limit+1))
	switch {
	case errors.Is(err, zip.ErrFormat):
		// archive/zip stops an entry that inflates past its declared size.
		return 0, "", refuse("entry %q does not match its header: it unpacks to more than the %d bytes it declares (zip bomb?) or is damaged", f.Name, f.UncompressedSize64)
	case errors.Is(err, zip.ErrChecksum):
		return 0, "", refuse("entry %q is damaged: checksum mismatch", f.Name)
	case err != nil:
		return 0, "", refuse("entry %q is damaged: %v", f.Name, err)
	}
	if n > limit {
		return 0, "", refuse("entry %q unpacks to more than the %d bytes it declares (zip bomb?)", f.Name, limit)
	}
	if n != int64(f.UncompressedSize64) {
		return 0, "", refuse("entry %q unpacked to %d bytes, its header says %d", f.Name, n, f.UncompressedSize64)
	}
	if err := out.Close(); err != nil {
		return 0, "", fmt.Errorf("pkgimport: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// checkName refuses entry names that could land outside the package:
// absolute paths, drive letters, backslashes, ".." segments, NUL and
// control characters.
func checkName(name string) error {
	switch {
	case name == "":
		return refuse("an entry has an empty name")
	case strings.HasPrefix(name, "/"):
		return refuse("entry %q has an absolute path", name)
	case len(name) >= 2 && name[1] == ':':
		return refuse("entry %q has a drive letter", name)
	case strings.Contains(name, `\`):
		return refuse("entry %q contains a backslash (a Windows path that could escape the folder)", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return refuse("entry %q contains a control character", name)
		}
	}
	for _, seg := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if seg == ".." || seg == "." || seg == "" {
			return refuse("entry %q has a %q segment: it could escape the package folder (zip slip)", name, seg)
		}
	}
	return nil
}

// hidden entries are left out: macOS resource forks and dot-files (.git,
// .DS_Store), which local storage reserves.
func hidden(name string) bool {
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") || seg == "__MACOSX" {
			return true
		}
	}
	return false
}
