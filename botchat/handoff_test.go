package botchat_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// bot → queued (TRANSFER TO HUMAN) → human (claimed) → bot (resolved), with
// an event per change, and no bot answer while a human owns the
// conversation.
func TestHandoffBotHumanBot(t *testing.T) {
	e := newEnv(t, 1)
	org := uuid.NewString()
	chat := e.chats[0]
	user := e.ctx(e.iss.User(org, "chat:use"))
	agentTok := e.iss.User(org, "chat:use", "chat:attend")
	agent := e.ctx(agentTok)
	c := e.open(user, "shop")
	e.send(user, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "hi"}) // greeting + menu

	// The user's watch sees the hand-off and the attendant's words.
	wctx, stop := context.WithCancel(user)
	defer stop()
	uw := watch(t, chat, wctx, &chatv1.WatchRequest{ConversationId: c.Id})
	frames := e.send(user, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "Human"})
	if got := text(frames); len(got) != 1 || got[0] != "Passing you to a person." || !strings.Contains(types(frames), "handoff") {
		t.Fatalf("transfer turn %q %s", got, types(frames))
	}
	recvUntil(t, uw, func(f *chatv1.Frame) bool { return f.Type == "handoff" && f.State == "queued" })

	// The queue lists it; only attendants may read the queue.
	q, err := chat.ListHandoffs(agent, &chatv1.ListHandoffsRequest{Queue: "sales"})
	if err != nil || len(q.Conversations) != 1 || q.Conversations[0].Id != c.Id || q.Conversations[0].HandoffState != chatv1.HandoffState_HANDOFF_STATE_QUEUED {
		t.Fatalf("queue %v %v", q, err)
	}
	if _, err := chat.ListHandoffs(user, &chatv1.ListHandoffsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("user listed the queue: %v", err)
	}
	callsBefore := e.f.calls
	// While queued the bot does not answer.
	frames = e.send(user, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "anyone there?"})
	if len(text(frames)) != 0 {
		t.Fatalf("the bot answered while queued: %q", text(frames))
	}

	cl, err := chat.ClaimHandoff(agent, &chatv1.ClaimHandoffRequest{ConversationId: c.Id})
	if err != nil || cl.Conversation.HandoffState != chatv1.HandoffState_HANDOFF_STATE_HUMAN || cl.Conversation.AgentId == "" {
		t.Fatalf("claim %v %v", cl, err)
	}
	if _, err := chat.ClaimHandoff(agent, &chatv1.ClaimHandoffRequest{ConversationId: c.Id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("claimed twice: %v", err)
	}
	other := e.ctx(e.iss.User(org, "chat:attend", "chat:use"))
	if _, err := chat.ReplyHandoff(other, &chatv1.ReplyHandoffRequest{ConversationId: c.Id, Content: "me too"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("another attendant replied: %v", err)
	}
	recvUntil(t, uw, func(f *chatv1.Frame) bool { return f.Type == "handoff" && f.State == "human" })

	// The attendant's watch sees the user's words; the user's sees the reply.
	actx, astop := context.WithCancel(agent)
	defer astop()
	aw := watch(t, chat, actx, &chatv1.WatchRequest{ConversationId: c.Id, IncludeUser: true})
	frames = e.send(user, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "I need a repair"})
	if len(text(frames)) != 0 {
		t.Fatalf("the bot answered while a human owns the conversation: %q", text(frames))
	}
	recvUntil(t, aw, func(f *chatv1.Frame) bool { return f.Role == "user" && f.Content == "I need a repair" })
	if _, err := chat.ReplyHandoff(agent, &chatv1.ReplyHandoffRequest{ConversationId: c.Id, Content: "Sure, bring it in."}); err != nil {
		t.Fatal(err)
	}
	recvUntil(t, uw, func(f *chatv1.Frame) bool { return f.Role == "human" && f.Content == "Sure, bring it in." })
	if e.f.calls != callsBefore || len(e.f.chats) != 0 {
		t.Fatalf("scripts or the model ran during the hand-off")
	}

	res, err := chat.ResolveHandoff(agent, &chatv1.ResolveHandoffRequest{ConversationId: c.Id, Note: "repair booked"})
	if err != nil || res.Conversation.HandoffState != chatv1.HandoffState_HANDOFF_STATE_BOT {
		t.Fatalf("resolve %v %v", res, err)
	}
	recvUntil(t, uw, func(f *chatv1.Frame) bool { return f.Type == "handoff" && f.State == "bot" })
	frames = e.send(user, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "thanks"})
	if got := text(frames); len(got) != 1 || got[0] != "You said: thanks" {
		t.Fatalf("the bot is back: %q", got)
	}
	// The user asks for a person through the API; the attendant hands back.
	if _, err := chat.RequestHandoff(user, &chatv1.RequestHandoffRequest{ConversationId: c.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := chat.RequestHandoff(user, &chatv1.RequestHandoffRequest{ConversationId: c.Id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("requested twice: %v", err)
	}
	if _, err := chat.HandBack(agent, &chatv1.HandBackRequest{ConversationId: c.Id}); err != nil {
		t.Fatal(err)
	}

	// Every change is an event on the outbox, in order.
	conn, err := pgx.Connect(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT subject, payload FROM chat.outbox ORDER BY created_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var subject string
		var payload []byte
		if err := rows.Scan(&subject, &payload); err != nil {
			t.Fatal(err)
		}
		var ev chatv1.HandoffEvent
		if err := proto.Unmarshal(payload, &ev); err != nil || ev.ConversationId != c.Id || ev.OrgId != org {
			t.Fatalf("event %s: %v %v", subject, &ev, err)
		}
		got = append(got, strings.TrimPrefix(subject, "bot.chat.handoff.")+":"+ev.From+">"+ev.To)
	}
	want := "requested:bot>queued,claimed:queued>human,resolved:human>bot,requested:bot>queued,handed_back:queued>bot"
	if strings.Join(got, ",") != want {
		t.Fatalf("events %s\nwant %s", strings.Join(got, ","), want)
	}
}

// recvHandoff reads the next hand-off change of an attendant's watch.
func recvHandoff(t *testing.T, w chatv1.ChatService_WatchHandoffsClient) *chatv1.Conversation {
	t.Helper()
	r, err := w.Recv()
	if err != nil {
		t.Fatalf("watch hand-offs: %v", err)
	}
	if r.Changed == nil {
		t.Fatalf("a later response without a change: %v", r)
	}
	return r.Changed
}

// An attendant's queue watch on one replica sees every change made through
// the other (a script's transfer, claim, resolve), filtered by queue, after
// a first response that lists the queue as it is.
func TestWatchHandoffsAcrossReplicas(t *testing.T) {
	e := newEnv(t, 2)
	org := uuid.NewString()
	user := e.ctx(e.iss.User(org, "chat:use"))
	agent := e.ctx(e.iss.User(org, "chat:use", "chat:attend"))
	ctx, stop := context.WithCancel(agent)
	defer stop()
	open := func(queue string) (chatv1.ChatService_WatchHandoffsClient, []*chatv1.Conversation) {
		t.Helper()
		w, err := e.chats[1].WatchHandoffs(ctx, &chatv1.WatchHandoffsRequest{Queue: queue})
		if err != nil {
			t.Fatal(err)
		}
		first, err := w.Recv()
		if err != nil {
			t.Fatalf("first response: %v", err)
		}
		return w, first.Conversations
	}
	sales, list := open("sales")
	if len(list) != 0 {
		t.Fatalf("an empty queue listed %v", list)
	}
	other, _ := open("other")

	c := e.open(user, "shop")
	e.send(user, e.chats[0], &chatv1.Inbound{ConversationId: c.Id, Content: "hi"})
	e.send(user, e.chats[0], &chatv1.Inbound{ConversationId: c.Id, Content: "Human"}) // TRANSFER TO HUMAN "sales"
	if got := recvHandoff(t, sales); got.Id != c.Id || got.HandoffState != chatv1.HandoffState_HANDOFF_STATE_QUEUED || got.HandoffQueue != "sales" {
		t.Fatalf("transfer seen as %v", got)
	}
	if _, err := e.chats[0].ClaimHandoff(agent, &chatv1.ClaimHandoffRequest{ConversationId: c.Id}); err != nil {
		t.Fatal(err)
	}
	if got := recvHandoff(t, sales); got.Id != c.Id || got.HandoffState != chatv1.HandoffState_HANDOFF_STATE_HUMAN || got.AgentId == "" {
		t.Fatalf("claim seen as %v", got)
	}
	// A watch opened now lists the claimed conversation.
	late, list := open("")
	if len(list) != 1 || list[0].Id != c.Id || list[0].HandoffState != chatv1.HandoffState_HANDOFF_STATE_HUMAN {
		t.Fatalf("listed %v", list)
	}
	if _, err := e.chats[0].ResolveHandoff(agent, &chatv1.ResolveHandoffRequest{ConversationId: c.Id}); err != nil {
		t.Fatal(err)
	}
	// Back with the bot its queue is cleared, yet the sales watch hears it left.
	for _, w := range []chatv1.ChatService_WatchHandoffsClient{sales, late} {
		if got := recvHandoff(t, w); got.Id != c.Id || got.HandoffState != chatv1.HandoffState_HANDOFF_STATE_BOT {
			t.Fatalf("resolve seen as %v", got)
		}
	}
	// The other queue's watch saw none of that: its first change is this one.
	c2 := e.open(user, "shop")
	if _, err := e.chats[0].RequestHandoff(user, &chatv1.RequestHandoffRequest{ConversationId: c2.Id, Queue: "other"}); err != nil {
		t.Fatal(err)
	}
	if got := recvHandoff(t, other); got.Id != c2.Id || got.HandoffQueue != "other" {
		t.Fatalf("the other queue's first change is %v", got)
	}

	// Only attendants watch the queue, and only their own organisation's.
	w, err := e.chats[1].WatchHandoffs(user, &chatv1.WatchHandoffsRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a user watched the queue: %v", err)
	}
	stranger, _ := e.chats[1].WatchHandoffs(e.ctx(e.iss.User(uuid.NewString(), "chat:attend")), &chatv1.WatchHandoffsRequest{})
	if r, err := stranger.Recv(); err != nil || len(r.Conversations) != 0 {
		t.Fatalf("another organisation's attendant saw %v %v", r, err)
	}
	bad, err := e.chats[0].WatchHandoffs(agent, &chatv1.WatchHandoffsRequest{Queue: "../x"})
	if err == nil {
		_, err = bad.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a bad queue name: %v", err)
	}
}
