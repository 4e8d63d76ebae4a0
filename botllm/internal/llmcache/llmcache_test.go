package llmcache_test

import (
	"context"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botllm/internal/llmcache"
	"github.com/botserver-go/botserver-go/botllm/internal/provider"
	"github.com/botserver-go/botserver-go/botstate/cache"
	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

func backends(t *testing.T) map[string]cache.Cache {
	mem := cache.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	r, _ := testutil.NewRedis(t)
	return map[string]cache.Cache{"memory": mem, "redis": r}
}

func req(q string) *provider.Request {
	return &provider.Request{Model: "m", Messages: []provider.Message{
		{Role: provider.RoleSystem, Content: "sys"}, {Role: provider.RoleUser, Content: q}}}
}

func TestExact(t *testing.T) {
	ctx := context.Background()
	for name, c := range backends(t) {
		t.Run(name, func(t *testing.T) {
			lc := llmcache.New(c)
			s := llmcache.Scope{Org: "o1", Bot: "b", URL: "http://x", Kind: "openai"}
			k := llmcache.ExactKey(s, req("hi"))
			if k == llmcache.ExactKey(s, req("hi ")) || k == llmcache.ExactKey(llmcache.Scope{Org: "o2", Bot: "b", URL: "http://x"}, req("hi")) {
				t.Fatal("keys must differ by message and org")
			}
			t2 := 0.5
			r2 := req("hi")
			r2.Temperature = &t2
			if k == llmcache.ExactKey(s, r2) {
				t.Fatal("keys must differ by params")
			}
			if _, ok, err := lc.Get(ctx, k); ok || err != nil {
				t.Fatalf("empty cache: %v %v", ok, err)
			}
			if err := lc.Put(ctx, k, &llmcache.Entry{Content: "hello", Finish: provider.FinishStop, Model: "m"}, time.Second); err != nil {
				t.Fatal(err)
			}
			e, ok, err := lc.Get(ctx, k)
			if err != nil || !ok || e.Content != "hello" || e.Model != "m" {
				t.Fatalf("get: %+v %v %v", e, ok, err)
			}
			time.Sleep(1100 * time.Millisecond)
			if _, ok, _ := lc.Get(ctx, k); ok {
				t.Fatal("entry outlived its TTL")
			}
		})
	}
}

func TestSemantic(t *testing.T) {
	ctx := context.Background()
	emb := embed.NewLocal(0)
	vec := func(s string) []float32 {
		v, err := emb.Embed(ctx, []string{s})
		if err != nil {
			t.Fatal(err)
		}
		return v[0]
	}
	for name, c := range backends(t) {
		t.Run(name, func(t *testing.T) {
			lc := llmcache.New(c)
			lc.MaxSemantic = 3
			s := llmcache.Scope{Org: "o", Bot: "b", URL: "u"}
			q, key, ok := llmcache.SemanticQuestion(s, emb.Model(), req("What are the opening hours?"))
			if !ok || q != "What are the opening hours?" {
				t.Fatalf("question %q %v", q, ok)
			}
			_, key2, _ := llmcache.SemanticQuestion(s, emb.Model(), req("something else entirely"))
			if key != key2 {
				t.Fatal("the context key must not depend on the question")
			}
			other := req("x")
			other.Messages[0].Content = "another system prompt"
			if _, k, _ := llmcache.SemanticQuestion(s, emb.Model(), other); k == key {
				t.Fatal("the context key must depend on the rest of the conversation")
			}
			tool := req("x")
			tool.Messages = append(tool.Messages, provider.Message{Role: provider.RoleTool, Content: "r", ToolCallID: "1"})
			if _, _, ok := llmcache.SemanticQuestion(s, emb.Model(), tool); ok {
				t.Fatal("a conversation ending with a tool result has no semantic question")
			}
			if err := lc.Remember(ctx, key, vec("What are the opening hours?"), &llmcache.Entry{Content: "9-17"}, time.Minute); err != nil {
				t.Fatal(err)
			}
			e, sim, hit, err := lc.Similar(ctx, key, vec("what are the opening hours"), 0.8)
			if err != nil || !hit || e.Content != "9-17" {
				t.Fatalf("paraphrase: hit=%v sim=%v %v", hit, sim, err)
			}
			if _, sim, hit, _ := lc.Similar(ctx, key, vec("Do you sell coffee?"), 0.8); hit {
				t.Fatalf("unrelated question hit with similarity %v", sim)
			}
			// The list keeps the most recent MaxSemantic entries.
			for _, q := range []string{"alpha beta", "gamma delta", "epsilon zeta"} {
				if err := lc.Remember(ctx, key, vec(q), &llmcache.Entry{Content: q}, time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, hit, _ := lc.Similar(ctx, key, vec("What are the opening hours?"), 0.99); hit {
				t.Fatal("the oldest entry should have been dropped")
			}
		})
	}
}

func TestCacheable(t *testing.T) {
	for _, c := range []struct {
		r    *provider.Result
		want bool
	}{
		{&provider.Result{Content: "x", Finish: provider.FinishStop}, true},
		{&provider.Result{Content: "x", Finish: provider.FinishLength}, false},
		{&provider.Result{Content: "x", Finish: provider.FinishStop, ToolCalls: []provider.ToolCall{{Name: "t"}}}, false},
		{&provider.Result{Content: "", Finish: provider.FinishStop}, false},
		{nil, false},
	} {
		if got := llmcache.Cacheable(c.r); got != c.want {
			t.Errorf("Cacheable(%+v) = %v", c.r, got)
		}
	}
}
