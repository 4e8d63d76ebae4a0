package botchat_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Two replicas, 1,000 messages to 50 conversations: each client sends its
// messages one after another to a random replica (and sometimes retries one
// on the other), conversations interleave at random. Every conversation's
// turns run one at a time in the order sent, none lost, none twice.
func TestOrderAcrossReplicas(t *testing.T) {
	e := newEnv(t, 2)
	org := uuid.NewString()
	ctx := e.ctx(e.iss.User(org, "chat:use"))
	const convs, perConv = 50, 20
	ids := make([]string, convs)
	for i := range ids {
		ids[i] = e.open(ctx, "order").Id
	}
	var wg sync.WaitGroup
	errs := make(chan error, convs)
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for j := 1; j <= perConv; j++ {
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
				in := &chatv1.Inbound{ConversationId: id, Content: fmt.Sprintf("m%02d", j), ClientId: fmt.Sprintf("%d-%d", i, j)}
				first := r.IntN(2)
				if _, err := e.chats[first].Post(ctx, &chatv1.PostRequest{Message: in}); err != nil {
					errs <- err
					return
				}
				if r.IntN(10) == 0 { // a client retry on the other replica
					resp, err := e.chats[1-first].Post(ctx, &chatv1.PostRequest{Message: in})
					if err != nil || !resp.Duplicate {
						errs <- fmt.Errorf("retry: %v %v", resp, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitCalls(t, e, convs*perConv)

	e.f.mu.Lock()
	if e.f.staleKnown != 0 {
		t.Errorf("%d turns passed botauto a known_turn other than the conversation's last TurnEnd.turn", e.f.staleKnown)
	}
	if e.f.overlap != 0 {
		t.Errorf("%d times two turns of one conversation ran at once", e.f.overlap)
	}
	for _, id := range ids {
		got := e.f.inputs[org+"/"+id]
		if len(got) != perConv {
			t.Errorf("%s: %d turns, want %d: %v", id, len(got), perConv, got)
			continue
		}
		for j, in := range got {
			if in != fmt.Sprintf("m%02d", j+1) {
				t.Errorf("%s: turn %d ran %q: %v", id, j+1, in, got)
				break
			}
		}
	}
	e.f.mu.Unlock()

	// Stored: every message once, each answer after its question.
	for _, id := range ids[:5] {
		h, err := e.chats[1].History(ctx, &chatv1.HistoryRequest{ConversationId: id, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Messages) != 2*perConv {
			t.Fatalf("%s: %d stored messages", id, len(h.Messages))
		}
		seqOf := map[string]int64{}
		var lastAnswered int64
		for _, m := range h.Messages {
			switch m.Role {
			case "user":
				seqOf[m.Id] = m.Seq
				if m.Status != "done" {
					t.Fatalf("%s: %s still %s", id, m.Content, m.Status)
				}
			case "bot":
				q, ok := seqOf[m.ReplyTo]
				if !ok || q < lastAnswered {
					t.Fatalf("%s: answer %q out of order", id, m.Content)
				}
				lastAnswered = q
			}
		}
	}
}

func waitCalls(t *testing.T, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e.f.mu.Lock()
		calls := e.f.calls
		e.f.mu.Unlock()
		if calls >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d turns ran", calls, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // nothing more may run
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if e.f.calls != n {
		t.Fatalf("%d turns ran, want %d", e.f.calls, n)
	}
}

// A message left pending under the lease of a replica that died is run by
// another one once the lease expires: by the sweeper, or, when the lease
// has expired by the time a new message comes, by the replica that accepts
// it, oldest first.
func TestStrandedConversationIsTakenOver(t *testing.T) {
	for _, tc := range []struct {
		name    string
		expires string
	}{{"by the sweeper", "1 second"}, {"by the next message", "-1 second"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			org := uuid.NewString()
			ctx := e.ctx(e.iss.User(org, "chat:use"))
			c := e.open(ctx, "order")
			conn, err := pgx.Connect(context.Background(), e.dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			// A dead replica's lease with a message it took.
			if _, err := conn.Exec(context.Background(), `UPDATE chat.conversations SET lease_token = $2, lease_until = now() + $3::interval, next_seq = 1 WHERE id = $1`,
				c.Id, uuid.NewString(), tc.expires); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(context.Background(), `INSERT INTO chat.messages (org_id, conversation_id, seq, position, id, role, message_type, content, status)
				VALUES ($1, $2, 1, 1000, $3, 'user', 1, 'orphan', 'pending')`, org, c.Id, uuid.NewString()); err != nil {
				t.Fatal(err)
			}
			// A new message waits behind it, then both run in order.
			if _, err := e.chats[0].Post(ctx, &chatv1.PostRequest{Message: &chatv1.Inbound{ConversationId: c.Id, Content: "next"}}); err != nil {
				t.Fatal(err)
			}
			if tc.expires == "1 second" {
				time.Sleep(300 * time.Millisecond)
				e.f.mu.Lock()
				early := e.f.calls
				e.f.mu.Unlock()
				if early != 0 {
					t.Fatalf("ran %d turns while another replica held the lease", early)
				}
			}
			waitCalls(t, e, 2)
			e.f.mu.Lock()
			defer e.f.mu.Unlock()
			if got := e.f.inputs[org+"/"+c.Id]; len(got) != 2 || got[0] != "orphan" || got[1] != "next" {
				t.Fatalf("turns %v", got)
			}
		})
	}
}
