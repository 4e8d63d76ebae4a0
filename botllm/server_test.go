package botllm_test

import (
	"context"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botllm"
	"github.com/botserver-go/botserver-go/botllm/internal/fakellm"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

type env struct {
	t   testing.TB
	llm llmv1.LlmServiceClient
	iss *authztest.Issuer
	org string
}

func start(t *testing.T, settings ...string) *env { return startB(t, settings...) }

func startB(t testing.TB, settings ...string) *env {
	t.Helper()
	iss := authztest.NewIssuer(t)
	addrs := apptest.Start(t, append(append(iss.Env(), "LLM_MAX_RETRIES=1", "LLM_USAGE_FLUSH=100ms"), settings...), botllm.Service())
	cc, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return &env{t: t, llm: llmv1.NewLlmServiceClient(cc), iss: iss, org: uuid.NewString()}
}

// user is a context of a user of e.org holding perms.
func (e *env) user(perms ...string) context.Context {
	return e.iss.Context(context.Background(), e.iss.User(e.org, perms...))
}

type reply struct {
	deltas    []string
	toolCalls []*llmv1.ToolCall
	last      *llmv1.ChatResponse
}

func (r reply) text() string { return strings.Join(r.deltas, "") }

func (e *env) chat(ctx context.Context, req *llmv1.ChatRequest) (reply, error) {
	e.t.Helper()
	st, err := e.llm.Chat(ctx, req)
	if err != nil {
		return reply{}, err
	}
	var r reply
	for {
		m, err := st.Recv()
		if err == io.EOF {
			if r.last == nil {
				e.t.Fatal("stream ended without a last message")
			}
			return r, nil
		}
		if err != nil {
			return r, err
		}
		if r.last != nil {
			e.t.Fatalf("message after the last one: %v", m)
		}
		switch {
		case m.GetFinishReason() != llmv1.FinishReason_FINISH_REASON_UNSPECIFIED:
			r.last = m
		case len(m.GetToolCalls()) > 0:
			r.toolCalls = append(r.toolCalls, m.GetToolCalls()...)
		default:
			r.deltas = append(r.deltas, m.GetDelta())
		}
	}
}

func ask(bot, q string, cfg map[string]string) *llmv1.ChatRequest {
	return &llmv1.ChatRequest{Bot: bot, Config: cfg, Messages: []*llmv1.Message{
		{Role: llmv1.Role_ROLE_SYSTEM, Content: "You answer questions about the library."},
		{Role: llmv1.Role_ROLE_USER, Content: q},
	}}
}

func code(err error) codes.Code { return status.Code(err) }

func TestService(t *testing.T) {
	e := start(t)
	oa := fakellm.NewOpenAI(t)
	an := fakellm.NewAnthropic(t)
	cfg := map[string]string{"llm-url": oa.URL, "llm-model": "gpt-fake", "llm-cache": "off"}
	use := e.user("llm:use")

	t.Run("StreamsDeltasAndToolCalls", func(t *testing.T) {
		oa.Push(fakellm.Reply{Deltas: []string{"Checking", " the", " weather"},
			ToolCalls: []fakellm.ToolCall{{ID: "call_1", Name: "weather", Arguments: `{"city":"Lisbon"}`, ArgChunk: 4}},
			Usage:     &fakellm.Usage{Prompt: 20, Completion: 7}})
		req := ask("library", "weather?", cfg)
		req.Tools = []*llmv1.Tool{{Name: "weather", Description: "forecast", Parameters: `{"type":"object","properties":{"city":{"type":"string"}}}`}}
		r, err := e.chat(use, req)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(r.deltas, "|") != "Checking| the| weather" {
			t.Fatalf("deltas = %q", r.deltas)
		}
		if len(r.toolCalls) != 1 || r.toolCalls[0].GetArguments() != `{"city":"Lisbon"}` || r.toolCalls[0].GetId() != "call_1" {
			t.Fatalf("tool calls = %v", r.toolCalls)
		}
		l := r.last
		if l.GetFinishReason() != llmv1.FinishReason_FINISH_REASON_TOOL_CALLS || l.GetUsage().GetTotalTokens() != 27 || l.GetModel() != "fake-model" || l.GetCached() {
			t.Fatalf("last = %v", l)
		}
		got := oa.Requests()
		if b := got[len(got)-1].Body; b["model"] != "gpt-fake" {
			t.Fatalf("model sent = %v", b["model"])
		}
	})

	t.Run("Anthropic", func(t *testing.T) {
		an.Push(fakellm.Reply{Deltas: []string{"Bonjour", "!"}, Usage: &fakellm.Usage{Prompt: 5, Completion: 2}})
		r, err := e.chat(use, ask("library", "hi", map[string]string{"llm-url": an.URL, "llm-provider": "anthropic", "llm-model": "claude-fake", "llm-key": "bot-key"}))
		if err != nil {
			t.Fatal(err)
		}
		if r.text() != "Bonjour!" || r.last.GetModel() != "fake-claude" || r.last.GetUsage().GetPromptTokens() != 5 {
			t.Fatalf("reply %q last %v", r.text(), r.last)
		}
		if h := an.Requests()[0].Header.Get("x-api-key"); h != "bot-key" {
			t.Fatalf("x-api-key = %q", h)
		}
	})

	t.Run("Complete", func(t *testing.T) {
		oa.Push(fakellm.Reply{Deltas: []string{"forty", "-two"}})
		resp, err := e.llm.Complete(use, &llmv1.CompleteRequest{Bot: "library", Prompt: "6*7 in words", System: "be exact", Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetContent() != "forty-two" || resp.GetFinishReason() != llmv1.FinishReason_FINISH_REASON_STOP || !resp.GetUsage().GetEstimated() {
			t.Fatalf("resp = %v", resp)
		}
	})

	t.Run("NoModelAnswersFromPassages", func(t *testing.T) {
		req := ask("library", "when are you open?", nil)
		req.Passages = []*llmv1.Passage{
			{Text: "Low score passage.", Source: "misc.md", Score: 0.1},
			{Text: "The library opens at 9:00 on weekdays.", Source: "hours.md", Score: 0.9},
			{Text: "On Saturdays it opens at 10:00.", Source: "hours.md#weekend", Score: 0.8},
			{Text: "Closed on public holidays.", Source: "holidays.pdf", Score: 0.7},
		}
		r, err := e.chat(use, req)
		if err != nil {
			t.Fatal(err)
		}
		text := r.text()
		if r.last.GetFinishReason() != llmv1.FinishReason_FINISH_REASON_NO_MODEL || r.last.GetModel() != "" {
			t.Fatalf("last = %v", r.last)
		}
		if !strings.HasPrefix(text, "No language model is configured") || !strings.Contains(text, "retrieved") {
			t.Fatalf("answer does not say it is retrieved without a model: %q", text)
		}
		first := strings.Index(text, "opens at 9:00")
		if first < 0 || strings.Index(text, "Saturdays") < first || !strings.Contains(text, "(source: holidays.pdf)") || strings.Contains(text, "Low score") {
			t.Fatalf("answer should list the top 3 passages by score with sources: %q", text)
		}
		if len(r.deltas) < 3 {
			t.Fatalf("the answer should be streamed in pieces, got %d", len(r.deltas))
		}
		r, err = e.chat(use, ask("library", "anything?", nil))
		if err != nil || !strings.Contains(r.text(), "no passage") || r.last.GetFinishReason() != llmv1.FinishReason_FINISH_REASON_NO_MODEL {
			t.Fatalf("without passages: %q, %v", r.text(), err)
		}
	})

	t.Run("CancelStopsUpstream", func(t *testing.T) {
		oa.Push(fakellm.Reply{Deltas: []string{"first"}, Hold: true})
		ctx, cancel := context.WithCancel(use)
		defer cancel()
		st, err := e.llm.Chat(ctx, ask("library", "long story", cfg))
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.Recv()
		if err != nil || m.GetDelta() != "first" {
			t.Fatalf("first = %v, %v", m, err)
		}
		cancel()
		select {
		case <-oa.Closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream request was not closed after the gRPC call was cancelled")
		}
	})

	t.Run("ExactCache", func(t *testing.T) {
		cached := map[string]string{"llm-url": oa.URL, "llm-model": "gpt-fake", "llm-cache-ttl": "60"}
		long := []string{"The reading room ", "is on the second floor, ", "next to the map collection ", "and the quiet study area."}
		oa.Push(fakellm.Reply{Deltas: long, Usage: &fakellm.Usage{Prompt: 30, Completion: 20}})
		before := len(oa.Requests())
		first, err := e.chat(use, ask("library", "where is the reading room?", cached))
		if err != nil {
			t.Fatal(err)
		}
		second, err := e.chat(use, ask("library", "where is the reading room?", cached))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(oa.Requests()) - before; n != 1 {
			t.Fatalf("%d upstream requests, want 1 (second answered from cache)", n)
		}
		if first.last.GetCached() || !second.last.GetCached() || second.text() != first.text() || len(second.deltas) < 2 {
			t.Fatalf("first cached=%v, second cached=%v %q in %d pieces", first.last.GetCached(), second.last.GetCached(), second.text(), len(second.deltas))
		}
		// Another org does not see this org's cache.
		other := e.iss.Context(context.Background(), e.iss.User(uuid.NewString(), "llm:use"))
		if r, err := e.chat(other, ask("library", "where is the reading room?", cached)); err != nil || r.last.GetCached() {
			t.Fatalf("other org: cached=%v err=%v", r.last.GetCached(), err)
		}
		// Tool-call answers and errors are never cached.
		for _, rep := range []fakellm.Reply{
			{ToolCalls: []fakellm.ToolCall{{ID: "c", Name: "lookup", Arguments: `{}`}}},
			{Status: 400, Message: "bad request"},
		} {
			oa.Push(rep, rep)
			before := len(oa.Requests())
			e.chat(use, ask("library", "not cacheable "+rep.Message, cached))
			e.chat(use, ask("library", "not cacheable "+rep.Message, cached))
			if n := len(oa.Requests()) - before; n != 2 {
				t.Fatalf("%+v: %d upstream requests, want 2", rep, n)
			}
		}
	})

	t.Run("SemanticCache", func(t *testing.T) {
		sem := map[string]string{"llm-url": oa.URL, "llm-model": "gpt-fake", "llm-cache-semantic": "on", "llm-cache-threshold": "0.8"}
		oa.Push(fakellm.Reply{Deltas: []string{"From 9 to 17 on weekdays."}})
		before := len(oa.Requests())
		if _, err := e.chat(use, ask("hours-bot", "What are the opening hours of the library?", sem)); err != nil {
			t.Fatal(err)
		}
		r, err := e.chat(use, ask("hours-bot", "what are the library opening hours", sem))
		if err != nil {
			t.Fatal(err)
		}
		if !r.last.GetCached() || r.text() != "From 9 to 17 on weekdays." || len(oa.Requests())-before != 1 {
			t.Fatalf("paraphrase: cached=%v %q after %d requests", r.last.GetCached(), r.text(), len(oa.Requests())-before)
		}
		oa.Push(fakellm.Reply{Deltas: []string{"Yes, dogs are welcome."}})
		r, err = e.chat(use, ask("hours-bot", "Can I bring my dog?", sem))
		if err != nil || r.last.GetCached() || r.text() != "Yes, dogs are welcome." {
			t.Fatalf("different question: cached=%v %q %v", r.last.GetCached(), r.text(), err)
		}
		// Same question, another bot: no semantic hit (scope is the bot) —
		// its exact key differs too because the system prompt differs.
		req := ask("other-bot", "what are the library opening hours", sem)
		req.Messages[0].Content = "You are another bot."
		oa.Push(fakellm.Reply{Deltas: []string{"other"}})
		if r, err := e.chat(use, req); err != nil || r.last.GetCached() {
			t.Fatalf("other bot: cached=%v %v", r.last.GetCached(), err)
		}
	})

	t.Run("UpstreamErrors", func(t *testing.T) {
		oa.Push(fakellm.Reply{Status: 401, Message: "Incorrect API key provided"})
		_, err := e.chat(use, ask("library", "x", cfg))
		if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "Incorrect API key") {
			t.Fatalf("401: %v", err)
		}
		oa.Push(fakellm.Reply{Status: 503, Message: "down"}, fakellm.Reply{Status: 503, Message: "still down"})
		_, err = e.chat(use, ask("library", "x", cfg))
		if code(err) != codes.Unavailable || !strings.Contains(err.Error(), "still down") {
			t.Fatalf("503: %v", err)
		}
	})

	t.Run("Validation", func(t *testing.T) {
		for name, req := range map[string]*llmv1.ChatRequest{
			"bot":      ask("Bad Bot", "x", cfg),
			"empty":    {Bot: "library", Config: cfg},
			"role":     {Bot: "library", Messages: []*llmv1.Message{{Content: "x"}}},
			"toolmsg":  {Bot: "library", Messages: []*llmv1.Message{{Role: llmv1.Role_ROLE_TOOL, Content: "x"}}},
			"schema":   {Bot: "library", Messages: []*llmv1.Message{{Role: llmv1.Role_ROLE_USER, Content: "x"}}, Tools: []*llmv1.Tool{{Name: "t", Parameters: "[1"}}},
			"toolname": {Bot: "library", Messages: []*llmv1.Message{{Role: llmv1.Role_ROLE_USER, Content: "x"}}, Tools: []*llmv1.Tool{{Name: "no spaces"}}},
			"temp":     {Bot: "library", Messages: []*llmv1.Message{{Role: llmv1.Role_ROLE_USER, Content: "x"}}, Params: &llmv1.Params{Temperature: ptr(3.0)}},
			"stops":    {Bot: "library", Messages: []*llmv1.Message{{Role: llmv1.Role_ROLE_USER, Content: "x"}}, Params: &llmv1.Params{Stop: []string{"a", "b", "c", "d", "e"}}},
		} {
			if _, err := e.chat(use, req); code(err) != codes.InvalidArgument {
				t.Errorf("%s: %v, want InvalidArgument", name, err)
			}
		}
		_, err := e.chat(use, ask("library", "x", map[string]string{"llm-url": oa.URL, "llm-temperature": "hot"}))
		if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "llm-temperature") {
			t.Errorf("bad config: %v", err)
		}
	})

	t.Run("Permissions", func(t *testing.T) {
		if _, err := e.chat(context.Background(), ask("library", "x", cfg)); code(err) != codes.Unauthenticated {
			t.Errorf("no token: %v", err)
		}
		if _, err := e.chat(e.user("chat:use"), ask("library", "x", cfg)); code(err) != codes.PermissionDenied {
			t.Errorf("without llm:use: %v", err)
		}
		if _, err := e.llm.GetUsage(use, &llmv1.GetUsageRequest{}); code(err) != codes.PermissionDenied {
			t.Errorf("GetUsage without org:admin: %v", err)
		}
	})

	t.Run("Embed", func(t *testing.T) {
		resp, err := e.llm.Embed(use, &llmv1.EmbedRequest{Bot: "library", Texts: []string{"opening hours", "reading room"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetVectors()) != 2 || resp.GetDimensions() != 384 || !strings.HasPrefix(resp.GetModel(), "local") {
			t.Fatalf("resp: %d vectors, %d dims, model %q", len(resp.GetVectors()), resp.GetDimensions(), resp.GetModel())
		}
		var norm float64
		for _, x := range resp.GetVectors()[0].GetValues() {
			norm += float64(x) * float64(x)
		}
		if math.Abs(norm-1) > 1e-3 {
			t.Fatalf("|v|² = %v, want 1", norm)
		}
		if _, err := e.llm.Embed(use, &llmv1.EmbedRequest{Bot: "library"}); code(err) != codes.InvalidArgument {
			t.Fatalf("no texts: %v", err)
		}
		resp, err = e.llm.Embed(use, &llmv1.EmbedRequest{Texts: []string{"x"}, Config: map[string]string{"embedding-dimensions": "64"}})
		if err != nil || resp.GetDimensions() != 64 {
			t.Fatalf("embedding-dimensions 64: %v %v", resp.GetDimensions(), err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestUsageAndBudgets(t *testing.T) {
	e := start(t)
	oa := fakellm.NewOpenAI(t)
	oa.Default(fakellm.Reply{Deltas: []string{"ok"}, Usage: &fakellm.Usage{Prompt: 40, Completion: 10}})
	cfg := map[string]string{"llm-url": oa.URL, "llm-model": "m1", "llm-cache": "off"}
	use := e.user("llm:use")
	admin := e.user("org:admin")

	if _, err := e.llm.SetBudget(admin, &llmv1.SetBudgetRequest{Bot: "capped", MonthlyTokenLimit: 60}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.chat(use, ask("capped", "q", cfg)); err != nil {
			t.Fatalf("call %d within budget: %v", i, err)
		}
	}
	before := len(oa.Requests())
	_, err := e.chat(use, ask("capped", "q", cfg))
	if code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "budget") || !strings.Contains(err.Error(), "capped") {
		t.Fatalf("over budget: %v", err)
	}
	if len(oa.Requests()) != before {
		t.Fatal("a refused request reached the LLM server")
	}
	// Other bots are not capped by this bot's budget.
	if _, err := e.chat(use, ask("free", "q", cfg)); err != nil {
		t.Fatal(err)
	}
	// An org budget caps every bot.
	if _, err := e.llm.SetBudget(admin, &llmv1.SetBudgetRequest{MonthlyTokenLimit: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.chat(use, ask("free", "q", cfg)); code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "organisation") {
		t.Fatalf("org budget: %v", err)
	}

	u, err := e.llm.GetUsage(admin, &llmv1.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byBot := map[string]*llmv1.UsageRow{}
	for _, r := range u.GetRows() {
		byBot[r.GetBot()] = r
	}
	if c := byBot["capped"]; c == nil || c.GetRequests() != 2 || c.GetPromptTokens() != 80 || c.GetCompletionTokens() != 20 || c.GetModel() != "fake-model" {
		t.Fatalf("capped row = %v (rows %v)", c, u.GetRows())
	}
	if f := byBot["free"]; f == nil || f.GetRequests() != 1 {
		t.Fatalf("free row = %v", f)
	}
	budgets := map[string]*llmv1.Budget{}
	for _, b := range u.GetBudgets() {
		budgets[b.GetBot()] = b
	}
	if b := budgets[""]; b == nil || b.GetMonthlyTokenLimit() != 100 || b.GetUsedTokens() != 150 {
		t.Fatalf("org budget = %v", b)
	}
	if b := budgets["capped"]; b == nil || b.GetUsedTokens() != 100 {
		t.Fatalf("bot budget = %v", b)
	}

	// Another org sees none of it.
	other := e.iss.Context(context.Background(), e.iss.User(uuid.NewString(), "org:admin"))
	if u, err := e.llm.GetUsage(other, &llmv1.GetUsageRequest{}); err != nil || len(u.GetRows()) != 0 || len(u.GetBudgets()) != 0 {
		t.Fatalf("other org: %v %v", u, err)
	}
	// Removing the budgets lets requests through again.
	for _, bot := range []string{"", "capped"} {
		if _, err := e.llm.SetBudget(admin, &llmv1.SetBudgetRequest{Bot: bot}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.chat(use, ask("capped", "q", cfg)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.llm.GetUsage(admin, &llmv1.GetUsageRequest{From: "2026-13-01"}); code(err) != codes.InvalidArgument {
		t.Fatalf("bad date: %v", err)
	}
}

// The platform key goes only to the platform URL: a bot that points
// llm-url elsewhere sends its own llm-key or none.
func TestPlatformKeyStaysWithPlatformURL(t *testing.T) {
	platform := fakellm.NewOpenAI(t)
	botOwn := fakellm.NewOpenAI(t)
	e := start(t, "LLM_URL="+platform.URL, "LLM_KEY=platform-secret", "LLM_MODEL=platform-model")
	use := e.user("llm:use")
	if _, err := e.chat(use, ask("a", "hi", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.chat(use, ask("b", "hi", map[string]string{"llm-url": botOwn.URL})); err != nil {
		t.Fatal(err)
	}
	p := platform.Requests()[0]
	if p.Header.Get("Authorization") != "Bearer platform-secret" || p.Body["model"] != "platform-model" {
		t.Fatalf("platform request: %v %v", p.Header.Get("Authorization"), p.Body["model"])
	}
	b := botOwn.Requests()[0]
	if b.Header.Get("Authorization") != "" || b.Body["model"] != nil {
		t.Fatalf("bot's own URL got Authorization %q, model %v", b.Header.Get("Authorization"), b.Body["model"])
	}
}
