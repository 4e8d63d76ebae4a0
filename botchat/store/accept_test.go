package store_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// newStore is a Store on a fresh database with botchat's schema.
func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(context.Background(), url, pg.Schema{Name: store.Schema, FS: os.DirFS("../migrations")}); err != nil {
		t.Fatal(err)
	}
	return store.New(pool), pool
}

// openConv opens a web conversation.
func openConv(t *testing.T, st *store.Store) *store.Conversation {
	t.Helper()
	c, _, err := st.Open(context.Background(), authz.DefaultOrgID, &store.Conversation{ID: uuid.NewString(), Bot: "b", UserID: "u", UserKind: "visitor", Channel: "web"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Many copies of one message (one client_id) arriving at once are stored
// once: every other copy comes back as a duplicate naming the stored one,
// including those that waited for the conversation's lock while it was
// being stored.
func TestAcceptStoresConcurrentCopiesOnce(t *testing.T) {
	ctx := context.Background()
	st, pool := newStore(t)
	org := authz.DefaultOrgID
	for round := range 20 {
		c := openConv(t, st)
		const copies = 6
		var wg sync.WaitGroup
		got := make([]*store.Accepted, copies)
		errs := make([]error, copies)
		for i := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := &store.Message{Role: store.RoleUser, Type: 1, Content: "hello", ClientID: "c-1"}
				got[i], errs[i] = st.Accept(ctx, org, c.ID, store.Access{Any: true}, m, uuid.NewString(), time.Minute)
			}()
		}
		wg.Wait()
		stored := 0
		var id string
		var seq int64
		for i := range copies {
			if errs[i] != nil {
				t.Fatalf("round %d copy %d: %v", round, i, errs[i])
			}
			if !got[i].Duplicate {
				stored++
				id, seq = got[i].ID, got[i].Seq
			}
		}
		if stored != 1 {
			t.Fatalf("round %d: %d copies stored, want 1", round, stored)
		}
		for i, a := range got {
			if a.ID != id || a.Seq != seq {
				t.Fatalf("round %d copy %d names %s/%d, the stored one is %s/%d", round, i, a.ID, a.Seq, id, seq)
			}
		}
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM chat.messages WHERE conversation_id = $1`, c.ID).Scan(&n); err != nil || n != 1 {
			t.Fatalf("round %d: %d rows (%v)", round, n, err)
		}
	}
}

// A copy that waits for the conversation's lock while another transaction
// stores the same client_id sees, once it has the lock, a duplicate.
func TestAcceptAfterWaitingForADuplicate(t *testing.T) {
	ctx := context.Background()
	st, pool := newStore(t)
	org := authz.DefaultOrgID
	c := openConv(t, st)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	first := uuid.NewString()
	if _, err := tx.Exec(ctx, `UPDATE chat.conversations SET next_seq = 1, inbound_seq = 1 WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO chat.messages (org_id, conversation_id, seq, position, id, role, message_type, content, client_id, status)
		VALUES ($1, $2, 1, 1000, $3, 'user', 1, 'hello', 'c-1', 'pending')`, org, c.ID, first); err != nil {
		t.Fatal(err)
	}
	done := make(chan *store.Accepted, 1)
	go func() {
		a, err := st.Accept(ctx, org, c.ID, store.Access{Any: true}, &store.Message{Role: store.RoleUser, Type: 1, Content: "hello", ClientID: "c-1"}, uuid.NewString(), time.Minute)
		if err != nil {
			t.Error(err)
		}
		done <- a
	}()
	// Commit once the copy waits for the lock.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copy never waited for the conversation's lock")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a == nil || !a.Duplicate || a.ID != first || a.Seq != 1 {
		t.Fatalf("the copy got %+v, want a duplicate of %s", a, first)
	}
}
