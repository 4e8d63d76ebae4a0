package botchat_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botchat"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// env is botchat (one or more replicas) in front of the fake services.
type env struct {
	t       testing.TB
	iss     *authztest.Issuer
	f       *fakes
	dbURL   string
	natsURL string
	fakes   string
	chats   []chatv1.ChatServiceClient
}

func newEnv(t *testing.T, replicas int) *env { return newEnvTB(t, replicas) }

func newEnvB(b *testing.B) *env { return newEnvTB(b, 1) }

func newEnvTB(t testing.TB, replicas int) *env {
	t.Helper()
	e := &env{t: t, iss: authztest.NewIssuer(t), f: newFakes(), dbURL: testutil.NewDatabase(t), natsURL: testutil.NewNATS(t).URL}
	e.fakes = serveFakes(t, e.iss, e.f)
	for range replicas {
		e.addReplica()
	}
	return e
}

func (e *env) addReplica() chatv1.ChatServiceClient {
	e.t.Helper()
	addrs := apptest.Start(e.t, append(e.iss.Env(),
		"DATABASE_URL="+e.dbURL, "NATS_URL="+e.natsURL,
		"SERVICE_ADDRS=botauto="+e.fakes+",botllm="+e.fakes+",botvectordb="+e.fakes+",botauth="+e.fakes,
		"CHAT_SWEEP_INTERVAL=200ms", "CHAT_LEASE_TTL=3s"), botchat.Service())
	cc, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cc.Close() })
	c := chatv1.NewChatServiceClient(cc)
	e.chats = append(e.chats, c)
	return c
}

func (e *env) ctx(token string) context.Context { return e.iss.Context(context.Background(), token) }

// open opens a conversation of bot as the token's caller.
func (e *env) open(ctx context.Context, bot string) *chatv1.Conversation {
	e.t.Helper()
	resp, err := e.chats[0].OpenConversation(ctx, &chatv1.OpenConversationRequest{Bot: bot})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Conversation
}

// send sends a message and collects its turn's frames.
func (e *env) send(ctx context.Context, c chatv1.ChatServiceClient, in *chatv1.Inbound) []*chatv1.Frame {
	e.t.Helper()
	st, err := c.Send(ctx, &chatv1.SendRequest{Message: in})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*chatv1.Frame
	for {
		r, err := st.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			e.t.Fatalf("send %q: %v", in.Content, err)
		}
		out = append(out, r.Frame)
	}
}

// text joins the message frames' content (by message, in order).
func text(frames []*chatv1.Frame) []string {
	var out []string
	idx := map[string]int{}
	for _, f := range frames {
		if f.Type != "message" {
			continue
		}
		i, ok := idx[f.MessageId]
		if !ok {
			i = len(out)
			idx[f.MessageId] = i
			out = append(out, "")
		}
		out[i] += f.Content
	}
	return out
}

func types(frames []*chatv1.Frame) string {
	var out []string
	for _, f := range frames {
		out = append(out, f.Type)
	}
	return strings.Join(out, ",")
}

func lastComplete(t *testing.T, frames []*chatv1.Frame) *chatv1.Frame {
	t.Helper()
	for i := len(frames) - 1; i >= 0; i-- {
		if frames[i].Type == "message" && frames[i].IsComplete {
			return frames[i]
		}
	}
	t.Fatalf("no complete message in %s", types(frames))
	return nil
}

func labels(f *chatv1.Frame) string {
	var out []string
	for _, s := range f.Suggestions {
		out = append(out, s.Kind+":"+s.Text)
	}
	return strings.Join(out, ",")
}

// A conversation through the script's menu (wrong answer re-asks), then an
// LLM answer that calls a tool, with the script's KB, tool, context and
// switcher in the request, streamed as chunks of one message.
func TestScriptMenuThenLLMAnswerWithToolAndKnowledge(t *testing.T) {
	e := newEnv(t, 1)
	org := uuid.NewString()
	ctx := e.ctx(e.iss.User(org, "chat:use"))
	c := e.open(ctx, "shop")
	chat := e.chats[0]

	// The watch opens the conversation: start.bas greets with a menu.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	w, err := chat.Watch(wctx, &chatv1.WatchRequest{ConversationId: c.Id, Connected: true, OpenTurn: true})
	if err != nil {
		t.Fatal(err)
	}
	var greet []*chatv1.Frame
	for {
		r, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		greet = append(greet, r.Frame)
		if r.Frame.Type == "turn_end" {
			break
		}
	}
	if greet[0].Type != "connected" || greet[0].ConversationId != c.Id || greet[0].Bot != "shop" {
		t.Fatalf("first frame %v", greet[0])
	}
	if got := text(greet); len(got) != 1 || got[0] != "Hello! Pick one." {
		t.Fatalf("greeting %q", got)
	}
	f := lastComplete(t, greet)
	if labels(f) != "tool:Hours in Lisbon,message:Hours,message:Human" || len(f.Switchers) != 1 || f.Switchers[0].Id != "formal" {
		t.Fatalf("greeting buttons %s %v", labels(f), f.Switchers)
	}

	// A wrong answer re-asks; the right one ends the script.
	frames := e.send(ctx, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "Bikes?"})
	if got := text(frames); len(got) != 1 || got[0] != "Please pick one of the options." || types(frames) != "message,turn_end" {
		t.Fatalf("re-ask %q %s (an instant answer has no typing frame)", got, types(frames))
	}
	frames = e.send(ctx, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "Hours"})
	if got := text(frames); len(got) != 1 || got[0] != "Ask me about our hours." || labels(lastComplete(t, frames)) != "" {
		t.Fatalf("menu answer %q %s", got, labels(lastComplete(t, frames)))
	}
	if len(e.f.chats) != 0 {
		t.Fatalf("the LLM was asked while scripts answered")
	}

	// No script takes this one: the LLM calls the tool, the tool talks,
	// and the answer streams as one message.
	frames = e.send(ctx, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "what are the hours?", ActiveSwitchers: []string{"formal"}, ClientId: "c-1"})
	got := text(frames)
	if len(got) != 2 || got[0] != "Looking up Lisbon..." || got[1] != "We open at 9:00." {
		t.Fatalf("LLM turn %q (%s)", got, types(frames))
	}
	var chunks int
	var answerID string
	for _, fr := range frames {
		if fr.Type == "message" && fr.Content != "" && !fr.IsComplete {
			chunks++
			if answerID != "" && fr.MessageId != answerID {
				t.Fatalf("chunks of two messages")
			}
			answerID = fr.MessageId
		}
	}
	if chunks != 3 {
		t.Fatalf("%d chunks, want 3", chunks)
	}
	fin := lastComplete(t, frames)
	if fin.MessageId != answerID || !fin.Switchers[0].Active {
		t.Fatalf("final frame %v", fin)
	}
	// What the model was given.
	llm := &fakeLLM{f: e.f}
	req := llm.lastChat()
	sys := req.Messages[0].Content
	for _, want := range []string{"You are the shop's assistant.", "You work for Acme Bikes.", "Repairs take two days.", "Formal"} {
		if !strings.Contains(sys, want) {
			t.Errorf("system prompt lacks %q:\n%s", want, sys)
		}
	}
	if len(req.Tools) != 1 || req.Tools[0].Name != "hours" || !strings.Contains(req.Tools[0].Parameters, `"city"`) {
		t.Errorf("tools %v", req.Tools)
	}
	// history-limit 4: the last four messages before the question.
	var hist []string
	for _, m := range req.Messages[1 : len(req.Messages)-3] {
		hist = append(hist, m.Role.String()+":"+m.Content)
	}
	if strings.Join(hist, "|") != "ROLE_USER:Bikes?|ROLE_ASSISTANT:Please pick one of the options.|ROLE_USER:Hours|ROLE_ASSISTANT:Ask me about our hours." {
		t.Errorf("history %q", hist)
	}

	// History has every message in order; the answer with its model and tokens.
	h, err := chat.History(ctx, &chatv1.HistoryRequest{ConversationId: c.Id})
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for i, m := range h.Messages {
		roles = append(roles, m.Role+":"+m.Content)
		if i > 0 && m.Position <= h.Messages[i-1].Position {
			t.Fatalf("history out of order")
		}
	}
	want := "bot:Hello! Pick one.|user:Bikes?|bot:Please pick one of the options.|user:Hours|bot:Ask me about our hours.|user:what are the hours?|bot:Looking up Lisbon...|bot:We open at 9:00."
	if strings.Join(roles, "|") != want {
		t.Fatalf("history\n%s\nwant\n%s", strings.Join(roles, "|"), want)
	}
	ans := h.Messages[len(h.Messages)-1]
	if ans.Model != "tiny" || ans.Tokens != 30 || ans.ReplyTo != h.Messages[len(h.Messages)-3].Id {
		t.Fatalf("answer row %v", ans)
	}
	// A page of two continues where it stopped.
	p, err := chat.History(ctx, &chatv1.HistoryRequest{ConversationId: c.Id, Limit: 2})
	if err != nil || len(p.Messages) != 2 || p.NextAfterPosition != p.Messages[1].Position {
		t.Fatalf("page %v %v", p, err)
	}

	// The same client_id again is not a new message: the stored turn comes back.
	again := e.send(ctx, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "what are the hours?", ClientId: "c-1"})
	if g := text(again); len(g) != 2 || g[1] != "We open at 9:00." {
		t.Fatalf("duplicate %q", g)
	}
	h2, _ := chat.History(ctx, &chatv1.HistoryRequest{ConversationId: c.Id})
	if len(h2.Messages) != len(h.Messages) {
		t.Fatalf("a duplicate was stored")
	}

	// The conversation keeps what the script set.
	gc, err := chat.GetConversation(ctx, &chatv1.GetConversationRequest{ConversationId: c.Id})
	if err != nil || strings.Join(gc.Conversation.Kbs, ",") != "faq" || strings.Join(gc.Conversation.Tools, ",") != "hours" ||
		gc.Conversation.Contexts["company"] == "" {
		t.Fatalf("conversation %v %v", gc, err)
	}

	// Running a tool directly (message_type 6) goes to the script.
	frames = e.send(ctx, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "hours", MessageType: chatv1.MessageType_MESSAGE_TYPE_TOOL, ArgsJson: `{"city":"Porto"}`})
	if g := text(frames); len(g) != 1 || g[0] != `tool hours ran with {"city": "Porto"}` {
		t.Fatalf("tool run %q", g)
	}
}

// Callers reach only their conversations: another user of the org, another
// org and a visitor of another bot get NotFound; attendants see all.
func TestConversationsAreIsolated(t *testing.T) {
	e := newEnv(t, 1)
	org := uuid.NewString()
	chat := e.chats[0]
	owner := e.ctx(e.iss.User(org, "chat:use"))
	c := e.open(owner, "order")
	e.send(owner, chat, &chatv1.Inbound{ConversationId: c.Id, Content: "hi"})

	shopID := uuid.NewString()
	e.f.botIDs["shop"] = shopID
	e.f.botIDs["order"] = uuid.NewString()
	for name, ctx := range map[string]context.Context{
		"other user":     e.ctx(e.iss.User(org, "chat:use")),
		"other org":      e.ctx(e.iss.User(uuid.NewString(), "*")),
		"visitor":        e.ctx(e.iss.Visitor(org, shopID)),
		"other org attd": e.ctx(e.iss.User(uuid.NewString(), "chat:attend", "chat:use")),
	} {
		if _, err := chat.History(ctx, &chatv1.HistoryRequest{ConversationId: c.Id}); status.Code(err) != codes.NotFound {
			t.Errorf("%s: History: %v", name, err)
		}
		if _, err := chat.Post(ctx, &chatv1.PostRequest{Message: &chatv1.Inbound{ConversationId: c.Id, Content: "x"}}); status.Code(err) != codes.NotFound {
			t.Errorf("%s: Post: %v", name, err)
		}
		// Opening its id does not take it over either.
		if _, err := chat.OpenConversation(ctx, &chatv1.OpenConversationRequest{Bot: "order", ConversationId: c.Id}); status.Code(err) != codes.NotFound {
			t.Errorf("%s: Open: %v", name, err)
		}
	}
	attd := e.ctx(e.iss.User(org, "chat:attend", "chat:use"))
	if h, err := chat.History(attd, &chatv1.HistoryRequest{ConversationId: c.Id}); err != nil || len(h.Messages) != 2 {
		t.Fatalf("attendant: %v %v", h, err)
	}

	// A visitor talks to its own bot only; its session is its conversation.
	vtok := e.iss.Visitor(org, shopID)
	vctx := e.ctx(vtok)
	if _, err := chat.OpenConversation(vctx, &chatv1.OpenConversationRequest{Bot: "order"}); status.Code(err) != codes.NotFound {
		t.Fatalf("visitor opened another bot: %v", err)
	}
	vc, err := chat.OpenConversation(vctx, &chatv1.OpenConversationRequest{Bot: "shop"})
	if err != nil || !vc.Created || vc.Conversation.UserKind != "visitor" {
		t.Fatalf("visitor open: %v %v", vc, err)
	}
	again, err := chat.OpenConversation(vctx, &chatv1.OpenConversationRequest{Bot: "shop"})
	if err != nil || again.Created || again.Conversation.Id != vc.Conversation.Id {
		t.Fatalf("visitor reopen: %v %v", again, err)
	}
	if _, err := chat.ListHandoffs(vctx, &chatv1.ListHandoffsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("visitor listed hand-offs: %v", err)
	}

	// Bad input is refused before anything is stored.
	for _, in := range []*chatv1.Inbound{
		{ConversationId: "nope", Content: "x"},
		{ConversationId: c.Id, Content: ""},
		{ConversationId: c.Id, Content: strings.Repeat("x", 64<<10+1)},
		{ConversationId: c.Id, Content: "x", MessageType: 42},
		{ConversationId: c.Id, Content: "bad tool!", MessageType: chatv1.MessageType_MESSAGE_TYPE_TOOL},
		{ConversationId: c.Id, Content: "t", MessageType: chatv1.MessageType_MESSAGE_TYPE_TOOL, ArgsJson: "[1]"},
	} {
		if _, err := chat.Post(owner, &chatv1.PostRequest{Message: in}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Post(%.20q, type %d): %v", in.Content, in.MessageType, err)
		}
	}
	if _, err := chat.Post(context.Background(), &chatv1.PostRequest{Message: &chatv1.Inbound{ConversationId: c.Id, Content: "x"}}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
}

// recvUntil reads a watch until cond holds for a frame.
func recvUntil(t *testing.T, w chatv1.ChatService_WatchClient, cond func(*chatv1.Frame) bool) []*chatv1.Frame {
	t.Helper()
	var out []*chatv1.Frame
	for {
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("watch: %v (after %s)", err, types(out))
		}
		out = append(out, r.Frame)
		if cond(r.Frame) {
			return out
		}
	}
}

// watch starts a watch and returns once it is live (its connected frame).
func watch(t *testing.T, chat chatv1.ChatServiceClient, ctx context.Context, req *chatv1.WatchRequest) chatv1.ChatService_WatchClient {
	t.Helper()
	req.Connected = true
	w, err := chat.Watch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, w, func(f *chatv1.Frame) bool { return f.Type == "connected" })
	return w
}

// A client that drops mid-stream and reconnects to another replica with the
// last message and chunk it saw gets exactly the rest of the answer.
func TestReconnectMidStreamGetsTheRest(t *testing.T) {
	e := newEnv(t, 2)
	ctx := e.ctx(e.iss.User(uuid.NewString(), "chat:use"))
	c := e.open(ctx, "shop")
	e.send(ctx, e.chats[0], &chatv1.Inbound{ConversationId: c.Id, Content: "Hours"}) // greeting + HEAR
	e.send(ctx, e.chats[0], &chatv1.Inbound{ConversationId: c.Id, Content: "Hours"}) // ends the script

	wctx, drop := context.WithCancel(ctx)
	w := watch(t, e.chats[0], wctx, &chatv1.WatchRequest{ConversationId: c.Id})
	if _, err := e.chats[0].Post(ctx, &chatv1.PostRequest{Message: &chatv1.Inbound{ConversationId: c.Id, Content: "slow"}}); err != nil {
		t.Fatal(err)
	}
	seen := recvUntil(t, w, func(f *chatv1.Frame) bool { return f.Type == "message" && f.Chunk == 5 })
	drop()
	last := seen[len(seen)-1]
	before := strings.Join(text(seen), "")

	w2, err := e.chats[1].Watch(ctx, &chatv1.WatchRequest{ConversationId: c.Id, AfterMessageId: last.MessageId, AfterChunk: last.Chunk})
	if err != nil {
		t.Fatal(err)
	}
	rest := recvUntil(t, w2, func(f *chatv1.Frame) bool { return f.Type == "message" && f.IsComplete })
	var b strings.Builder
	for i := 1; i <= e.f.slowChunks; i++ {
		b.WriteString("w" + strconv.Itoa(i) + " ")
	}
	if got := before + strings.Join(text(rest), ""); got != b.String() {
		t.Fatalf("reassembled answer\n%q\nwant\n%q", got, b.String())
	}

	// After the turn, reconnecting with the same position replays the rest
	// from storage instead.
	time.Sleep(100 * time.Millisecond)
	w3, err := e.chats[1].Watch(ctx, &chatv1.WatchRequest{ConversationId: c.Id, AfterMessageId: last.MessageId, AfterChunk: last.Chunk})
	if err != nil {
		t.Fatal(err)
	}
	stored := recvUntil(t, w3, func(f *chatv1.Frame) bool { return f.Type == "message" && f.IsComplete })
	if got := before + strings.Join(text(stored), ""); got != b.String() {
		t.Fatalf("replayed from storage\n%q\nwant\n%q", got, b.String())
	}
}

// Cancelling Send stops the model; what was produced is stored as cancelled.
func TestCancelStopsGenerating(t *testing.T) {
	e := newEnv(t, 1)
	ctx := e.ctx(e.iss.User(uuid.NewString(), "chat:use"))
	c := e.open(ctx, "shop")
	e.send(ctx, e.chats[0], &chatv1.Inbound{ConversationId: c.Id, Content: "Hours"})
	e.send(ctx, e.chats[0], &chatv1.Inbound{ConversationId: c.Id, Content: "Hours"})

	sctx, cancel := context.WithCancel(ctx)
	st, err := e.chats[0].Send(sctx, &chatv1.SendRequest{Message: &chatv1.Inbound{ConversationId: c.Id, Content: "slow"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.Frame.Chunk == 3 {
			break
		}
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, err := e.chats[0].History(ctx, &chatv1.HistoryRequest{ConversationId: c.Id})
		if err != nil {
			t.Fatal(err)
		}
		last := h.Messages[len(h.Messages)-1]
		if last.Role == "bot" && last.ReplyTo != "" && strings.HasPrefix(last.Content, "w1 w2 w3") {
			if !last.Cancelled || strings.Contains(last.Content, "w"+strconv.Itoa(e.f.slowChunks)+" ") {
				t.Fatalf("stored %q cancelled=%v", last.Content, last.Cancelled)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cancelled answer stored: %v", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if e.f.cancelled != 1 {
		t.Fatalf("the model saw %d cancellations", e.f.cancelled)
	}
}
