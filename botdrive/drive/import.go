package drive

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/botserver-go/botserver-go/botdrive/drivepath"
)

// StagedFile is a file of a package, unpacked and hashed (pkgimport.File).
type StagedFile struct {
	Path, Local string
	Size        int64
	Hash        string
}

// ImportStats count what an import did.
type ImportStats struct {
	Written, Unchanged, Deleted int
	Bytes                       int64
}

// Import stores a bot package: files whose content is already stored are
// left alone (no write, no event), the others are written, and with
// replace the bot's files that are not in the package are deleted. The
// quota is checked for the whole package before anything is written.
func (d *Drive) Import(ctx context.Context, org, bot string, files []StagedFile, replace bool) (ImportStats, error) {
	var st ImportStats
	if err := drivepath.Bot(bot); err != nil {
		return st, invalid(err)
	}
	for _, f := range files {
		if err := drivepath.Path(f.Path); err != nil {
			return st, invalid(err)
		}
		if f.Size > d.maxFile {
			return st, fmt.Errorf("%w: %s is %d bytes; the limit is %d", ErrTooLarge, f.Path, f.Size, d.maxFile)
		}
	}
	existing := map[string]FileInfo{}
	token := ""
	for {
		page, next, err := d.List(ctx, org, bot, "", 1000, token)
		if err != nil {
			return st, err
		}
		for _, f := range page {
			existing[f.Path] = f
		}
		if next == "" {
			break
		}
		token = next
	}
	incoming := map[string]bool{}
	var delta int64
	for _, f := range files {
		incoming[f.Path] = true
		delta += f.Size - existing[f.Path].Size
	}
	if replace {
		for p, f := range existing {
			if !incoming[p] {
				delta -= f.Size
			}
		}
	}
	u, err := d.Usage(ctx, org)
	if err != nil {
		return st, err
	}
	if u.Quota > 0 && u.Bytes+delta > u.Quota {
		return st, fmt.Errorf("%w: the package needs %d more bytes; the organisation has %d left", ErrQuota, delta, max(u.Quota-u.Bytes, 0))
	}
	for _, f := range files {
		if old, ok := existing[f.Path]; ok && old.Hash == f.Hash && old.Size == f.Size {
			st.Unchanged++
			continue
		}
		if err := d.importOne(ctx, org, bot, f); err != nil {
			return st, err
		}
		st.Written++
		st.Bytes += f.Size
	}
	if replace {
		for p := range existing {
			if incoming[p] {
				continue
			}
			if err := d.Delete(ctx, org, bot, p); err != nil && !errors.Is(err, ErrNotFound) {
				return st, err
			}
			st.Deleted++
		}
	}
	return st, nil
}

func (d *Drive) importOne(ctx context.Context, org, bot string, f StagedFile) error {
	r, err := os.Open(f.Local)
	if err != nil {
		return err
	}
	defer r.Close()
	_, _, err = d.put(ctx, org, bot, f.Path, r, PutOptions{Size: f.Size}, false)
	return err
}
