package botchat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

// The services botchat calls, played by small in-test gRPC servers that
// implement the real protos and check botchat's service tokens.

// serveFakes starts one gRPC server with the fake services; calls must carry
// a service token of iss acting for an organisation.
func serveFakes(t testing.TB, iss *authztest.Issuer, f *fakes) string {
	t.Helper()
	v := iss.Verifier()
	check := func(ctx context.Context) (context.Context, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		auth := md.Get("authorization")
		if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
			return nil, status.Error(codes.Unauthenticated, "no token")
		}
		id, err := v.Verify(ctx, strings.TrimPrefix(auth[0], "Bearer "))
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, err.Error())
		}
		org := md.Get(authz.MDOrgID)
		if id.Kind != authz.KindService || len(org) != 1 {
			return nil, status.Errorf(codes.PermissionDenied, "fakes answer services acting for an org, not %s", id.Kind)
		}
		id.OrgID = org[0]
		return authz.WithIdentity(ctx, id), nil
	}
	gs := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx, err := check(ctx)
			if err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ctx, err := check(ss.Context())
			if err != nil {
				return err
			}
			return h(srv, &ctxStream{ss, ctx})
		}),
	)
	autov1.RegisterAutoServiceServer(gs, &fakeAuto{f: f})
	llmv1.RegisterLlmServiceServer(gs, &fakeLLM{f: f})
	vectordbv1.RegisterVectordbServiceServer(gs, &fakeKB{f: f})
	authv1.RegisterAuthServiceServer(gs, &fakeAuth{f: f})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// fakes is the shared state of the fake services.
type fakes struct {
	mu sync.Mutex
	// botauto: conversations seen (start.bas ran) and the menu step.
	seen    map[string]bool
	waiting map[string]bool
	inputs  map[string][]string // per conversation, in the order Converse got them
	active  map[string]int      // Converse calls in flight per conversation
	overlap int                 // times two turns of one conversation overlapped
	calls   int
	// turns counts each conversation's turns as botauto's TurnEnd.turn
	// does; staleKnown counts calls whose known_turn was not the last one.
	turns      map[string]int64
	staleKnown int
	// botllm
	chats      []*llmv1.ChatRequest
	cancelled  int
	slowChunks int
	// botauth: bot name → id
	botIDs map[string]string
}

func newFakes() *fakes {
	return &fakes{seen: map[string]bool{}, waiting: map[string]bool{}, inputs: map[string][]string{}, active: map[string]int{}, turns: map[string]int64{},
		botIDs: map[string]string{}, slowChunks: 40}
}

type fakeAuto struct {
	autov1.UnimplementedAutoServiceServer
	f *fakes
}

func out(kind, name, text, value string, options ...string) *autov1.ConverseResponse {
	return &autov1.ConverseResponse{Event: &autov1.ConverseResponse_Output{Output: &autov1.Output{Kind: kind, Name: name, Text: text, Value: value, Options: options}}}
}

// Converse plays two bots. "order" echoes every input (and records the
// order). "shop" is the sample bot's shape: start.bas activates a KB, a tool
// and a context, greets and offers a menu (HEAR AS "Hours", "Human"); a wrong
// answer re-asks; "Hours" ends the script; "Human" transfers to a queue.
func (a *fakeAuto) Converse(req *autov1.ConverseRequest, st autov1.AutoService_ConverseServer) error {
	f := a.f
	id, _ := authz.FromContext(st.Context())
	key := id.OrgID + "/" + req.ConversationId
	f.mu.Lock()
	f.calls++
	f.active[key]++
	if f.active[key] > 1 {
		f.overlap++
	}
	isNew := !f.seen[key]
	f.seen[key] = true
	if req.KnownTurn != f.turns[key] {
		f.staleKnown++
	}
	f.turns[key]++
	turnNo := f.turns[key]
	waiting := f.waiting[key]
	f.inputs[key] = append(f.inputs[key], req.Input)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active[key]--
		f.mu.Unlock()
	}()
	end := func(consumed bool, s autov1.TurnStatus) error {
		return st.Send(&autov1.ConverseResponse{Event: &autov1.ConverseResponse_End{End: &autov1.TurnEnd{Status: s, Consumed: consumed, Turn: turnNo}}})
	}
	send := func(rs ...*autov1.ConverseResponse) error {
		for _, r := range rs {
			if err := st.Send(r); err != nil {
				return err
			}
		}
		return nil
	}
	switch req.Bot {
	case "bench":
		if err := send(out("talk", "", "ok:"+req.Input, "")); err != nil {
			return err
		}
		return end(true, autov1.TurnStatus_TURN_STATUS_DONE)
	case "order":
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
		if err := send(out("talk", "", "echo:"+req.Input, "")); err != nil {
			return err
		}
		return end(true, autov1.TurnStatus_TURN_STATUS_DONE)
	case "shop":
	default:
		return status.Errorf(codes.NotFound, "bot %s has no package", req.Bot)
	}
	menu := out("hear", "choice", "", "", "Hours", "Human")
	setWaiting := func(w bool) {
		f.mu.Lock()
		f.waiting[key] = w
		f.mu.Unlock()
	}
	switch {
	case req.Tool != "":
		if err := send(out("talk", "", "tool "+req.Tool+" ran with "+req.ArgsJson, "")); err != nil {
			return err
		}
		return end(true, autov1.TurnStatus_TURN_STATUS_DONE)
	case isNew:
		setWaiting(true)
		if err := send(out("use_kb", "faq", "", ""), out("use_tool", "hours", "", ""),
			out("context", "company", "You work for Acme Bikes.", ""), out("switcher", "formal", "Formal", ""),
			out("suggestion", "tool", "Hours in Lisbon", "hours"),
			out("talk", "", "Hello! Pick one.", ""), menu); err != nil {
			return err
		}
		return end(true, autov1.TurnStatus_TURN_STATUS_WAITING)
	case waiting && req.Input == "Hours":
		setWaiting(false)
		if err := send(out("clear_suggestions", "", "", ""), out("talk", "", "Ask me about our hours.", "")); err != nil {
			return err
		}
		return end(true, autov1.TurnStatus_TURN_STATUS_DONE)
	case waiting && req.Input == "Human":
		setWaiting(false)
		if err := send(out("talk", "", "Passing you to a person.", ""), out("transfer", "sales", "", "")); err != nil {
			return err
		}
		return end(true, autov1.TurnStatus_TURN_STATUS_DONE)
	case waiting:
		if err := send(out("talk", "", "Please pick one of the options.", ""), menu); err != nil {
			return err
		}
		return end(true, autov1.TurnStatus_TURN_STATUS_WAITING)
	}
	return end(false, autov1.TurnStatus_TURN_STATUS_DONE)
}

func (a *fakeAuto) ListTools(_ context.Context, req *autov1.ListToolsRequest) (*autov1.ListToolsResponse, error) {
	resp := &autov1.ListToolsResponse{}
	for _, n := range req.Names {
		if n == "hours" {
			resp.Tools = append(resp.Tools, &autov1.Tool{Name: "hours", Description: "Opening hours",
				FunctionJson: `{"name":"hours","description":"Opening hours of a store","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}`})
		}
	}
	return resp, nil
}

func (a *fakeAuto) RunTool(_ context.Context, req *autov1.RunToolRequest) (*autov1.RunToolResponse, error) {
	if req.Tool != "hours" {
		return nil, status.Errorf(codes.NotFound, "no tool %s", req.Tool)
	}
	var args struct{ City string }
	if err := json.Unmarshal([]byte(req.ArgsJson), &args); err != nil || args.City == "" {
		return nil, status.Error(codes.InvalidArgument, "city is required")
	}
	return &autov1.RunToolResponse{ResultJson: `{"city":"` + args.City + `","open":"9:00"}`,
		Outputs: []*autov1.Output{{Kind: "talk", Text: "Looking up " + args.City + "..."}}}, nil
}

func (a *fakeAuto) GetBot(_ context.Context, req *autov1.GetBotRequest) (*autov1.GetBotResponse, error) {
	return &autov1.GetBotResponse{Bot: &autov1.Bot{Name: req.Bot, Prompt: "You are the shop's assistant.",
		Config: map[string]string{"history-limit": "4", "llm-model": "tiny"}}}, nil
}

type fakeLLM struct {
	llmv1.UnimplementedLlmServiceServer
	f *fakes
}

// Chat calls the hours tool when it may and was asked about hours, answers
// from the tool's result once it has one, streams many slow chunks for
// "slow", and otherwise echoes the question in three chunks.
func (l *fakeLLM) Chat(req *llmv1.ChatRequest, st llmv1.LlmService_ChatServer) error {
	l.f.mu.Lock()
	l.f.chats = append(l.f.chats, req)
	n := l.f.slowChunks
	l.f.mu.Unlock()
	last := req.Messages[len(req.Messages)-1]
	done := func(reason llmv1.FinishReason) error {
		return st.Send(&llmv1.ChatResponse{FinishReason: reason, Model: "tiny", Usage: &llmv1.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}})
	}
	switch {
	case last.Role == llmv1.Role_ROLE_TOOL:
		for _, d := range []string{"We open ", "at ", "9:00."} {
			if err := st.Send(&llmv1.ChatResponse{Delta: d}); err != nil {
				return err
			}
		}
		return done(llmv1.FinishReason_FINISH_REASON_STOP)
	case len(req.Tools) > 0 && strings.Contains(last.Content, "hours"):
		if err := st.Send(&llmv1.ChatResponse{ToolCalls: []*llmv1.ToolCall{{Id: "call-1", Name: "hours", Arguments: `{"city":"Lisbon"}`}}}); err != nil {
			return err
		}
		return done(llmv1.FinishReason_FINISH_REASON_TOOL_CALLS)
	case last.Content == "slow":
		for i := 1; i <= n; i++ {
			select {
			case <-st.Context().Done():
				l.f.mu.Lock()
				l.f.cancelled++
				l.f.mu.Unlock()
				return st.Context().Err()
			case <-time.After(15 * time.Millisecond):
			}
			if err := st.Send(&llmv1.ChatResponse{Delta: fmt.Sprintf("w%d ", i)}); err != nil {
				return err
			}
		}
		return done(llmv1.FinishReason_FINISH_REASON_STOP)
	}
	for _, d := range []string{"You ", "said: ", last.Content} {
		if err := st.Send(&llmv1.ChatResponse{Delta: d}); err != nil {
			return err
		}
	}
	return done(llmv1.FinishReason_FINISH_REASON_STOP)
}

func (l *fakeLLM) lastChat() *llmv1.ChatRequest {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	return l.f.chats[len(l.f.chats)-1]
}

type fakeKB struct {
	vectordbv1.UnimplementedVectordbServiceServer
	f *fakes
}

func (k *fakeKB) Search(_ context.Context, req *vectordbv1.SearchRequest) (*vectordbv1.SearchResponse, error) {
	if len(req.Kbs) != 1 || req.Kbs[0] != "faq" {
		return nil, status.Errorf(codes.InvalidArgument, "unexpected kbs %v", req.Kbs)
	}
	return &vectordbv1.SearchResponse{Passages: []*vectordbv1.Passage{{Text: "Repairs take two days.", Path: "shop.gbkb/faq/shop.md", Kb: "faq", Score: 0.9}}}, nil
}

type fakeAuth struct {
	authv1.UnimplementedAuthServiceServer
	f *fakes
}

func (a *fakeAuth) GetBot(_ context.Context, req *authv1.GetBotRequest) (*authv1.GetBotResponse, error) {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	id, ok := a.f.botIDs[req.Name]
	if !ok {
		return nil, status.Error(codes.NotFound, "no bot")
	}
	return &authv1.GetBotResponse{Bot: &authv1.Bot{Id: id, Name: req.Name, Public: true}}, nil
}
