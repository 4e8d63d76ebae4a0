// Package watch notices changes in $BOTS_DIR as they happen (fsnotify on
// every folder of the tree) and says which bot packages to reconcile. It
// only makes the reconcile prompt: the periodic reconcile stays the source
// of truth, so a missed or overflowed notification costs latency, not
// correctness.
package watch

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/botserver-go/botserver-go/botdrive/drivepath"
)

// Watcher watches one folder of bot packages.
type Watcher struct {
	Dir      string
	Debounce time.Duration // quiet time before reporting; default 300ms
	// OnChange is called with the bots whose package changed; All is set
	// when the watcher lost track (queue overflow) and everything should be
	// reconciled.
	OnChange func(ctx context.Context, bots []string, all bool)
	Log      *slog.Logger

	w    *fsnotify.Watcher
	stop context.CancelFunc
	done chan struct{}
}

// Start begins watching; it returns once the tree is watched.
func (w *Watcher) Start(ctx context.Context) error {
	if w.Debounce <= 0 {
		w.Debounce = 300 * time.Millisecond
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	w.w = fw
	if err := w.addTree(w.Dir); err != nil {
		fw.Close()
		return err
	}
	ctx, w.stop = context.WithCancel(context.WithoutCancel(ctx))
	w.done = make(chan struct{})
	go w.loop(ctx)
	return nil
}

// Stop ends the watch.
func (w *Watcher) Stop(context.Context) error {
	if w.stop == nil {
		return nil
	}
	w.stop()
	err := w.w.Close()
	<-w.done
	return err
}

func (w *Watcher) addTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != w.Dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if err := w.w.Add(p); err != nil {
			w.Log.Warn("BOTS_DIR: cannot watch a folder; changes there are found by the periodic reconcile", "dir", p, "err", err)
		}
		return nil
	})
}

// bot returns the bot whose package holds p, if any.
func (w *Watcher) bot(p string) string {
	rel, err := filepath.Rel(w.Dir, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return ""
	}
	first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
	name, ok := strings.CutSuffix(first, ".gbai")
	if !ok || drivepath.Bot(name) != nil {
		return ""
	}
	return name
}

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	pending := map[string]bool{}
	all := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			if ev.Op.Has(fsnotify.Create) {
				_ = w.addTree(ev.Name) // a new folder: watch it (no-op for a file)
			}
			if b := w.bot(ev.Name); b != "" {
				pending[b] = true
				timer.Reset(w.Debounce)
			}
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			w.Log.Warn("BOTS_DIR watch", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				all = true
				timer.Reset(w.Debounce)
			}
		case <-timer.C:
			bots := make([]string, 0, len(pending))
			for b := range pending {
				bots = append(bots, b)
			}
			clear(pending)
			a := all
			all = false
			w.OnChange(ctx, bots, a)
		}
	}
}
