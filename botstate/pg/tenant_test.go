package pg_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

const notesSQL = `
CREATE TABLE notes (id serial PRIMARY KEY, org_id uuid NOT NULL, body text NOT NULL);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON notes
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);`

// The test connects as a superuser, which bypasses RLS: InOrg must still
// confine every statement to the org.
func TestInOrgConfinesQueriesWithoutWhere(t *testing.T) {
	ctx := context.Background()
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "notes", FS: fstest.MapFS{
		"2_notes.up.sql": {Data: []byte(notesSQL)},
	}}); err != nil {
		t.Fatal(err)
	}
	a, b := uuid.NewString(), uuid.NewString()
	for _, org := range []string{a, b} {
		err := pg.InOrg(ctx, pool, org, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes.notes (org_id, body) VALUES ($1, 'x'), ($1, 'y')`, org)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	err := pg.InOrg(ctx, pool, a, func(tx pgx.Tx) error {
		// No WHERE: RLS alone keeps b's rows out.
		return tx.QueryRow(ctx, `SELECT count(*) FROM notes.notes`).Scan(&n)
	})
	if err != nil || n != 2 {
		t.Fatalf("org a sees %d rows (%v), want 2", n, err)
	}
	// Writing another org's row is refused, not silently done.
	err = pg.InOrg(ctx, pool, a, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO notes.notes (org_id, body) VALUES ($1, 'z')`, b)
		return err
	})
	if err == nil {
		t.Fatal("insert for another org succeeded")
	}
	// Updates without WHERE touch only the caller's rows.
	var tag int64
	_ = pg.InOrg(ctx, pool, a, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, `UPDATE notes.notes SET body = 'changed'`)
		tag = ct.RowsAffected()
		return err
	})
	if tag != 2 {
		t.Fatalf("update touched %d rows, want 2", tag)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM notes.notes WHERE body = 'changed'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d rows changed overall, want 2", n)
	}
	// The one-round-trip form is scoped the same way and leaves no scope
	// behind on its connection (a pool of one, so the next query reuses it).
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	one, err := pg.Open(ctx, url+sep+"pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	err = pg.InOrgBatch(ctx, one, b, func(q *pgx.Batch) {
		q.Queue(`SELECT count(*) FROM notes.notes`)
		q.Queue(`UPDATE notes.notes SET body = 'batch'`)
	}, func(r pgx.BatchResults) error {
		if err := r.QueryRow().Scan(&n); err != nil {
			return err
		}
		_, err := r.Exec()
		return err
	})
	if err != nil || n != 2 {
		t.Fatalf("batch: org b sees %d rows (%v), want 2", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM notes.notes WHERE body = 'batch'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("batch update touched %d rows, want 2", n)
	}
	var role string
	if err := one.QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil || role == pg.TenantRole {
		t.Fatalf("the pooled connection kept the tenant role: %q %v", role, err)
	}
	// The single-statement helpers are scoped the same way.
	if tag, err := pg.ExecInOrg(ctx, one, a, `UPDATE notes.notes SET body = 'one'`); err != nil || tag.RowsAffected() != 2 {
		t.Fatalf("ExecInOrg touched %d rows (%v), want org a's 2", tag.RowsAffected(), err)
	}
	var body string
	err = pg.QueryRowInOrg(ctx, one, b, func(r pgx.Row) error { return r.Scan(&body) }, `SELECT body FROM notes.notes WHERE body = 'one'`)
	if !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("QueryRowInOrg saw org a's row from org b: %q %v", body, err)
	}
	if err := pg.QueryRowInOrg(ctx, one, a, func(r pgx.Row) error { return r.Scan(&n) }, `SELECT count(*) FROM notes.notes`); err != nil || n != 2 {
		t.Fatalf("QueryRowInOrg: org a sees %d rows (%v), want 2", n, err)
	}
	if err := pg.InOrg(ctx, pool, "not-a-uuid", func(pgx.Tx) error { return nil }); !errors.Is(err, pg.ErrNoOrg) {
		t.Fatalf("bad org: %v", err)
	}
	if _, err := pg.ExecInOrg(ctx, pool, "", `SELECT 1`); !errors.Is(err, pg.ErrNoOrg) {
		t.Fatalf("ExecInOrg without an org: %v", err)
	}
	// Migrating again (a restart) keeps the grants working.
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "notes", FS: fstest.MapFS{
		"2_notes.up.sql": {Data: []byte(notesSQL)},
	}}); err != nil {
		t.Fatal(err)
	}
}
