// Package llm is the public HTTP API of botllm for organisation admins:
// token usage per bot, model and day, and monthly token budgets.
//
//	GET /api/v1/llm/usage?bot=&from=YYYY-MM-DD&to=YYYY-MM-DD
//	PUT /api/v1/llm/budget   {"bot":"", "monthly_token_limit":1000000}
//
// Both need org:admin; the caller's token is forwarded to botllm, which
// scopes everything to the token's organisation.
package llm

import (
	"context"
	"net/http"

	"google.golang.org/grpc"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

// Usage is the JSON of GET /api/v1/llm/usage.
type Usage struct {
	Rows    []UsageRow `json:"rows"`
	Budgets []Budget   `json:"budgets"`
}

// UsageRow is one bot/model/day.
type UsageRow struct {
	Bot              string `json:"bot"`
	Model            string `json:"model"`
	Day              string `json:"day"`
	Requests         int64  `json:"requests"`
	CachedRequests   int64  `json:"cached_requests"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
}

// Budget is a monthly token budget ("bot" empty: the organisation's).
type Budget struct {
	Bot               string `json:"bot"`
	MonthlyTokenLimit int64  `json:"monthly_token_limit"`
	UsedTokens        int64  `json:"used_tokens"`
}

// Register mounts the routes on gw, calling botllm through cc.
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	c := llmv1.NewLlmServiceClient(cc)
	gw.HandleFunc("GET /api/v1/llm/usage", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		resp, err := c.GetUsage(forward(r), &llmv1.GetUsageRequest{Bot: q.Get("bot"), From: q.Get("from"), To: q.Get("to")})
		if err != nil {
			writeStatus(w, err)
			return
		}
		out := Usage{Rows: []UsageRow{}, Budgets: []Budget{}}
		for _, x := range resp.GetRows() {
			out.Rows = append(out.Rows, UsageRow{Bot: x.GetBot(), Model: x.GetModel(), Day: x.GetDay(), Requests: x.GetRequests(),
				CachedRequests: x.GetCachedRequests(), PromptTokens: x.GetPromptTokens(), CompletionTokens: x.GetCompletionTokens()})
		}
		for _, b := range resp.GetBudgets() {
			out.Budgets = append(out.Budgets, budget(b))
		}
		gateway.WriteJSON(w, http.StatusOK, out)
	})
	gw.HandleFunc("PUT /api/v1/llm/budget", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Bot               string `json:"bot"`
			MonthlyTokenLimit *int64 `json:"monthly_token_limit"`
		}
		if !gateway.DecodeJSON(w, r, &in) {
			return
		}
		if in.MonthlyTokenLimit == nil {
			gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "monthly_token_limit is required (0 removes the budget)")
			return
		}
		resp, err := c.SetBudget(forward(r), &llmv1.SetBudgetRequest{Bot: in.Bot, MonthlyTokenLimit: *in.MonthlyTokenLimit})
		if err != nil {
			writeStatus(w, err)
			return
		}
		gateway.WriteJSON(w, http.StatusOK, budget(resp.GetBudget()))
	})
}

func budget(b *llmv1.Budget) Budget {
	return Budget{Bot: b.GetBot(), MonthlyTokenLimit: b.GetMonthlyTokenLimit(), UsedTokens: b.GetUsedTokens()}
}

func forward(r *http.Request) context.Context { return gateway.Forward(r, false) }

// writeStatus maps a gRPC status to the JSON error format.
func writeStatus(w http.ResponseWriter, err error) { gateway.WriteStatus(w, err, "botllm") }
