// Package drivepath checks the names clients give botdrive: bot slugs and
// file paths inside a bot package. Bad names are refused with a message
// saying why, never "cleaned" into something else: a client asking for
// "a/../b" gets an error, not b.
package drivepath

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxPath bounds a path (the org and bot prefix must still fit S3's 1024).
const MaxPath = 900

// MaxSegment bounds one segment (file systems allow 255 bytes).
const MaxSegment = 255

var slug = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Bot checks a bot name: the slug [a-z0-9][a-z0-9-]{0,62}.
func Bot(name string) error {
	if !slug.MatchString(name) {
		return fmt.Errorf("bot name %q is not a slug: use 1-63 lower-case letters, digits and -, starting with a letter or digit", name)
	}
	return nil
}

// ErrEmpty is returned for an empty path.
var ErrEmpty = errors.New("path is empty")

// Path checks a file path relative to the package root
// ("mybot.gbdialog/start.bas"): no leading "/", no "..", "." or empty
// segments, no backslashes or control characters, valid UTF-8, no hidden
// (".name") segments, which local storage reserves for temporary files.
func Path(p string) error {
	if p == "" {
		return ErrEmpty
	}
	if len(p) > MaxPath {
		return fmt.Errorf("path is longer than %d bytes", MaxPath)
	}
	if !utf8.ValidString(p) {
		return errors.New("path is not valid UTF-8")
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q is absolute: give it relative to the bot package", p)
	}
	if strings.ContainsRune(p, '\\') {
		return fmt.Errorf("path %q contains a backslash: use /", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("path %q contains a control character", p)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("path %q has an empty segment (// or a trailing /)", p)
		case seg == "." || seg == "..":
			return fmt.Errorf("path %q contains %q: paths cannot leave or re-enter folders", p, seg)
		case strings.HasPrefix(seg, "."):
			return fmt.Errorf("path %q has a hidden segment %q: names starting with . are not stored", p, seg)
		case len(seg) > MaxSegment:
			return fmt.Errorf("path %q has a segment longer than %d bytes", p, MaxSegment)
		}
	}
	return nil
}

// Prefix checks a listing prefix: empty, or a path that may end in "/" or
// stop inside a segment ("mybot.gbkb/do").
func Prefix(p string) error {
	if p == "" {
		return nil
	}
	return Path(strings.TrimSuffix(p, "/"))
}

// Folder checks a folder path for a recursive delete and returns it with a
// trailing "/".
func Folder(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	if err := Path(p); err != nil {
		return "", err
	}
	return p + "/", nil
}

// PackageDir is the folder of a bot's package: "<bot>.gbai".
func PackageDir(bot string) string { return bot + ".gbai" }

// SplitPackageKey splits "<bot>.gbai/<path>" into bot and path, checking both.
func SplitPackageKey(key string) (bot, path string, err error) {
	dir, rest, ok := strings.Cut(key, "/")
	if !ok || !strings.HasSuffix(dir, ".gbai") {
		return "", "", fmt.Errorf("%q is not inside a <bot>.gbai folder", key)
	}
	bot = strings.TrimSuffix(dir, ".gbai")
	if err := Bot(bot); err != nil {
		return "", "", err
	}
	if err := Path(rest); err != nil {
		return "", "", err
	}
	return bot, rest, nil
}
