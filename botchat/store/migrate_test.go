package store_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// migrationsUpTo is ../migrations without the files of versions above v.
func migrationsUpTo(t *testing.T, v int) fs.FS {
	t.Helper()
	dir := os.DirFS("../migrations")
	out := fstest.MapFS{}
	entries, err := fs.ReadDir(dir, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || n > v {
			continue
		}
		b, err := fs.ReadFile(dir, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = &fstest.MapFile{Data: b}
	}
	return out
}

// Migration 5 on a database the previous release wrote: inbound_seq is
// filled in, the value checks still hold, and the previous release's way of
// storing a channel message still queues it (its trigger stays for one
// release) while the new writers queue theirs once.
func TestMigration5KeepsThePreviousReleasesData(t *testing.T) {
	ctx := context.Background()
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: store.Schema, FS: migrationsUpTo(t, 4)}); err != nil {
		t.Fatal(err)
	}
	org := authz.DefaultOrgID
	web, wa := uuid.NewString(), uuid.NewString()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO chat.conversations (id, org_id, bot, user_id, user_kind, next_seq) VALUES ($1, $2, 'b', 'u', 'visitor', 4)`, web, org)
	exec(`INSERT INTO chat.conversations (id, org_id, bot, user_id, user_kind, channel, channel_address, next_seq) VALUES ($1, $2, 'b', '351', 'whatsapp', 'whatsapp', '351', 1)`, wa, org)
	for seq, role := range map[int]string{1: "system", 2: "bot", 3: "user", 4: "bot"} {
		status := "done"
		if seq == 3 {
			status = "pending"
		}
		exec(`INSERT INTO chat.messages (org_id, conversation_id, seq, position, id, role, message_type, content, status)
			VALUES ($1, $2, $3::bigint, $3::bigint * 1000, $4, $5, 1, 'x', $6)`, org, web, seq, uuid.NewString(), role, status)
	}

	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: store.Schema, FS: os.DirFS("../migrations")}); err != nil {
		t.Fatal(err)
	}
	var inbound, other int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT inbound_seq FROM chat.conversations WHERE id = $1), (SELECT inbound_seq FROM chat.conversations WHERE id = $2)`,
		web, wa).Scan(&inbound, &other); err != nil {
		t.Fatal(err)
	}
	if inbound != 3 || other != 0 {
		t.Fatalf("inbound_seq = %d and %d, want 3 (the newest user message) and 0", inbound, other)
	}
	// The domains check what the table checks did; clients still read text.
	_, err := pool.Exec(ctx, `INSERT INTO chat.messages (org_id, conversation_id, seq, position, id, role, message_type, content)
		VALUES ($1, $2, 9, 9000, $3, 'robot', 1, 'x')`, org, web, uuid.NewString())
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23514" {
		t.Fatalf("a role outside the domain: %v, want a check violation", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE chat.conversations SET handoff_state = 'lost' WHERE id = $1`, web); !errors.As(err, &pe) || pe.Code != "23514" {
		t.Fatalf("a hand-off state outside the domain: %v, want a check violation", err)
	}
	var role string
	if err := pool.QueryRow(ctx, `SELECT role FROM chat.messages WHERE conversation_id = $1 AND seq = 3`, web).Scan(&role); err != nil || role != "user" {
		t.Fatalf("role read back as %q (%v)", role, err)
	}

	// A previous-release writer: a plain insert, queued by the trigger.
	old := uuid.NewString()
	exec(`INSERT INTO chat.messages (org_id, conversation_id, seq, position, id, role, message_type, content)
		VALUES ($1, $2, 1, 1000, $3, 'bot', 2, 'from the previous release')`, org, wa, old)
	// A new one: queued by its own statement, once.
	st := store.New(pool)
	m := &store.Message{ConversationID: wa, Role: store.RoleHuman, Type: 2, Content: "from this release"}
	if err := st.AddMessage(authz.ForOrg(ctx, org), org, m); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT message_id::text, content FROM chat.channel_outbox WHERE conversation_id = $1 ORDER BY seq`, wa)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, content string
		if err := rows.Scan(&id, &content); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+" "+content)
	}
	if want := []string{old + " from the previous release", m.ID + " from this release"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("outbox %q, want %q", got, want)
	}
}
