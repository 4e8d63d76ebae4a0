package channels

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

func newOutbox(t *testing.T) (*store.Store, *Outbox) {
	t.Helper()
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(context.Background(), url, pg.Schema{Name: store.Schema, FS: os.DirFS("../migrations")}); err != nil {
		t.Fatal(err)
	}
	return store.New(pool), NewOutbox(pool)
}

// Storing a message queues each bot message of a channel conversation once; the
// claim hands a conversation's messages out one at a time, in order, to
// competing workers, and never the same row twice.
func TestOutboxQueuesAndClaimsInOrderOnce(t *testing.T) {
	ctx := context.Background()
	st, ob := newOutbox(t)
	org := authz.DefaultOrgID
	open := func(channel, addr string) *store.Conversation {
		c, _, err := st.Open(ctx, org, &store.Conversation{ID: uuid.NewString(), Bot: "b", UserID: addr, UserKind: channel, Channel: channel, ChannelAddress: addr})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	wa, web := open(WhatsApp, "351"), open("web", "")
	const n = 30
	for i := range n {
		for _, c := range []*store.Conversation{wa, web} {
			if err := st.AddMessage(ctx, org, &store.Message{ConversationID: c.ID, Role: store.RoleBot, Type: 2, Content: "m" + string(rune('A'+i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Neither an empty message nor a user's is queued.
	_ = st.AddMessage(ctx, org, &store.Message{ConversationID: wa.ID, Role: store.RoleBot, Type: 2, Content: ""})
	_ = st.AddMessage(ctx, org, &store.Message{ConversationID: wa.ID, Role: store.RoleUser, Type: 1, Content: "hi"})
	rows, err := ob.List(ctx, org, wa.ID)
	if err != nil || len(rows) != n {
		t.Fatalf("queued %d rows (%v), want %d", len(rows), err, n)
	}
	if webRows, _ := ob.List(ctx, org, web.ID); len(webRows) != 0 {
		t.Fatalf("a web conversation was queued: %d", len(webRows))
	}

	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				token := uuid.NewString()
				got, err := ob.Claim(ctx, token, time.Minute, 10)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) > 1 {
					t.Errorf("one conversation gave %d rows to one claim", len(got))
				}
				for _, r := range got {
					mu.Lock()
					order = append(order, r.Content)
					mu.Unlock()
					if err := ob.Sent(ctx, r, token); err != nil {
						t.Error(err)
					}
				}
				mu.Lock()
				done := len(order) >= n
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(order) != n {
		t.Fatalf("claimed %d rows, want %d", len(order), n)
	}
	for i, c := range order {
		if c != "m"+string(rune('A'+i)) {
			t.Fatalf("claim %d was %s: out of order or twice (%v)", i, c, order)
		}
	}
}

// Reserve spaces a bot's sends by the interval and refuses slots further
// away than maxWait.
func TestOutboxReserveSpacesSends(t *testing.T) {
	ctx := context.Background()
	_, ob := newOutbox(t)
	org := authz.DefaultOrgID
	var slots []time.Time
	for range 3 {
		slot, ok, _, err := ob.Reserve(ctx, org, "b", WhatsApp, 100*time.Millisecond, 250*time.Millisecond)
		if err != nil || !ok {
			t.Fatalf("reserve: %v %v", ok, err)
		}
		slots = append(slots, slot)
	}
	for i := 1; i < 3; i++ {
		if d := slots[i].Sub(slots[i-1]); d < 95*time.Millisecond || d > 150*time.Millisecond {
			t.Fatalf("slots %d apart", d)
		}
	}
	_, ok, free, err := ob.Reserve(ctx, org, "b", WhatsApp, 100*time.Millisecond, 250*time.Millisecond)
	if err != nil || ok || free.Before(slots[2].Add(90*time.Millisecond)) {
		t.Fatalf("a slot beyond maxWait: ok %v free %v err %v", ok, free, err)
	}
	// Another bot has its own rate.
	if _, ok, _, err := ob.Reserve(ctx, org, "other", WhatsApp, 100*time.Millisecond, 250*time.Millisecond); err != nil || !ok {
		t.Fatalf("other bot: %v %v", ok, err)
	}
}
