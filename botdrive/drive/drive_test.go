package drive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botdrive/drive"
	"github.com/botserver-go/botserver-go/botdrive/migrations"
	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botdrive/storage/local"
	"github.com/botserver-go/botserver-go/botdrive/storage/s3store/s3test"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

const (
	orgA = "0195f1c2-0000-7000-8000-00000000000a"
	orgB = "0195f1c2-0000-7000-8000-00000000000b"
)

type env struct {
	d     *drive.Drive
	pool  *pgxpool.Pool
	store storage.Store
	seen  int // outbox rows already returned by newEvents
}

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(context.Background(), url, pg.Schema{Name: drive.Schema, FS: migrations.FS}); err != nil {
		t.Fatal(err)
	}
	return pool
}

func newEnv(t *testing.T, store storage.Store, mod func(*drive.Options)) *env {
	t.Helper()
	pool := newPool(t)
	o := drive.Options{Pool: pool, Store: store}
	if mod != nil {
		mod(&o)
	}
	d, err := drive.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{d: d, pool: pool, store: store}
}

func localStore(t *testing.T) *local.Store {
	s, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backends runs f against local disk and a real S3 server.
func backends(t *testing.T, f func(t *testing.T, s storage.Store)) {
	t.Run("local", func(t *testing.T) { f(t, localStore(t)) })
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t)
		f(t, srv.Open(t, s3test.Bucket(t), nil))
	})
}

type event struct {
	subject string
	changed *drivev1.FileChanged
	deleted *drivev1.FileDeleted
}

func (e event) String() string {
	if e.changed != nil {
		return "changed " + e.changed.Bot + "/" + e.changed.Path
	}
	return "deleted " + e.deleted.Bot + "/" + e.deleted.Path
}

// newEvents returns the outbox rows written since the last call.
func (e *env) newEvents(t *testing.T) []event {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT subject, payload FROM drive.outbox ORDER BY id OFFSET $1`, e.seen)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var ev event
		var payload []byte
		if err := rows.Scan(&ev.subject, &payload); err != nil {
			t.Fatal(err)
		}
		switch ev.subject {
		case drive.SubjectChanged:
			ev.changed = &drivev1.FileChanged{}
			if err := proto.Unmarshal(payload, ev.changed); err != nil {
				t.Fatal(err)
			}
		case drive.SubjectDeleted:
			ev.deleted = &drivev1.FileDeleted{}
			if err := proto.Unmarshal(payload, ev.deleted); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected subject %s", ev.subject)
		}
		out = append(out, ev)
	}
	e.seen += len(out)
	return out
}

func (e *env) expectEvents(t *testing.T, want ...string) []event {
	t.Helper()
	got := e.newEvents(t)
	var names []string
	for _, ev := range got {
		names = append(names, ev.String())
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("events:\n got %q\nwant %q", names, want)
	}
	return got
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func put(t *testing.T, e *env, org, bot, p, content string) (drive.FileInfo, bool) {
	t.Helper()
	f, changed, err := e.d.Put(context.Background(), org, bot, p, strings.NewReader(content), drive.PutOptions{Size: int64(len(content))})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bot, p, err)
	}
	return f, changed
}

func read(t *testing.T, e *env, org, bot, p string) string {
	t.Helper()
	r, _, err := e.d.Open(context.Background(), org, bot, p, nil)
	if err != nil {
		t.Fatalf("open %s/%s: %v", bot, p, err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

func TestPutEmitsOnlyOnChange(t *testing.T) {
	backends(t, func(t *testing.T, s storage.Store) {
		e := newEnv(t, s, nil)
		f, changed := put(t, e, orgA, "mybot", "mybot.gbdialog/start.bas", "TALK \"hi\"")
		if !changed || f.Hash != sha("TALK \"hi\"") || f.Size != 9 || !strings.HasPrefix(f.ContentType, "text/plain") {
			t.Fatalf("first put: %+v changed=%v", f, changed)
		}
		evs := e.expectEvents(t, "changed mybot/mybot.gbdialog/start.bas")
		c := evs[0].changed
		if c.OrgId != orgA || c.Hash != f.Hash || c.Size != 9 || c.ContentType != f.ContentType || c.ModifiedAt == nil {
			t.Fatalf("event payload: %+v", c)
		}
		// The same bytes again: nothing to tell anyone.
		if _, changed := put(t, e, orgA, "mybot", "mybot.gbdialog/start.bas", "TALK \"hi\""); changed {
			t.Fatal("identical re-upload reported a change")
		}
		e.expectEvents(t)
		put(t, e, orgA, "mybot", "mybot.gbdialog/start.bas", "TALK \"hello\"")
		evs = e.expectEvents(t, "changed mybot/mybot.gbdialog/start.bas")
		if evs[0].changed.Hash != sha("TALK \"hello\"") {
			t.Fatal("event carries the old hash")
		}
		if got := read(t, e, orgA, "mybot", "mybot.gbdialog/start.bas"); got != "TALK \"hello\"" {
			t.Fatalf("read back %q", got)
		}
	})
}

func TestTenantsAreIsolated(t *testing.T) {
	e := newEnv(t, localStore(t), nil)
	ctx := context.Background()
	put(t, e, orgA, "mybot", "a.txt", "org A's")
	put(t, e, orgB, "mybot", "a.txt", "org B's")
	if got := read(t, e, orgB, "mybot", "a.txt"); got != "org B's" {
		t.Fatalf("org B reads %q", got)
	}
	put(t, e, orgA, "mybot", "only-a.txt", "x")
	if _, err := e.d.Stat(ctx, orgB, "mybot", "only-a.txt"); !errors.Is(err, drive.ErrNotFound) {
		t.Fatalf("org B stats org A's file: %v", err)
	}
	if err := e.d.Delete(ctx, orgB, "mybot", "only-a.txt"); !errors.Is(err, drive.ErrNotFound) {
		t.Fatalf("org B deletes org A's file: %v", err)
	}
	files, _, err := e.d.List(ctx, orgB, "mybot", "", 100, "")
	if err != nil || len(files) != 1 || files[0].Path != "a.txt" {
		t.Fatalf("org B lists %+v %v", files, err)
	}
	if _, _, err := e.d.List(ctx, "not-a-uuid", "mybot", "", 10, ""); !errors.Is(err, pg.ErrNoOrg) {
		t.Fatalf("no org: %v", err)
	}
}

func TestListPages(t *testing.T) {
	e := newEnv(t, localStore(t), nil)
	ctx := context.Background()
	paths := []string{"b.gbkb/docs/a.pdf", "b.gbkb/docs/b.pdf", "b.gbkb/docs/sub/c.pdf", "b.gbkb/other/x.md", "b.gbdialog/start.bas", "b.gbkb/docs-old/z.txt"}
	for _, p := range paths {
		put(t, e, orgA, "b", p, p)
	}
	var got []string
	token := ""
	for i := 0; ; i++ {
		files, next, err := e.d.List(ctx, orgA, "b", "b.gbkb/docs/", 2, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			got = append(got, f.Path)
		}
		if next == "" {
			break
		}
		token = next
		if i > 5 {
			t.Fatal("no end")
		}
	}
	if want := []string{"b.gbkb/docs/a.pdf", "b.gbkb/docs/b.pdf", "b.gbkb/docs/sub/c.pdf"}; !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	if _, _, err := e.d.List(ctx, orgA, "b", "b.gbkb/other/", 2, token); !errors.Is(err, drive.ErrInvalid) {
		t.Fatalf("a token from another prefix: %v", err)
	}
	if _, _, err := e.d.List(ctx, orgA, "b", "../", 2, ""); !errors.Is(err, drive.ErrInvalid) {
		t.Fatalf("bad prefix: %v", err)
	}
}

func TestDeleteCopyMove(t *testing.T) {
	backends(t, func(t *testing.T, s storage.Store) {
		e := newEnv(t, s, nil)
		ctx := context.Background()
		put(t, e, orgA, "b", "docs/a.txt", "A")
		put(t, e, orgA, "b", "docs/sub/b.txt", "B")
		e.newEvents(t)
		f, err := e.d.Copy(ctx, orgA, "b", "docs/a.txt", "other", "copied/a.txt")
		if err != nil || f.Hash != sha("A") || f.Bot != "other" {
			t.Fatalf("copy: %+v %v", f, err)
		}
		e.expectEvents(t, "changed other/copied/a.txt")
		if _, err := e.d.Move(ctx, orgA, "b", "docs/sub/b.txt", "", "moved/b.txt"); err != nil {
			t.Fatal(err)
		}
		e.expectEvents(t, "changed b/moved/b.txt", "deleted b/docs/sub/b.txt")
		if got := read(t, e, orgA, "b", "moved/b.txt"); got != "B" {
			t.Fatalf("moved: %q", got)
		}
		if _, err := e.d.Stat(ctx, orgA, "b", "docs/sub/b.txt"); !errors.Is(err, drive.ErrNotFound) {
			t.Fatalf("move source still there: %v", err)
		}
		if _, err := e.d.Copy(ctx, orgA, "b", "docs/a.txt", "", "docs/a.txt"); !errors.Is(err, drive.ErrInvalid) {
			t.Fatalf("copy onto itself: %v", err)
		}
		if _, err := e.d.Copy(ctx, orgA, "b", "nope", "", "x"); !errors.Is(err, drive.ErrNotFound) {
			t.Fatalf("copy of a missing file: %v", err)
		}
		n, err := e.d.DeleteTree(ctx, orgA, "b", "docs")
		if err != nil || n != 1 {
			t.Fatalf("delete tree: %d %v", n, err)
		}
		evs := e.expectEvents(t, "deleted b/docs/a.txt")
		if evs[0].deleted.Hash != sha("A") || evs[0].deleted.OrgId != orgA {
			t.Fatalf("deleted payload %+v", evs[0].deleted)
		}
		if err := e.d.Delete(ctx, orgA, "b", "docs/a.txt"); !errors.Is(err, drive.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := e.d.DeleteTree(ctx, orgA, "b", "docs"); !errors.Is(err, drive.ErrNotFound) {
			t.Fatalf("delete of an empty folder: %v", err)
		}
		page, _ := s.List(ctx, orgA+"/b.gbai/docs/", "", 10)
		if len(page.Objects) != 0 {
			t.Fatalf("storage still has %+v", page.Objects)
		}
	})
}

func TestLimitsLeaveNothingBehind(t *testing.T) {
	backends(t, func(t *testing.T, s storage.Store) {
		e := newEnv(t, s, func(o *drive.Options) { o.MaxFileBytes = 1000; o.DefaultQuota = 1500 })
		ctx := context.Background()
		put(t, e, orgA, "b", "keep.txt", strings.Repeat("k", 800))
		e.newEvents(t)
		try := func(p string, r io.Reader, size int64, want error) {
			t.Helper()
			_, _, err := e.d.Put(ctx, orgA, "b", p, r, drive.PutOptions{Size: size})
			if !errors.Is(err, want) {
				t.Fatalf("put %s: %v, want %v", p, err, want)
			}
		}
		try("big.bin", bytes.NewReader(make([]byte, 1001)), -1, drive.ErrTooLarge)     // streamed past the limit
		try("big.bin", bytes.NewReader(make([]byte, 10)), 5000, drive.ErrTooLarge)     // declared too large
		try("over.bin", bytes.NewReader(make([]byte, 900)), -1, drive.ErrQuota)        // 800 + 900 > 1500
		try("over.bin", bytes.NewReader(make([]byte, 900)), 900, drive.ErrQuota)       // refused up front
		try("short.bin", bytes.NewReader(make([]byte, 10)), 20, drive.ErrInvalid)      // fewer bytes than declared
		try("keep.txt", bytes.NewReader(make([]byte, 10)), 20, drive.ErrInvalid)       // ... over an existing file
		try("../x", strings.NewReader("x"), -1, drive.ErrInvalid)                      // path traversal
		try("a/.hidden", strings.NewReader("x"), -1, drive.ErrInvalid)                 // hidden
		if got := read(t, e, orgA, "b", "keep.txt"); got != strings.Repeat("k", 800) { // untouched
			t.Fatalf("keep.txt is now %d bytes", len(got))
		}
		// Replacing a file may use its own space: 900 fits in place of 800.
		put(t, e, orgA, "b", "keep.txt", strings.Repeat("n", 900))
		u, err := e.d.Usage(ctx, orgA)
		if err != nil || u.Bytes != 900 || u.Files != 1 || u.Quota != 1500 {
			t.Fatalf("usage %+v %v", u, err)
		}
		page, _ := s.List(ctx, "", "", 100)
		if len(page.Objects) != 1 {
			t.Fatalf("refused uploads left objects: %+v", page.Objects)
		}
		e.expectEvents(t, "changed b/keep.txt")
		if q, err := e.d.SetQuota(ctx, orgA, 0); err != nil || q != 0 {
			t.Fatal(q, err)
		}
		put(t, e, orgA, "b", "over.bin", strings.Repeat("o", 900)) // unlimited now
		if q, _ := e.d.SetQuota(ctx, orgA, -1); q != 1500 {
			t.Fatalf("back to default: %d", q)
		}
	})
}

// Changes made behind the service's back (another tool writing to the
// bucket or to $BOTS_DIR, while it ran or while it was down) come out of a
// reconcile as the same events as API changes, once, and unchanged files
// produce nothing.
func TestReconcileMainStore(t *testing.T) {
	backends(t, func(t *testing.T, s storage.Store) {
		e := newEnv(t, s, nil)
		ctx := context.Background()
		put(t, e, orgA, "b", "api.txt", "via the API")
		e.newEvents(t)
		if st, err := e.d.Reconcile(ctx); err != nil || st.Changed+st.Deleted != 0 {
			t.Fatalf("first reconcile after API writes: %+v %v", st, err)
		}
		e.expectEvents(t)
		other := func(key, content string) {
			if _, err := s.Put(ctx, key, strings.NewReader(content), storage.PutOptions{Size: -1}); err != nil {
				t.Fatal(err)
			}
		}
		other(orgA+"/b.gbai/b.gbkb/docs/new.md", "# new")
		other(orgB+"/z.gbai/z.gbdialog/start.bas", "TALK 1")
		other(orgA+"/b.gbai/api.txt", "changed by hand")
		other(orgA+"/not-a-package/x", "ignored")
		other("junk-at-root", "ignored")
		st, err := e.d.Reconcile(ctx)
		if err != nil || st.Changed != 3 {
			t.Fatalf("reconcile: %+v %v", st, err)
		}
		evs := e.expectEvents(t, "changed b/b.gbkb/docs/new.md", "changed z/z.gbdialog/start.bas", "changed b/api.txt")
		for _, ev := range evs {
			if ev.changed.Bot == "z" && (ev.changed.OrgId != orgB || ev.changed.Hash != sha("TALK 1")) {
				t.Fatalf("org B's event: %+v", ev.changed)
			}
		}
		if got := read(t, e, orgA, "b", "api.txt"); got != "changed by hand" {
			t.Fatal(got)
		}
		// Nothing changed: nothing said, whatever the number of runs.
		for range 2 {
			if _, err := e.d.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			e.expectEvents(t)
		}
		if err := s.Delete(ctx, orgB+"/z.gbai/z.gbdialog/start.bas"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.d.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		e.expectEvents(t, "deleted z/z.gbdialog/start.bas")
		if _, err := e.d.Stat(ctx, orgB, "z", "z.gbdialog/start.bas"); !errors.Is(err, drive.ErrNotFound) {
			t.Fatal("metadata of a deleted file remains")
		}
	})
}

func TestReconcileBotsDir(t *testing.T) {
	dir := t.TempDir()
	bots, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const def = "00000000-0000-4000-8000-000000000001"
	e := newEnv(t, localStore(t), func(o *drive.Options) { o.BotsDir = bots; o.DefaultOrg = def })
	ctx := context.Background()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Present before the service "starts".
	write("sample.gbai/sample.gbdialog/start.bas", "TALK \"hi\"")
	write("sample.gbai/sample.gbot/config.csv", "name,value\n")
	write("sample.gbai/.git/HEAD", "ignored")
	write("README.md", "not a package")
	if _, err := e.d.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	evs := e.expectEvents(t, "changed sample/sample.gbdialog/start.bas", "changed sample/sample.gbot/config.csv")
	if evs[0].changed.OrgId != def {
		t.Fatalf("BOTS_DIR files belong to the default org, got %s", evs[0].changed.OrgId)
	}
	// API uploads for the default org land in BOTS_DIR.
	put(t, e, def, "sample", "sample.gbkb/docs/a.md", "# doc")
	if b, err := os.ReadFile(filepath.Join(dir, "sample.gbai/sample.gbkb/docs/a.md")); err != nil || string(b) != "# doc" {
		t.Fatalf("API upload not in BOTS_DIR: %q %v", b, err)
	}
	e.expectEvents(t, "changed sample/sample.gbkb/docs/a.md")
	// A "restart": a new Drive on the same database and folder; nothing changed.
	d2, err := drive.New(drive.Options{Pool: e.pool, Store: e.store, BotsDir: bots, DefaultOrg: def})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	e.expectEvents(t)
	// Changed while down: same size, written twice within the timestamp
	// granularity — the racy-clean rule still catches it.
	write("sample.gbai/sample.gbdialog/start.bas", "TALK \"ho\"")
	if _, err := d2.ReconcileBot(ctx, def, "sample"); err != nil {
		t.Fatal(err)
	}
	e.expectEvents(t, "changed sample/sample.gbdialog/start.bas")
	write("sample.gbai/sample.gbdialog/start.bas", "TALK \"hu\"")
	if _, err := d2.ReconcileBot(ctx, def, "sample"); err != nil {
		t.Fatal(err)
	}
	e.expectEvents(t, "changed sample/sample.gbdialog/start.bas")
	os.Remove(filepath.Join(dir, "sample.gbai/sample.gbot/config.csv"))
	if _, err := d2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	e.expectEvents(t, "deleted sample/sample.gbot/config.csv")
	time.Sleep(10 * time.Millisecond)
}
