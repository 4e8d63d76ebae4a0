// Package drive is botdrive's domain: the files of bot packages, per
// organisation, in a storage.Store, with their metadata in schema drive and
// their change events in its outbox.
//
// Storage layout: "<org>/<bot>.gbai/<path>" in the main store; the default
// organisation's packages may instead live in $BOTS_DIR as
// "<bot>.gbai/<path>" (the all-in-one), so a person can edit them with any
// tool.
//
// Every change, whichever way it arrives (API, package import, a tool
// editing $BOTS_DIR, another client writing to the bucket), is recorded by
// the same two steps, commitPut and commitDelete, which compare the content
// hash with the metadata under a per-file lock and write the metadata and
// the event in one transaction: an unchanged file emits nothing, a change
// emits exactly one event however many paths notice it.
package drive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botdrive/drivepath"
	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// Schema is the Postgres schema botdrive owns.
const Schema = "drive"

// Event subjects.
const (
	SubjectChanged = "bot.drive.file.changed"
	SubjectDeleted = "bot.drive.file.deleted"
)

// Errors callers map to API statuses. Each is wrapped with a message that
// says what was wrong.
var (
	ErrInvalid  = errors.New("invalid request")
	ErrNotFound = errors.New("not found")
	ErrQuota    = errors.New("quota exceeded")
	ErrTooLarge = errors.New("file too large")
)

func invalid(err error) error { return fmt.Errorf("%w: %w", ErrInvalid, err) }

// Options configure a Drive.
type Options struct {
	Pool  *pgxpool.Pool
	Store storage.Store // the main backend
	// BotsDir, when set, holds the packages of DefaultOrg instead of Store.
	BotsDir    storage.Store
	DefaultOrg string
	// MaxFileBytes bounds one file (0: 5 GiB).
	MaxFileBytes int64
	// DefaultQuota is each org's quota unless SetQuota changed it (0: unlimited).
	DefaultQuota int64
	Log          *slog.Logger
}

// Drive is the file service of every organisation.
type Drive struct {
	pool         *pgxpool.Pool
	store        storage.Store
	botsDir      storage.Store
	defaultOrg   string
	maxFile      int64
	defaultQuota int64
	log          *slog.Logger
}

// New checks o and returns the Drive.
func New(o Options) (*Drive, error) {
	if o.Pool == nil || o.Store == nil {
		return nil, errors.New("drive: a pool and a store are required")
	}
	if o.BotsDir != nil && o.DefaultOrg == "" {
		return nil, errors.New("drive: BotsDir needs DefaultOrg")
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 5 << 30
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Drive{pool: o.Pool, store: o.Store, botsDir: o.BotsDir, defaultOrg: o.DefaultOrg,
		maxFile: o.MaxFileBytes, defaultQuota: o.DefaultQuota, log: o.Log}, nil
}

// MaxFileBytes is the largest file accepted.
func (d *Drive) MaxFileBytes() int64 { return d.maxFile }

// FileInfo is one file's metadata.
type FileInfo struct {
	Bot, Path   string
	Size        int64
	Hash        string
	ContentType string
	CreatedAt   time.Time
	ModifiedAt  time.Time
	etag        string
	verifiedAt  time.Time
}

// Proto converts to the API message.
func (f FileInfo) Proto() *drivev1.FileInfo {
	return &drivev1.FileInfo{Bot: f.Bot, Path: f.Path, Size: f.Size, Hash: f.Hash, ContentType: f.ContentType,
		ModifiedAt: timestamppb.New(f.ModifiedAt), CreatedAt: timestamppb.New(f.CreatedAt)}
}

// space is where an org's packages live, and the key prefix there.
func (d *Drive) space(org string) (storage.Store, string) {
	if d.botsDir != nil && org == d.defaultOrg {
		return d.botsDir, ""
	}
	return d.store, org + "/"
}

func (d *Drive) key(org, bot, p string) (storage.Store, string) {
	s, prefix := d.space(org)
	return s, prefix + drivepath.PackageDir(bot) + "/" + p
}

func check(bot, p string) error {
	if err := drivepath.Bot(bot); err != nil {
		return invalid(err)
	}
	if err := drivepath.Path(p); err != nil {
		return invalid(err)
	}
	return nil
}

const fileCols = `bot, path, size, hash, content_type, created_at, modified_at, etag, verified_at`

func scanFile(row pgx.Row) (FileInfo, error) {
	var f FileInfo
	err := row.Scan(&f.Bot, &f.Path, &f.Size, &f.Hash, &f.ContentType, &f.CreatedAt, &f.ModifiedAt, &f.etag, &f.verifiedAt)
	return f, err
}

// Stat returns a file's metadata.
func (d *Drive) Stat(ctx context.Context, org, bot, p string) (FileInfo, error) {
	if err := check(bot, p); err != nil {
		return FileInfo{}, err
	}
	// One round trip (every download asks): the scope and the read in one
	// pipeline instead of BEGIN, SELECT and COMMIT.
	var f FileInfo
	err := pg.InOrgBatch(ctx, d.pool, org, func(b *pgx.Batch) {
		b.Queue(`SELECT `+fileCols+` FROM drive.files WHERE bot = $1 AND path = $2`, bot, p)
	}, func(br pgx.BatchResults) error {
		var err error
		f, err = scanFile(br.QueryRow())
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return FileInfo{}, fmt.Errorf("%w: %s has no file %s", ErrNotFound, bot, p)
	}
	return f, err
}

// List returns up to pageSize files of a bot under prefix, after the page
// token, and the token of the next page ("" at the end).
func (d *Drive) List(ctx context.Context, org, bot, prefix string, pageSize int, token string) ([]FileInfo, string, error) {
	if err := drivepath.Bot(bot); err != nil {
		return nil, "", invalid(err)
	}
	if err := drivepath.Prefix(prefix); err != nil {
		return nil, "", invalid(err)
	}
	switch {
	case pageSize <= 0:
		pageSize = 100
	case pageSize > 1000:
		pageSize = 1000
	}
	after := ""
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(b), prefix) || drivepath.Path(string(b)) != nil {
			return nil, "", invalid(errors.New("page_token is not from this listing"))
		}
		after = string(b)
	}
	var files []FileInfo
	err := pg.InOrg(ctx, d.pool, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+fileCols+` FROM drive.files
			WHERE bot = $1 AND path >= $2 AND starts_with(path, $2) AND path > $3
			ORDER BY path LIMIT $4`, bot, prefix, after, pageSize+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			f, err := scanFile(rows)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(files) > pageSize {
		files = files[:pageSize]
		next = base64.RawURLEncoding.EncodeToString([]byte(files[pageSize-1].Path))
	}
	return files, next, nil
}

// Open returns a reader of a file (or of a range of it) and its metadata.
// The size in the metadata is the object's as stored now.
func (d *Drive) Open(ctx context.Context, org, bot, p string, rng *storage.Range) (io.ReadCloser, FileInfo, error) {
	f, err := d.Stat(ctx, org, bot, p)
	if err != nil {
		return nil, FileInfo{}, err
	}
	s, key := d.key(org, bot, p)
	r, obj, err := s.Get(ctx, key, rng)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, FileInfo{}, fmt.Errorf("%w: %s has no file %s", ErrNotFound, bot, p)
	case errors.Is(err, storage.ErrInvalidRange):
		return nil, FileInfo{}, fmt.Errorf("%w: offset %d is past the end of %s (%d bytes)", ErrInvalid, rng.Offset, p, f.Size)
	case err != nil:
		return nil, FileInfo{}, err
	}
	f.Size = obj.Size
	return r, f, nil
}

// PutOptions describe an upload.
type PutOptions struct {
	ContentType string // declared by the client; see contentType
	Size        int64  // exact size when > 0 (checked), else unknown
}

// Put stores a file from r. It returns the file's metadata and whether its
// content changed (false: the same bytes were already there, and no event
// was published). The file is written whole or not at all: a reader that
// fails, a size mismatch or a quota overrun leaves the previous content.
func (d *Drive) Put(ctx context.Context, org, bot, p string, r io.Reader, o PutOptions) (FileInfo, bool, error) {
	return d.put(ctx, org, bot, p, r, o, true)
}

// put is Put; checkQuota false is for callers that checked a whole batch.
func (d *Drive) put(ctx context.Context, org, bot, p string, r io.Reader, o PutOptions, checkQuota bool) (FileInfo, bool, error) {
	if err := check(bot, p); err != nil {
		return FileInfo{}, false, err
	}
	if o.Size > d.maxFile {
		return FileInfo{}, false, fmt.Errorf("%w: %d bytes; the limit is %d", ErrTooLarge, o.Size, d.maxFile)
	}
	var room int64 = -1
	if checkQuota {
		var err error
		if room, err = d.room(ctx, org, bot, p); err != nil {
			return FileInfo{}, false, err
		}
	}
	if room >= 0 && o.Size > room {
		return FileInfo{}, false, fmt.Errorf("%w: the file needs %d bytes; the organisation has %d left", ErrQuota, o.Size, room)
	}
	started := time.Now()
	hr := &hashReader{r: r, h: sha256.New(), want: o.Size, max: d.maxFile, room: room}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(hr, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return FileInfo{}, false, err
	}
	head = head[:n]
	ct := contentType(p, head, o.ContentType)
	s, key := d.key(org, bot, p)
	obj, err := s.Put(ctx, key, io.MultiReader(bytes.NewReader(head), hr), storage.PutOptions{ContentType: ct, Size: o.Size})
	if err != nil {
		return FileInfo{}, false, err
	}
	f := FileInfo{Bot: bot, Path: p, Size: hr.n, Hash: hex.EncodeToString(hr.h.Sum(nil)), ContentType: ct, ModifiedAt: time.Now(), etag: obj.ETag, verifiedAt: started}
	return d.commitPut(ctx, org, f, true)
}

// room is how many bytes the org may still store in this file: the quota
// less the usage, plus the file's current size (it is being replaced).
// -1 means no quota.
func (d *Drive) room(ctx context.Context, org, bot, p string) (int64, error) {
	var room int64 = -1
	err := pg.InOrg(ctx, d.pool, org, func(tx pgx.Tx) error {
		var quota, used, current int64
		err := tx.QueryRow(ctx, `SELECT
			coalesce((SELECT quota_bytes FROM drive.quotas), $3),
			coalesce((SELECT bytes FROM drive.usage), 0),
			coalesce((SELECT size FROM drive.files WHERE bot = $1 AND path = $2), 0)`, bot, p, d.defaultQuota).
			Scan(&quota, &used, &current)
		if err != nil {
			return err
		}
		if quota > 0 {
			room = max(quota-used+current, 0)
		}
		return nil
	})
	return room, err
}

// hashReader hashes and counts what passes through, and fails the read
// (so the store discards the write) past the size limit, the quota, or at
// an end that does not match the declared size.
type hashReader struct {
	r          io.Reader
	h          hash.Hash
	n          int64
	want       int64 // > 0: exact size expected
	max, room  int64 // room < 0: no quota
	sawEOF     bool
	finalError error
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.finalError != nil {
		return 0, h.finalError
	}
	n, err := h.r.Read(p)
	h.n += int64(n)
	h.h.Write(p[:n])
	switch {
	case h.n > h.max:
		h.finalError = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, h.max)
	case h.room >= 0 && h.n > h.room:
		h.finalError = fmt.Errorf("%w: more than the %d bytes the organisation has left", ErrQuota, h.room)
	case errors.Is(err, io.EOF) && h.want > 0 && h.n != h.want:
		h.finalError = fmt.Errorf("%w: received %d bytes, the upload declared %d", ErrInvalid, h.n, h.want)
	}
	if h.finalError != nil {
		return 0, h.finalError
	}
	return n, err
}

// lockFile serialises commits of one file across transactions and replicas.
func lockFile(ctx context.Context, tx pgx.Tx, org, bot, p string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, org+"/"+bot+"/"+p)
	return err
}

// commitPut records that f's content is now stored (f.etag is the object
// it was computed for). With verify, the object is checked to still be that
// one: if another writer replaced it meanwhile, that writer records its own
// content and this one records nothing. The event goes out only when the
// hash differs from the metadata.
func (d *Drive) commitPut(ctx context.Context, org string, f FileInfo, verify bool) (FileInfo, bool, error) {
	s, key := d.key(org, f.Bot, f.Path)
	if f.verifiedAt.IsZero() {
		f.verifiedAt = time.Now()
	}
	changed := false
	err := pg.InOrg(ctx, d.pool, org, func(tx pgx.Tx) error {
		if err := lockFile(ctx, tx, org, f.Bot, f.Path); err != nil {
			return err
		}
		if verify {
			cur, err := s.Stat(ctx, key)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			if err != nil || cur.ETag != f.etag {
				return nil // superseded (or deleted) by a later writer, who records it
			}
			if cur.Size != f.Size {
				return invalid(fmt.Errorf("the stored object has %d bytes, not %d", cur.Size, f.Size))
			}
		}
		old, err := scanFile(tx.QueryRow(ctx, `SELECT `+fileCols+` FROM drive.files WHERE bot = $1 AND path = $2 FOR UPDATE`, f.Bot, f.Path))
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		exists := err == nil
		if exists && old.Hash == f.Hash && old.Size == f.Size {
			_, err := tx.Exec(ctx, `UPDATE drive.files SET etag = $3, verified_at = $4 WHERE bot = $1 AND path = $2`, f.Bot, f.Path, f.etag, f.verifiedAt)
			f.CreatedAt, f.ModifiedAt, f.ContentType = old.CreatedAt, old.ModifiedAt, old.ContentType
			return err
		}
		changed = true
		err = tx.QueryRow(ctx, `INSERT INTO drive.files (org_id, bot, path, size, hash, content_type, etag, verified_at, modified_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (org_id, bot, path) DO UPDATE SET size = EXCLUDED.size, hash = EXCLUDED.hash,
				content_type = EXCLUDED.content_type, etag = EXCLUDED.etag, verified_at = EXCLUDED.verified_at, modified_at = EXCLUDED.modified_at
			RETURNING created_at`, org, f.Bot, f.Path, f.Size, f.Hash, f.ContentType, f.etag, f.verifiedAt, f.ModifiedAt).Scan(&f.CreatedAt)
		if err != nil {
			return err
		}
		_, err = events.Write(ctx, tx, Schema, events.Event{Subject: SubjectChanged, Payload: &drivev1.FileChanged{
			OrgId: org, Bot: f.Bot, Path: f.Path, Hash: f.Hash, Size: f.Size, ContentType: f.ContentType,
			ModifiedAt: timestamppb.New(f.ModifiedAt),
		}})
		return err
	})
	if err != nil {
		return FileInfo{}, false, fmt.Errorf("drive: record %s/%s: %w", f.Bot, f.Path, err)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = f.ModifiedAt
	}
	return f, changed, nil
}

// commitDelete forgets a file that is gone from storage and publishes
// FileDeleted, unless the object exists again (re-created meanwhile).
func (d *Drive) commitDelete(ctx context.Context, org, bot, p string) (bool, error) {
	s, key := d.key(org, bot, p)
	deleted := false
	err := pg.InOrg(ctx, d.pool, org, func(tx pgx.Tx) error {
		if err := lockFile(ctx, tx, org, bot, p); err != nil {
			return err
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			return err // nil: it is back, its writer records it
		}
		var h string
		err := tx.QueryRow(ctx, `DELETE FROM drive.files WHERE bot = $1 AND path = $2 RETURNING hash`, bot, p).Scan(&h)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		deleted = true
		_, err = events.Write(ctx, tx, Schema, events.Event{Subject: SubjectDeleted,
			Payload: &drivev1.FileDeleted{OrgId: org, Bot: bot, Path: p, Hash: h}})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("drive: record deletion of %s/%s: %w", bot, p, err)
	}
	return deleted, nil
}

// Delete removes one file.
func (d *Drive) Delete(ctx context.Context, org, bot, p string) error {
	if _, err := d.Stat(ctx, org, bot, p); err != nil {
		return err
	}
	s, key := d.key(org, bot, p)
	if err := s.Delete(ctx, key); err != nil {
		return err
	}
	_, err := d.commitDelete(ctx, org, bot, p)
	return err
}

// DeleteTree removes every file under folder ("docs" or "docs/") and
// returns how many.
func (d *Drive) DeleteTree(ctx context.Context, org, bot, folder string) (int, error) {
	if err := drivepath.Bot(bot); err != nil {
		return 0, invalid(err)
	}
	prefix, err := drivepath.Folder(folder)
	if err != nil {
		return 0, invalid(err)
	}
	n, token := 0, ""
	for {
		// Page on: a file re-created behind the delete is not retried forever.
		files, next, err := d.List(ctx, org, bot, prefix, 1000, token)
		if err != nil {
			return n, err
		}
		for _, f := range files {
			if err := d.Delete(ctx, org, bot, f.Path); err != nil && !errors.Is(err, ErrNotFound) {
				return n, err
			}
			n++
		}
		if next == "" {
			break
		}
		token = next
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: %s has no files under %s", ErrNotFound, bot, prefix)
	}
	return n, nil
}

// Copy copies a file to another path, possibly of another bot of the org.
func (d *Drive) Copy(ctx context.Context, org, bot, p, toBot, toPath string) (FileInfo, error) {
	if toBot == "" {
		toBot = bot
	}
	if err := check(toBot, toPath); err != nil {
		return FileInfo{}, err
	}
	src, err := d.Stat(ctx, org, bot, p)
	if err != nil {
		return FileInfo{}, err
	}
	if bot == toBot && p == toPath {
		return FileInfo{}, invalid(errors.New("source and target are the same file"))
	}
	room, err := d.room(ctx, org, toBot, toPath)
	if err != nil {
		return FileInfo{}, err
	}
	if room >= 0 && src.Size > room {
		return FileInfo{}, fmt.Errorf("%w: the copy needs %d bytes; the organisation has %d left", ErrQuota, src.Size, room)
	}
	s, from := d.key(org, bot, p)
	_, to := d.key(org, toBot, toPath)
	obj, err := s.Copy(ctx, from, to)
	if errors.Is(err, storage.ErrNotFound) {
		return FileInfo{}, fmt.Errorf("%w: %s has no file %s", ErrNotFound, bot, p)
	}
	if err != nil {
		return FileInfo{}, err
	}
	f := FileInfo{Bot: toBot, Path: toPath, Size: obj.Size, Hash: src.Hash, ContentType: src.ContentType, ModifiedAt: time.Now(), etag: obj.ETag}
	if obj.Size != src.Size {
		// The source changed behind the metadata: hash what was copied.
		if f, err = d.hashObject(ctx, org, toBot, toPath, obj); err != nil {
			return FileInfo{}, err
		}
	}
	f, _, err = d.commitPut(ctx, org, f, true)
	return f, err
}

// Move renames a file: a copy, then the source's deletion.
func (d *Drive) Move(ctx context.Context, org, bot, p, toBot, toPath string) (FileInfo, error) {
	f, err := d.Copy(ctx, org, bot, p, toBot, toPath)
	if err != nil {
		return FileInfo{}, err
	}
	if err := d.Delete(ctx, org, bot, p); err != nil && !errors.Is(err, ErrNotFound) {
		return FileInfo{}, err
	}
	return f, nil
}

// hashObject reads an object to learn its hash and content type.
func (d *Drive) hashObject(ctx context.Context, org, bot, p string, obj storage.Object) (FileInfo, error) {
	s, key := d.key(org, bot, p)
	started := time.Now()
	r, got, err := s.Get(ctx, key, nil)
	if err != nil {
		return FileInfo{}, err
	}
	defer r.Close()
	h := sha256.New()
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return FileInfo{}, err
	}
	h.Write(head[:n])
	rest, err := io.Copy(h, r)
	if err != nil {
		return FileInfo{}, err
	}
	mod := obj.ModTime
	if mod.IsZero() {
		mod = time.Now()
	}
	return FileInfo{Bot: bot, Path: p, Size: int64(n) + rest, Hash: hex.EncodeToString(h.Sum(nil)),
		ContentType: contentType(p, head[:n], obj.ContentType), ModifiedAt: mod, etag: got.ETag, verifiedAt: started}, nil
}

// Usage is an org's storage use.
type Usage struct {
	Bytes, Files, Quota int64 // Quota 0: unlimited
}

// Usage reports the org's use and quota.
func (d *Drive) Usage(ctx context.Context, org string) (Usage, error) {
	var u Usage
	err := pg.InOrg(ctx, d.pool, org, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT coalesce((SELECT bytes FROM drive.usage), 0), coalesce((SELECT files FROM drive.usage), 0),
			coalesce((SELECT quota_bytes FROM drive.quotas), $1)`, d.defaultQuota).Scan(&u.Bytes, &u.Files, &u.Quota)
	})
	return u, err
}

// SetQuota sets the org's quota in bytes (0: unlimited; -1: the default)
// and returns the quota now in force.
func (d *Drive) SetQuota(ctx context.Context, org string, quota int64) (int64, error) {
	if quota < -1 {
		return 0, invalid(errors.New("quota_bytes must be >= 0, or -1 for the platform default"))
	}
	err := pg.InOrg(ctx, d.pool, org, func(tx pgx.Tx) error {
		if quota == -1 {
			_, err := tx.Exec(ctx, `DELETE FROM drive.quotas`)
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO drive.quotas (org_id, quota_bytes) VALUES ($1, $2)
			ON CONFLICT (org_id) DO UPDATE SET quota_bytes = EXCLUDED.quota_bytes, updated_at = now()`, org, quota)
		return err
	})
	if err != nil {
		return 0, err
	}
	if quota == -1 {
		return d.defaultQuota, nil
	}
	return quota, nil
}

// CheckName validates a bot name and a file path.
func (d *Drive) CheckName(bot, p string) error { return check(bot, p) }

// Key returns a file's key in storage, and whether it is in the main store
// (false: in BotsDir).
func (d *Drive) Key(org, bot, p string) (string, bool) {
	s, k := d.key(org, bot, p)
	return k, s == d.store
}

// Direct transfers: botdrive's gateway moves a file's bytes to or from the
// main store itself (presigned S3 URLs that never leave it), while the
// checks and the record stay here. BotsDir files always go through Put and
// Open.

// Locate returns a file's metadata, the ETag of the object it was
// recorded from, and its key in the main store; inMain is false for a file
// kept in BotsDir, whose bytes only Open serves. Nothing is asked of the
// store: a reader that sends If-Match with the ETag gets exactly the bytes
// described, or a refusal when the object changed behind the metadata.
func (d *Drive) Locate(ctx context.Context, org, bot, p string) (f FileInfo, etag, key string, inMain bool, err error) {
	if f, err = d.Stat(ctx, org, bot, p); err != nil {
		return FileInfo{}, "", "", false, err
	}
	s, key := d.key(org, bot, p)
	return f, f.etag, key, s == d.store, nil
}

// PrepareUpload makes the checks Put makes before reading a body of
// exactly size bytes (name, size limit, quota) and returns the content
// type the file will have, from its first bytes (head) and the declared one.
func (d *Drive) PrepareUpload(ctx context.Context, org, bot, p string, size int64, head []byte, declared string) (string, error) {
	if err := check(bot, p); err != nil {
		return "", err
	}
	if size <= 0 || int64(len(head)) > size || len(head) > sniffLen {
		return "", invalid(fmt.Errorf("a direct upload needs its exact size (> 0) and at most %d first bytes", sniffLen))
	}
	if size > d.maxFile {
		return "", fmt.Errorf("%w: %d bytes; the limit is %d", ErrTooLarge, size, d.maxFile)
	}
	room, err := d.room(ctx, org, bot, p)
	if err != nil {
		return "", err
	}
	if room >= 0 && size > room {
		return "", fmt.Errorf("%w: the file needs %d bytes; the organisation has %d left", ErrQuota, size, room)
	}
	return contentType(p, head, declared), nil
}

// CommitUpload records a file whose bytes were stored directly in the main
// store under its key: the object must have the size the upload was
// prepared for, and hash is the sha256 of the bytes sent, computed by the
// sender as they passed. etag is the one the store answered the write with:
// if the object was replaced since, its writer records it and this commit
// records nothing (as with Put). began is when the upload was prepared.
func (d *Drive) CommitUpload(ctx context.Context, org, bot, p string, size int64, hash, ct, etag string, began time.Time) (FileInfo, bool, error) {
	if err := check(bot, p); err != nil {
		return FileInfo{}, false, err
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size {
		return FileInfo{}, false, invalid(errors.New("hash must be a hex sha256"))
	}
	s, key := d.key(org, bot, p)
	if s != d.store {
		return FileInfo{}, false, invalid(errors.New("this file takes no direct upload"))
	}
	etag = strings.Trim(etag, `"`)
	obj, err := s.Stat(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return FileInfo{}, false, invalid(fmt.Errorf("nothing was stored at %s", p))
	case err != nil:
		return FileInfo{}, false, err
	case obj.ETag == etag && obj.Size != size:
		return FileInfo{}, false, invalid(fmt.Errorf("the stored object has %d bytes; the upload declared %d", obj.Size, size))
	}
	f := FileInfo{Bot: bot, Path: p, Size: size, Hash: hash, ContentType: ct, ModifiedAt: time.Now(), etag: etag, verifiedAt: began}
	return d.commitPut(ctx, org, f, true)
}
