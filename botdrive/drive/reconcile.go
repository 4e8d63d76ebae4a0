package drive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/botserver-go/botserver-go/botdrive/drivepath"
	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botstate/pg"
)

// racyWindow: a local file modified this close to (or after) the moment it
// was last hashed may have changed again within the file system's timestamp
// granularity without changing size or mtime, so it is hashed again (git's
// "racy clean" rule). S3 ETags change with the content, so the rule costs
// nothing there beyond one extra hash of a just-written object.
const racyWindow = 2 * time.Second

// ReconcileStats count what a reconcile did.
type ReconcileStats struct {
	Scanned, Hashed, Changed, Deleted int
}

func (s *ReconcileStats) add(o ReconcileStats) {
	s.Scanned += o.Scanned
	s.Hashed += o.Hashed
	s.Changed += o.Changed
	s.Deleted += o.Deleted
}

// Reconcile compares storage with the metadata for every organisation and
// records the differences, publishing the same events an API change would:
// files added, changed or removed by other tools while the service ran or
// was down. Unchanged files publish nothing. It is safe to run from several
// replicas at once (each file's commit is locked and re-checked), though
// Service runs it from one at a time.
func (d *Drive) Reconcile(ctx context.Context) (ReconcileStats, error) {
	var total ReconcileStats
	var errs []error
	orgs, err := d.metadataOrgs(ctx)
	if err != nil {
		return total, err
	}
	if d.botsDir != nil {
		st, err := d.ReconcileBotsDir(ctx)
		total.add(st)
		errs = append(errs, err)
		delete(orgs, d.defaultOrg)
	}
	// The main store, one org (first key segment) at a time. Keys come in
	// byte order, so each org's objects arrive together.
	var cur string
	var objs []storage.Object
	flush := func() {
		if cur == "" {
			return
		}
		st, err := d.reconcileSpace(ctx, cur, "", objs)
		total.add(st)
		errs = append(errs, err)
		delete(orgs, cur)
		objs = objs[:0]
	}
	err = storage.ListAll(ctx, d.store, "", func(o storage.Object) error {
		org, rest, ok := strings.Cut(o.Key, "/")
		if !ok || uuid.Validate(org) != nil || (d.botsDir != nil && org == d.defaultOrg) {
			return nil // not a package file (or the default org, served from BotsDir)
		}
		if org != cur {
			flush()
			cur = org
		}
		o.Key = rest
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("drive: reconcile: list storage: %w", err)
	}
	flush()
	// Orgs with metadata but nothing left in storage.
	for org := range orgs {
		st, err := d.reconcileSpace(ctx, org, "", nil)
		total.add(st)
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// ReconcileBotsDir reconciles only the default org's $BOTS_DIR.
func (d *Drive) ReconcileBotsDir(ctx context.Context) (ReconcileStats, error) {
	if d.botsDir == nil {
		return ReconcileStats{}, nil
	}
	var objs []storage.Object
	if err := storage.ListAll(ctx, d.botsDir, "", func(o storage.Object) error {
		objs = append(objs, o)
		return nil
	}); err != nil {
		return ReconcileStats{}, fmt.Errorf("drive: reconcile BOTS_DIR: %w", err)
	}
	return d.reconcileSpace(ctx, d.defaultOrg, "", objs)
}

// ReconcileBot reconciles one bot's package (what a file watcher calls
// when it sees that package change).
func (d *Drive) ReconcileBot(ctx context.Context, org, bot string) (ReconcileStats, error) {
	if err := drivepath.Bot(bot); err != nil {
		return ReconcileStats{}, invalid(err)
	}
	s, prefix := d.space(org)
	pkg := drivepath.PackageDir(bot) + "/"
	var objs []storage.Object
	if err := storage.ListAll(ctx, s, prefix+pkg, func(o storage.Object) error {
		o.Key = strings.TrimPrefix(o.Key, prefix)
		objs = append(objs, o)
		return nil
	}); err != nil {
		return ReconcileStats{}, fmt.Errorf("drive: reconcile %s: %w", bot, err)
	}
	return d.reconcileSpace(ctx, org, bot, objs)
}

// metadataOrgs lists the orgs that have file metadata. It reads across
// tenants, so it runs as the service's own role (the tables' owner, which
// RLS does not restrict) and returns ids only.
func (d *Drive) metadataOrgs(ctx context.Context) (map[string]bool, error) {
	rows, err := d.pool.Query(ctx, `SELECT DISTINCT org_id::text FROM drive.files`)
	if err != nil {
		return nil, fmt.Errorf("drive: reconcile: %w", err)
	}
	defer rows.Close()
	orgs := map[string]bool{}
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, err
		}
		orgs[o] = true
	}
	return orgs, rows.Err()
}

// reconcileSpace brings one org's metadata (only bot's, when bot != "") in
// line with objs, the org's objects keyed "<bot>.gbai/<path>".
func (d *Drive) reconcileSpace(ctx context.Context, org, bot string, objs []storage.Object) (ReconcileStats, error) {
	var st ReconcileStats
	known := map[[2]string]FileInfo{}
	err := pg.InOrg(ctx, d.pool, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+fileCols+` FROM drive.files WHERE $1 = '' OR bot = $1`, bot)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			f, err := scanFile(rows)
			if err != nil {
				return err
			}
			known[[2]string{f.Bot, f.Path}] = f
		}
		return rows.Err()
	})
	if err != nil {
		return st, fmt.Errorf("drive: reconcile org %s: %w", org, err)
	}
	var errs []error
	for _, o := range objs {
		b, p, err := drivepath.SplitPackageKey(o.Key)
		if err != nil || (bot != "" && b != bot) {
			d.log.Debug("reconcile: not a package file, ignored", "org", org, "key", o.Key, "why", err)
			continue
		}
		st.Scanned++
		k := [2]string{b, p}
		f, ok := known[k]
		delete(known, k)
		if ok && f.etag == o.ETag && o.ModTime.Before(f.verifiedAt.Add(-racyWindow)) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.Hashed++
		nf, err := d.hashObject(ctx, org, b, p, o)
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted since the listing; its deletion is seen next time or by its deleter
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", b, p, err))
			continue
		}
		_, changed, err := d.commitPut(ctx, org, nf, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			st.Changed++
			d.log.Info("file changed outside the API", "org", org, "bot", b, "path", p, "hash", nf.Hash)
		}
	}
	for k := range known {
		deleted, err := d.commitDelete(ctx, org, k[0], k[1])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if deleted {
			st.Deleted++
			d.log.Info("file removed outside the API", "org", org, "bot", k[0], "path", k[1])
		}
	}
	return st, errors.Join(errs...)
}
