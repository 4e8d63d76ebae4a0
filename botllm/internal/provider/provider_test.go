package provider_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botllm/internal/fakellm"
	"github.com/botserver-go/botserver-go/botllm/internal/provider"
)

func newProvider(t *testing.T, kind provider.Kind, url string, mod ...func(*provider.Options)) provider.Provider {
	t.Helper()
	o := provider.Options{Kind: kind, URL: url, Key: "sk-test", Backoff: time.Millisecond, IdleTimeout: 5 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	p, err := provider.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func collect(t *testing.T, p provider.Provider, req *provider.Request) ([]string, *provider.Result, error) {
	t.Helper()
	var deltas []string
	res, err := p.Chat(context.Background(), req, func(s string) error { deltas = append(deltas, s); return nil })
	return deltas, res, err
}

func temp(f float64) *float64 { return &f }

func TestOpenAIStreamAndRequest(t *testing.T) {
	srv := fakellm.NewOpenAI(t)
	srv.Push(fakellm.Reply{Deltas: []string{"Hel", "lo", " there"}, Usage: &fakellm.Usage{Prompt: 9, Completion: 3}})
	p := newProvider(t, provider.KindOpenAI, srv.URL)
	deltas, res, err := collect(t, p, &provider.Request{
		Model: "gpt-x", Temperature: temp(0.2), MaxTokens: 50, Stop: []string{"END"}, JSONMode: true,
		Messages: []provider.Message{{Role: provider.RoleSystem, Content: "be brief"}, {Role: provider.RoleUser, Content: "hi"}},
		Tools:    []provider.Tool{{Name: "weather", Description: "forecast", Parameters: `{"type":"object","properties":{"city":{"type":"string"}}}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(deltas, "|"); got != "Hel|lo| there" {
		t.Fatalf("deltas = %q", got)
	}
	if res.Content != "Hello there" || res.Finish != provider.FinishStop || res.Model != "fake-model" {
		t.Fatalf("result = %+v", res)
	}
	if res.Usage != (provider.Usage{PromptTokens: 9, CompletionTokens: 3}) {
		t.Fatalf("usage = %+v", res.Usage)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if _, sent := r.Header["Idempotency-Key"]; sent {
		t.Error("the replay marker must not be sent")
	}
	if r.Header.Get("Authorization") != "Bearer sk-test" {
		t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
	}
	b := r.Body
	if b["model"] != "gpt-x" || b["stream"] != true || b["temperature"] != 0.2 || b["max_tokens"] != 50.0 {
		t.Errorf("body = %s", r.Raw)
	}
	if so, _ := b["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("stream_options = %v", b["stream_options"])
	}
	if rf, _ := b["response_format"].(map[string]any); rf["type"] != "json_object" {
		t.Errorf("response_format = %v", b["response_format"])
	}
	if stop, _ := b["stop"].([]any); len(stop) != 1 || stop[0] != "END" {
		t.Errorf("stop = %v", b["stop"])
	}
	tools, _ := b["tools"].([]any)
	if len(tools) != 1 {
		t.Fatalf("tools = %v", b["tools"])
	}
	tool := tools[0].(map[string]any)
	fn := tool["function"].(map[string]any)
	if tool["type"] != "function" || fn["name"] != "weather" || fn["parameters"].(map[string]any)["type"] != "object" {
		t.Errorf("tool = %v", tool)
	}
	msgs := b["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" {
		t.Errorf("messages = %v", msgs)
	}
}

func TestOpenAIToolCallDeltasAssembled(t *testing.T) {
	srv := fakellm.NewOpenAI(t)
	srv.Push(fakellm.Reply{ToolCalls: []fakellm.ToolCall{
		{ID: "call_DdmO9pD3xa9XTPNJ32zg2hcA", Name: "get_current_weather", Arguments: `{"location":"Boston, MA","unit":"celsius"}`, ArgChunk: 3},
		{ID: "call_2", Name: "get_time", Arguments: `{"tz":"America/New_York"}`, ArgChunk: 5},
	}})
	p := newProvider(t, provider.KindOpenAI, srv.URL)
	deltas, res, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{
		{Role: provider.RoleUser, Content: "weather?"},
		{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "c0", Name: "prev", Arguments: `{}`}}},
		{Role: provider.RoleTool, ToolCallID: "c0", Content: "42"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(deltas) != 0 {
		t.Errorf("deltas = %q, want none", deltas)
	}
	want := []provider.ToolCall{
		{ID: "call_DdmO9pD3xa9XTPNJ32zg2hcA", Name: "get_current_weather", Arguments: `{"location":"Boston, MA","unit":"celsius"}`},
		{ID: "call_2", Name: "get_time", Arguments: `{"tz":"America/New_York"}`},
	}
	if len(res.ToolCalls) != 2 || res.ToolCalls[0] != want[0] || res.ToolCalls[1] != want[1] {
		t.Fatalf("tool calls = %+v", res.ToolCalls)
	}
	if res.Finish != provider.FinishToolCalls {
		t.Fatalf("finish = %q", res.Finish)
	}
	if !res.Usage.Estimated || res.Usage.CompletionTokens == 0 {
		t.Fatalf("usage without server report should be estimated: %+v", res.Usage)
	}
	msgs := srv.Requests()[0].Body["messages"].([]any)
	asst := msgs[1].(map[string]any)
	if asst["content"] != nil {
		t.Errorf("assistant tool-call turn content = %v, want null", asst["content"])
	}
	tc := asst["tool_calls"].([]any)[0].(map[string]any)
	if tc["id"] != "c0" || tc["type"] != "function" || tc["function"].(map[string]any)["name"] != "prev" {
		t.Errorf("replayed tool call = %v", tc)
	}
	if tool := msgs[2].(map[string]any); tool["role"] != "tool" || tool["tool_call_id"] != "c0" {
		t.Errorf("tool message = %v", tool)
	}
}

// SSE framing details a server may use: CRLF line ends, comments (keep
// alive), "data:" without a space, a line split across TCP writes, and a
// final event without the trailing blank line.
func TestSSEFramingVariants(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		parts := []string{
			": keep-alive\r\n\r\n",
			"data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\n",
			"data: {\"choices\":[{\"index\":0,\"del", "ta\":{\"content\":\"b\"}}]}\n\n",
			"event: message\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"c\"},\"finish_reason\":\"length\"}]}\n\n",
			"data: [DONE]",
		}
		for _, p := range parts {
			_, _ = w.Write([]byte(p))
			fl.Flush()
			time.Sleep(5 * time.Millisecond)
		}
	}))
	defer hs.Close()
	p := newProvider(t, provider.KindOpenAI, hs.URL)
	deltas, res, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(deltas, "|") != "a|b|c" || res.Finish != provider.FinishLength {
		t.Fatalf("deltas %q finish %q", deltas, res.Finish)
	}
}

func TestRetriesTransientErrors(t *testing.T) {
	for _, kind := range []provider.Kind{provider.KindOpenAI, provider.KindAnthropic} {
		t.Run(string(kind), func(t *testing.T) {
			srv := fakeFor(t, kind)
			srv.Push(fakellm.Reply{Status: 429, RetryAfter: "0", Message: "slow down"},
				fakellm.Reply{Status: 503, Message: "overloaded"},
				fakellm.Reply{Deltas: []string{"ok"}})
			p := newProvider(t, kind, srv.URL)
			_, res, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Content != "ok" || len(srv.Requests()) != 3 {
				t.Fatalf("content %q after %d requests", res.Content, len(srv.Requests()))
			}
		})
	}
}

func fakeFor(t *testing.T, kind provider.Kind) *fakellm.Server {
	if kind == provider.KindAnthropic {
		return fakellm.NewAnthropic(t)
	}
	return fakellm.NewOpenAI(t)
}

func TestRetryAfterIsRespected(t *testing.T) {
	srv := fakellm.NewOpenAI(t)
	srv.Push(fakellm.Reply{Status: 429, RetryAfter: "1", Message: "rate limited"})
	p := newProvider(t, provider.KindOpenAI, srv.URL)
	start := time.Now()
	_, _, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("retried after %v, want the 1s of Retry-After", waited)
	}
}

func TestNoRetryOnClientErrorsOrGiveUp(t *testing.T) {
	srv := fakellm.NewOpenAI(t)
	srv.Push(fakellm.Reply{Status: 400, Message: "model 'nope' does not exist"})
	p := newProvider(t, provider.KindOpenAI, srv.URL)
	_, _, err := collect(t, p, &provider.Request{Model: "nope", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
	var e *provider.Error
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, "does not exist") {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d requests for a 400, want 1", n)
	}

	srv.Default(fakellm.Reply{Status: 500, Message: "boom"})
	p = newProvider(t, provider.KindOpenAI, srv.URL, func(o *provider.Options) { o.MaxRetries = 2 })
	_, _, err = collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
	if !errors.As(err, &e) || e.Status != 500 {
		t.Fatalf("err = %v", err)
	}
	if n := len(srv.Requests()); n != 1+3 {
		t.Fatalf("%d requests in all, want 1 + 1 try + 2 retries", n)
	}
}

// Once text reached the caller a retry would repeat it: the error is final.
func TestNoRetryAfterDelivery(t *testing.T) {
	for _, kind := range []provider.Kind{provider.KindOpenAI, provider.KindAnthropic} {
		t.Run(string(kind), func(t *testing.T) {
			srv := fakeFor(t, kind)
			srv.Push(fakellm.Reply{Deltas: []string{"one", "two", "three"}, CutAfter: 2})
			p := newProvider(t, kind, srv.URL)
			deltas, _, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
			if err == nil || !strings.Contains(err.Error(), "stream") {
				t.Fatalf("err = %v, want a stream error", err)
			}
			if strings.Join(deltas, "") != "onetwo" || len(srv.Requests()) != 1 {
				t.Fatalf("deltas %q, %d requests", deltas, len(srv.Requests()))
			}
		})
	}
}

func TestStreamErrorEvent(t *testing.T) {
	for _, kind := range []provider.Kind{provider.KindOpenAI, provider.KindAnthropic} {
		t.Run(string(kind), func(t *testing.T) {
			srv := fakeFor(t, kind)
			srv.Default(fakellm.Reply{Deltas: []string{"partial"}, StreamError: true, Message: "model crashed"})
			p := newProvider(t, kind, srv.URL)
			_, _, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
			if err == nil || !strings.Contains(err.Error(), "model crashed") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestCancelClosesUpstream(t *testing.T) {
	for _, kind := range []provider.Kind{provider.KindOpenAI, provider.KindAnthropic} {
		t.Run(string(kind), func(t *testing.T) {
			srv := fakeFor(t, kind)
			srv.Push(fakellm.Reply{Deltas: []string{"first"}, Hold: true})
			p := newProvider(t, kind, srv.URL)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := p.Chat(ctx, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}},
					func(string) error { cancel(); return nil })
				done <- err
			}()
			select {
			case <-srv.Closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not see the connection close after cancel")
			}
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := fakellm.NewOpenAI(t)
	srv.Push(fakellm.Reply{Deltas: []string{"x"}, Hold: true})
	p := newProvider(t, provider.KindOpenAI, srv.URL, func(o *provider.Options) { o.IdleTimeout = 200 * time.Millisecond })
	_, _, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
	if err == nil || !strings.Contains(err.Error(), "no data from the server") {
		t.Fatalf("err = %v", err)
	}
	select {
	case <-srv.Closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle request was not closed")
	}
}

func TestAnthropicStreamToolsAndRequest(t *testing.T) {
	srv := fakellm.NewAnthropic(t)
	srv.Push(fakellm.Reply{Deltas: []string{"Let me ", "check."},
		ToolCalls: []fakellm.ToolCall{{ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Name: "get_weather", Arguments: `{"location": "San Francisco, CA", "unit": "fahrenheit"}`, ArgChunk: 7}},
		Usage:     &fakellm.Usage{Prompt: 472, Completion: 89}})
	p := newProvider(t, provider.KindAnthropic, srv.URL)
	deltas, res, err := collect(t, p, &provider.Request{
		Model: "claude-x", Temperature: temp(1.5), Stop: []string{"\n\nHuman:"}, JSONMode: true,
		Messages: []provider.Message{
			{Role: provider.RoleSystem, Content: "You are terse."},
			{Role: provider.RoleUser, Content: "weather and time?"},
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "t1", Name: "a", Arguments: `{"x":1}`}, {ID: "t2", Name: "b"}}},
			{Role: provider.RoleTool, ToolCallID: "t1", Content: "A"},
			{Role: provider.RoleTool, ToolCallID: "t2", Content: "B"},
		},
		Tools: []provider.Tool{{Name: "get_weather", Parameters: `{"type":"object","properties":{"location":{"type":"string"}}}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(deltas, "|") != "Let me |check." {
		t.Fatalf("deltas = %q", deltas)
	}
	if len(res.ToolCalls) != 1 || res.ToolCalls[0].ID != "toolu_01T1x1fJ34qAmk2tNTrN7Up6" || res.ToolCalls[0].Arguments != `{"location": "San Francisco, CA", "unit": "fahrenheit"}` {
		t.Fatalf("tool calls = %+v", res.ToolCalls)
	}
	if res.Finish != provider.FinishToolCalls || res.Model != "fake-claude" || res.Usage != (provider.Usage{PromptTokens: 472, CompletionTokens: 89}) {
		t.Fatalf("result = %+v", res)
	}
	r := srv.Requests()[0]
	if r.Header.Get("x-api-key") != "sk-test" || r.Header.Get("anthropic-version") != "2023-06-01" {
		t.Errorf("headers = %v", r.Header)
	}
	b := r.Body
	if b["max_tokens"] != 4096.0 || b["temperature"] != 1.0 || b["stream"] != true {
		t.Errorf("body = %s", r.Raw)
	}
	if sys, _ := b["system"].(string); !strings.HasPrefix(sys, "You are terse.") || !strings.Contains(sys, "JSON") {
		t.Errorf("system = %q", b["system"])
	}
	msgs := b["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("messages = %s", r.Raw)
	}
	asst := msgs[1].(map[string]any)["content"].([]any)
	if len(asst) != 2 || asst[0].(map[string]any)["type"] != "tool_use" || asst[1].(map[string]any)["input"].(map[string]any) == nil {
		t.Errorf("assistant blocks = %v", asst)
	}
	results := msgs[2].(map[string]any)
	blocks := results["content"].([]any)
	if results["role"] != "user" || len(blocks) != 2 || blocks[1].(map[string]any)["tool_use_id"] != "t2" {
		t.Errorf("tool results = %v", results)
	}
	tool := b["tools"].([]any)[0].(map[string]any)
	if tool["input_schema"].(map[string]any)["type"] != "object" {
		t.Errorf("tool = %v", tool)
	}
}

func TestEndpointsAndKinds(t *testing.T) {
	for _, c := range []struct {
		url  string
		kind provider.Kind
		want string
	}{
		{"http://127.0.0.1:8080", provider.KindOpenAI, "http://127.0.0.1:8080/v1/chat/completions"},
		{"https://api.openai.com/v1/", provider.KindOpenAI, "https://api.openai.com/v1/chat/completions"},
		{"https://api.groq.com/openai/v1", provider.KindOpenAI, "https://api.groq.com/openai/v1/chat/completions"},
		{"http://h/v1/chat/completions", provider.KindOpenAI, "http://h/v1/chat/completions"},
		{"https://api.anthropic.com", "", "https://api.anthropic.com/v1/messages"},
	} {
		got := provider.EndpointFor(c.url, c.kind)
		if got != c.want {
			t.Errorf("EndpointFor(%q) = %q, want %q", c.url, got, c.want)
		}
	}
	if provider.InferKind("https://api.anthropic.com/v1") != provider.KindAnthropic || provider.InferKind("http://evilanthropic.com") != provider.KindOpenAI {
		t.Error("InferKind")
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{"": 0, "2": 2 * time.Second, "0.5": 500 * time.Millisecond, "junk": 0,
		"Fri, 02 Jan 2026 03:04:15 GMT": 10 * time.Second, "Fri, 02 Jan 2026 03:04:00 GMT": 0} {
		if got := provider.RetryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
	if _, err := provider.New(provider.Options{URL: "ftp://x"}); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := provider.New(provider.Options{URL: "http://x", Kind: "gemini"}); err == nil {
		t.Error("unknown kind accepted")
	}
}

// Bodies that are not an LLM API's JSON error are not echoed back.
func TestForeignErrorBodyNotEchoed(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html>internal admin console: secret-token-123</html>"))
	}))
	defer hs.Close()
	p := newProvider(t, provider.KindOpenAI, hs.URL)
	_, _, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}})
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v", err)
	}
}

// A server that drops a kept-alive connection when the next request
// arrives on it (as llama-server does after a stream) costs no error and no
// back-off: the request is resent on a new connection.
func TestDeadKeepAliveConnectionIsReplayed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if n == 1 {
						return // second request on this connection: drop it
					}
					body := "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\nKeep-Alive: timeout=5, max=100\r\n\r\n%s", len(body), body)
				}
			}(c)
		}
	}()
	p := newProvider(t, provider.KindOpenAI, "http://"+ln.Addr().String(), func(o *provider.Options) {
		o.MaxRetries = -1
		o.Client = &http.Client{Transport: &http.Transport{}}
	})
	for i := 0; i < 3; i++ {
		if _, res, err := collect(t, p, &provider.Request{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser, Content: "x"}}}); err != nil || res.Content != "ok" {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 (each dead one replaced)", n)
	}
}
