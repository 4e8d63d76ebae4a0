package bots

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is a folder of packages (<Root>/<bot>.gbai/...), the all-in-one's
// $BOTS_DIR. Every bot in it belongs to one organisation, Org.
type Dir struct {
	Root string
	Org  string
}

// Bots implements Source.
func (d Dir) Bots(_ context.Context, org string) ([]string, error) {
	if org != d.Org {
		return nil, nil
	}
	entries, err := os.ReadDir(d.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bots folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".gbai")
		if ok && e.IsDir() && ValidName(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Files implements Source.
func (d Dir) Files(_ context.Context, org, bot string) (map[string][]byte, error) {
	if org != d.Org || !ValidName(bot) {
		return nil, ErrNotFound
	}
	root := filepath.Join(d.Root, bot+".gbai")
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, ErrNotFound
	}
	out := map[string][]byte{}
	for _, sub := range []string{bot + ".gbdialog", bot + ".gbot"} {
		entries, err := os.ReadDir(filepath.Join(root, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			rel := path.Join(sub, e.Name())
			// Only regular files: a symlink could point outside the package.
			if !e.Type().IsRegular() || !Relevant(bot, rel) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(root, sub, e.Name()))
			if err != nil {
				return nil, err
			}
			out[rel] = data
		}
	}
	return out, nil
}
