package botserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botserver-go/botserver-go/botcore/api/llm"
	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botllm"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

// openAIStream answers every chat completion with a two-token SSE stream
// that reports 7+3 tokens of usage.
func openAIStream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, d := range []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"!"},"finish_reason":"stop"}]}`,
		`{"choices":[],"model":"tiny","usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`,
		`[DONE]`,
	} {
		fmt.Fprintf(w, "data: %s\n\n", d)
	}
}

// Admins read usage and set budgets over HTTP; the gateway forwards their
// token and botllm scopes it to their organisation.
func TestLLMUsageAndBudgetAPI(t *testing.T) {
	iss := authztest.NewIssuer(t)
	addrs := apptest.Start(t, append(iss.Env(), "LLM_USAGE_FLUSH=100ms"), botllm.Service())
	cc, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	gw, err := gateway.New(gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	llm.Register(gw, cc)
	api := httptest.NewServer(gw)
	defer api.Close()
	upstream := httptest.NewServer(http.HandlerFunc(openAIStream))
	defer upstream.Close()

	org := uuid.NewString()
	admin := iss.User(org, "org:admin")
	user := iss.User(org, "llm:use")

	// Some usage: one chat of bot "faq".
	ctx := iss.Context(context.Background(), user)
	st, err := llmv1.NewLlmServiceClient(cc).Chat(ctx, &llmv1.ChatRequest{Bot: "faq",
		Messages: []*llmv1.Message{{Role: llmv1.Role_ROLE_USER, Content: "hello"}},
		Config:   map[string]string{"llm-url": upstream.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := st.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}

	do := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	if code, out := do("PUT", "/api/v1/llm/budget", admin, `{"bot":"faq","monthly_token_limit":1000}`); code != 200 || out["used_tokens"] != 10.0 {
		t.Fatalf("PUT budget: %d %v", code, out)
	}
	code, out := do("GET", "/api/v1/llm/usage", admin, "")
	if code != 200 {
		t.Fatalf("GET usage: %d %v", code, out)
	}
	rows := out["rows"].([]any)
	if len(rows) != 1 {
		t.Fatalf("rows = %v", rows)
	}
	row := rows[0].(map[string]any)
	if row["bot"] != "faq" || row["model"] != "tiny" || row["prompt_tokens"] != 7.0 || row["completion_tokens"] != 3.0 {
		t.Fatalf("row = %v", row)
	}
	if b := out["budgets"].([]any); len(b) != 1 || b[0].(map[string]any)["monthly_token_limit"] != 1000.0 {
		t.Fatalf("budgets = %v", b)
	}

	// Another org's admin sees nothing of it.
	if code, out := do("GET", "/api/v1/llm/usage", iss.User(uuid.NewString(), "org:admin"), ""); code != 200 || len(out["rows"].([]any)) != 0 {
		t.Fatalf("other org: %d %v", code, out)
	}
	for _, c := range []struct {
		method, path, token, body string
		status                    int
		code                      string
	}{
		{"GET", "/api/v1/llm/usage", "", "", 401, "unauthorized"},
		{"GET", "/api/v1/llm/usage", user, "", 403, "forbidden"},
		{"GET", "/api/v1/llm/usage?from=yesterday", admin, "", 400, "bad_request"},
		{"PUT", "/api/v1/llm/budget", admin, `{"bot":"faq"}`, 400, "bad_request"},
		{"PUT", "/api/v1/llm/budget", admin, `{"bot":"Not A Bot","monthly_token_limit":5}`, 400, "bad_request"},
		{"PUT", "/api/v1/llm/budget", admin, `{"monthly_token_limit":-1}`, 400, "bad_request"},
	} {
		code, out := do(c.method, c.path, c.token, c.body)
		errBody, _ := out["error"].(map[string]any)
		if code != c.status || errBody["code"] != c.code || errBody["message"] == "" {
			t.Errorf("%s %s %s: %d %v, want %d %s", c.method, c.path, c.body, code, out, c.status, c.code)
		}
	}
}
