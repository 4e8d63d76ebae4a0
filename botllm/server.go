package botllm

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botllm/internal/llmcache"
	"github.com/botserver-go/botserver-go/botllm/internal/provider"
	"github.com/botserver-go/botserver-go/botllm/internal/usage"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/embed"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

// Limits on what a caller may send.
const (
	maxMessages      = 1000
	maxPromptBytes   = 2 << 20
	maxTools         = 128
	maxToolSchema    = 64 << 10
	maxStops         = 4
	maxStopBytes     = 256
	maxTokensLimit   = 1_000_000
	maxPassages      = 100
	maxPassageBytes  = 64 << 10
	maxConfigEntries = 512
	maxConfigValue   = 16 << 10
	maxEmbedTexts    = 256
	maxEmbedBytes    = 4 << 20
	maxBudget        = int64(1) << 50
)

var (
	botName  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// policy says who may call what; Chat, Complete and Embed serve bots
// (botchat and botauto call them with their service identity or a user's).
var policy = authz.Policy{
	llmv1.LlmService_Chat_FullMethodName:      {Permission: "llm:use"},
	llmv1.LlmService_Complete_FullMethodName:  {Permission: "llm:use"},
	llmv1.LlmService_Embed_FullMethodName:     {Permission: "llm:use"},
	llmv1.LlmService_GetUsage_FullMethodName:  {Permission: "org:admin"},
	llmv1.LlmService_SetBudget_FullMethodName: {Permission: "org:admin"},
}

type server struct {
	llmv1.UnimplementedLlmServiceServer
	set    *Settings
	log    *slog.Logger
	cache  *llmcache.Cache
	usage  *usage.Store
	client *http.Client // nil: the providers' default

	mu        sync.Mutex
	embedders map[embed.Settings]embed.Embedder
}

func newServer(set *Settings, log *slog.Logger, c *llmcache.Cache, u *usage.Store) *server {
	return &server{set: set, log: log, cache: c, usage: u, embedders: map[embed.Settings]embed.Embedder{}}
}

// input is a validated generation request.
type input struct {
	bot      string
	req      *provider.Request
	cfg      *botConfig
	passages []*llmv1.Passage
}

func invalid(format string, a ...any) error {
	return status.Errorf(codes.InvalidArgument, format, a...)
}

func checkBot(bot string, optional bool) error {
	if bot == "" && optional {
		return nil
	}
	if !botName.MatchString(bot) {
		return invalid("bot must be a bot name (lower-case letters, digits and -, up to 63), got %q", truncate(bot, 80))
	}
	return nil
}

func checkConfig(cfg map[string]string) error {
	if len(cfg) > maxConfigEntries {
		return invalid("config has %d entries, at most %d", len(cfg), maxConfigEntries)
	}
	for k, v := range cfg {
		if len(k) > 128 || len(v) > maxConfigValue {
			return invalid("config entry %q is too long", truncate(k, 40))
		}
	}
	return nil
}

func (s *server) newInput(bot string, msgs []*llmv1.Message, tools []*llmv1.Tool, p *llmv1.Params, cfg map[string]string, passages []*llmv1.Passage) (*input, error) {
	if err := checkBot(bot, false); err != nil {
		return nil, err
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	if len(msgs) == 0 || len(msgs) > maxMessages {
		return nil, invalid("messages: send 1 to %d, got %d", maxMessages, len(msgs))
	}
	req := &provider.Request{}
	size := 0
	for i, m := range msgs {
		pm := provider.Message{Content: m.GetContent(), ToolCallID: m.GetToolCallId()}
		switch m.GetRole() {
		case llmv1.Role_ROLE_SYSTEM:
			pm.Role = provider.RoleSystem
		case llmv1.Role_ROLE_USER:
			pm.Role = provider.RoleUser
		case llmv1.Role_ROLE_ASSISTANT:
			pm.Role = provider.RoleAssistant
		case llmv1.Role_ROLE_TOOL:
			pm.Role = provider.RoleTool
			if pm.ToolCallID == "" {
				return nil, invalid("messages[%d]: a tool message needs tool_call_id", i)
			}
		default:
			return nil, invalid("messages[%d]: role must be system, user, assistant or tool", i)
		}
		for j, tc := range m.GetToolCalls() {
			if pm.Role != provider.RoleAssistant {
				return nil, invalid("messages[%d]: only assistant messages carry tool calls", i)
			}
			if tc.GetId() == "" || !toolName.MatchString(tc.GetName()) {
				return nil, invalid("messages[%d].tool_calls[%d]: needs an id and a tool name", i, j)
			}
			pm.ToolCalls = append(pm.ToolCalls, provider.ToolCall{ID: tc.GetId(), Name: tc.GetName(), Arguments: tc.GetArguments()})
			size += len(tc.GetArguments())
		}
		if !utf8.ValidString(pm.Content) {
			return nil, invalid("messages[%d]: content is not valid UTF-8", i)
		}
		size += len(pm.Content)
		req.Messages = append(req.Messages, pm)
	}
	if size > maxPromptBytes {
		return nil, invalid("messages are %d bytes, at most %d", size, maxPromptBytes)
	}
	if len(tools) > maxTools {
		return nil, invalid("tools: at most %d, got %d", maxTools, len(tools))
	}
	seen := map[string]bool{}
	for i, t := range tools {
		if !toolName.MatchString(t.GetName()) || seen[t.GetName()] {
			return nil, invalid("tools[%d]: name must be unique, 1-64 of a-z A-Z 0-9 _ -, got %q", i, truncate(t.GetName(), 80))
		}
		seen[t.GetName()] = true
		if len(t.GetParameters()) > maxToolSchema || len(t.GetDescription()) > maxToolSchema {
			return nil, invalid("tools[%d] %s: description and parameters must be under %d bytes", i, t.GetName(), maxToolSchema)
		}
		if ps := t.GetParameters(); ps != "" && !isJSONObject(ps) {
			return nil, invalid("tools[%d] %s: parameters must be a JSON schema object", i, t.GetName())
		}
		req.Tools = append(req.Tools, provider.Tool{Name: t.GetName(), Description: t.GetDescription(), Parameters: t.GetParameters()})
	}
	if len(passages) > maxPassages {
		return nil, invalid("passages: at most %d, got %d", maxPassages, len(passages))
	}
	for i, ps := range passages {
		if len(ps.GetText()) > maxPassageBytes || len(ps.GetSource()) > 2048 {
			return nil, invalid("passages[%d] is too long (text up to %d bytes)", i, maxPassageBytes)
		}
	}
	c, err := resolve(s.set, cfg)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "bot %s config: %v", bot, err)
	}
	req.Model, req.Temperature, req.MaxTokens = c.model, c.temperature, c.maxTokens
	if p != nil {
		if p.Temperature != nil {
			t := p.GetTemperature()
			if t < 0 || t > 2 {
				return nil, invalid("params.temperature must be from 0 to 2, got %v", t)
			}
			req.Temperature = &t
		}
		if n := p.GetMaxTokens(); n != 0 {
			if n < 0 || n > maxTokensLimit {
				return nil, invalid("params.max_tokens must be from 1 to %d, got %d", maxTokensLimit, n)
			}
			req.MaxTokens = int(n)
		}
		if len(p.GetStop()) > maxStops {
			return nil, invalid("params.stop: at most %d sequences", maxStops)
		}
		for _, st := range p.GetStop() {
			if st == "" || len(st) > maxStopBytes {
				return nil, invalid("params.stop: sequences must be 1 to %d bytes", maxStopBytes)
			}
		}
		req.Stop = p.GetStop()
		req.JSONMode = p.GetJsonMode()
	}
	return &input{bot: bot, req: req, cfg: c, passages: passages}, nil
}

// outcome is a finished generation.
type outcome struct {
	content   string
	toolCalls []provider.ToolCall
	finish    llmv1.FinishReason
	usage     provider.Usage
	model     string
	cached    bool
}

// generate runs one request: the no-model fallback, or the cache, the
// budget check and the provider. emit receives the text as it streams.
func (s *server) generate(ctx context.Context, org string, in *input, emit func(string) error) (*outcome, error) {
	if in.cfg.url == "" {
		text := fallbackAnswer(in.passages)
		if err := emitChunks(text, emit); err != nil {
			return nil, err
		}
		return &outcome{content: text, finish: llmv1.FinishReason_FINISH_REASON_NO_MODEL}, nil
	}
	scope := llmcache.Scope{Org: org, Bot: in.bot, URL: in.cfg.url, Kind: string(in.cfg.kind)}
	var exactKey, semKey string
	var semVec []float32
	if in.cfg.cache {
		exactKey = llmcache.ExactKey(scope, in.req)
		e, ok, err := s.cache.Get(ctx, exactKey)
		if err != nil {
			s.log.WarnContext(ctx, "llm cache read failed", "err", err)
		}
		if !ok && in.cfg.semantic {
			e, semKey, semVec, ok = s.semanticLookup(ctx, scope, in)
		}
		if ok {
			if err := emitChunks(e.Content, emit); err != nil {
				return nil, err
			}
			s.usage.Record(org, in.bot, usageModel(e.Model, in.cfg.model), usage.Counts{Requests: 1, Cached: 1})
			return &outcome{content: e.Content, finish: finishReason(e.Finish), model: e.Model, cached: true}, nil
		}
	}
	if err := s.usage.Check(ctx, org, in.bot); err != nil {
		if errors.Is(err, usage.ErrBudgetExceeded) {
			return nil, status.Error(codes.ResourceExhausted, err.Error())
		}
		s.log.ErrorContext(ctx, "budget check failed", "err", err)
		return nil, status.Errorf(codes.Internal, "budget check failed")
	}
	p, err := provider.New(provider.Options{Kind: in.cfg.kind, URL: in.cfg.url, Key: in.cfg.key,
		Timeout: s.set.Timeout, IdleTimeout: s.set.IdleTimeout, MaxRetries: retries(s.set.MaxRetries), Client: s.client})
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "bot %s: %v", in.bot, err)
	}
	res, err := p.Chat(ctx, in.req, emit)
	if err != nil {
		if ctx.Err() == nil {
			s.usage.Record(org, in.bot, usageModel("", in.cfg.model), usage.Counts{Requests: 1, Failed: 1})
		}
		return nil, upstreamStatus(ctx, err)
	}
	model := usageModel(res.Model, in.cfg.model)
	s.usage.Record(org, in.bot, model, usage.Counts{Requests: 1, Prompt: res.Usage.PromptTokens, Completion: res.Usage.CompletionTokens})
	if in.cfg.cache && llmcache.Cacheable(res) {
		e := &llmcache.Entry{Content: res.Content, Finish: res.Finish, Model: res.Model, Usage: res.Usage}
		// The answer is complete for the caller: store it even if the caller leaves now.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := s.cache.Put(cctx, exactKey, e, in.cfg.cacheTTL); err != nil {
			s.log.WarnContext(ctx, "llm cache write failed", "err", err)
		}
		if semKey != "" && semVec != nil {
			if err := s.cache.Remember(cctx, semKey, semVec, e, in.cfg.cacheTTL); err != nil {
				s.log.WarnContext(ctx, "llm semantic cache write failed", "err", err)
			}
		}
		cancel()
	}
	return &outcome{content: res.Content, toolCalls: res.ToolCalls, finish: finishReason(res.Finish), usage: res.Usage, model: res.Model}, nil
}

// semanticLookup embeds the last user message and looks for a close
// question asked before in the same context. Failures only cost the hit.
func (s *server) semanticLookup(ctx context.Context, scope llmcache.Scope, in *input) (*llmcache.Entry, string, []float32, bool) {
	emb, err := s.embedder(in.cfg.embedding)
	if err != nil {
		s.log.WarnContext(ctx, "semantic cache: no embedder", "err", err)
		return nil, "", nil, false
	}
	question, key, ok := llmcache.SemanticQuestion(scope, emb.Model(), in.req)
	if !ok {
		return nil, "", nil, false
	}
	vecs, err := emb.Embed(ctx, []string{question})
	if err != nil || len(vecs) != 1 {
		s.log.WarnContext(ctx, "semantic cache: embedding failed", "err", err)
		return nil, "", nil, false
	}
	e, _, hit, err := s.cache.Similar(ctx, key, vecs[0], in.cfg.threshold)
	if err != nil {
		s.log.WarnContext(ctx, "semantic cache read failed", "err", err)
	}
	return e, key, vecs[0], hit
}

func (s *server) embedder(set embed.Settings) (embed.Embedder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.embedders[set]; ok {
		return e, nil
	}
	e, err := embed.New(set)
	if err != nil {
		return nil, err
	}
	if len(s.embedders) >= 256 { // bots with their own embedding servers: keep it bounded
		clear(s.embedders)
	}
	s.embedders[set] = e
	return e, nil
}

func retries(n int) int {
	if n == 0 {
		return -1 // provider.Options: 0 means its default
	}
	return n
}

func usageModel(reported, configured string) string {
	if reported != "" {
		return reported
	}
	if configured != "" {
		return configured
	}
	return "default"
}

func finishReason(f provider.Finish) llmv1.FinishReason {
	switch f {
	case provider.FinishLength:
		return llmv1.FinishReason_FINISH_REASON_LENGTH
	case provider.FinishToolCalls:
		return llmv1.FinishReason_FINISH_REASON_TOOL_CALLS
	case provider.FinishContentFilter:
		return llmv1.FinishReason_FINISH_REASON_CONTENT_FILTER
	}
	return llmv1.FinishReason_FINISH_REASON_STOP
}

// upstreamStatus maps a provider failure to a gRPC status the caller can act on.
func upstreamStatus(ctx context.Context, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return err // the caller's stream failed (Send error)
	}
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case ctx.Err() != nil:
		return status.Error(codes.DeadlineExceeded, "the call's deadline passed before the model finished")
	}
	var e *provider.Error
	if errors.As(err, &e) {
		switch {
		case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
			return status.Errorf(codes.FailedPrecondition, "the LLM server refused the credentials (check llm-key or LLM_KEY): %s", e.Message)
		case e.Status >= 400 && e.Status < 500 && !e.Temporary:
			return status.Errorf(codes.FailedPrecondition, "the LLM server rejected the request (check llm-model and the request): %s", e.Message)
		}
		return status.Errorf(codes.Unavailable, "%s", e.Error())
	}
	return status.Errorf(codes.Unavailable, "LLM request failed: %v", err)
}

// Chat streams one reply.
func (s *server) Chat(req *llmv1.ChatRequest, stream llmv1.LlmService_ChatServer) error {
	ctx := stream.Context()
	org, err := authz.OrgOf(ctx)
	if err != nil {
		return err
	}
	in, err := s.newInput(req.GetBot(), req.GetMessages(), req.GetTools(), req.GetParams(), req.GetConfig(), req.GetPassages())
	if err != nil {
		return err
	}
	out, err := s.generate(ctx, org, in, func(d string) error {
		return stream.Send(&llmv1.ChatResponse{Delta: d})
	})
	if err != nil {
		return err
	}
	if len(out.toolCalls) > 0 {
		msg := &llmv1.ChatResponse{}
		for _, tc := range out.toolCalls {
			msg.ToolCalls = append(msg.ToolCalls, &llmv1.ToolCall{Id: tc.ID, Name: tc.Name, Arguments: tc.Arguments})
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return stream.Send(&llmv1.ChatResponse{FinishReason: out.finish, Usage: usageProto(out), Model: out.model, Cached: out.cached})
}

func usageProto(o *outcome) *llmv1.Usage {
	u := o.usage
	return &llmv1.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		TotalTokens: u.PromptTokens + u.CompletionTokens, Estimated: u.Estimated}
}

// Complete answers one prompt without streaming.
func (s *server) Complete(ctx context.Context, req *llmv1.CompleteRequest) (*llmv1.CompleteResponse, error) {
	org, err := authz.OrgOf(ctx)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.GetPrompt()) == "" {
		return nil, invalid("prompt must not be empty")
	}
	var msgs []*llmv1.Message
	if req.GetSystem() != "" {
		msgs = append(msgs, &llmv1.Message{Role: llmv1.Role_ROLE_SYSTEM, Content: req.GetSystem()})
	}
	msgs = append(msgs, &llmv1.Message{Role: llmv1.Role_ROLE_USER, Content: req.GetPrompt()})
	in, err := s.newInput(req.GetBot(), msgs, nil, req.GetParams(), req.GetConfig(), req.GetPassages())
	if err != nil {
		return nil, err
	}
	out, err := s.generate(ctx, org, in, func(string) error { return nil })
	if err != nil {
		return nil, err
	}
	return &llmv1.CompleteResponse{Content: out.content, FinishReason: out.finish, Usage: usageProto(out), Model: out.model, Cached: out.cached}, nil
}

// Embed turns texts into vectors with the bot's embedder.
func (s *server) Embed(ctx context.Context, req *llmv1.EmbedRequest) (*llmv1.EmbedResponse, error) {
	if _, err := authz.OrgOf(ctx); err != nil {
		return nil, err
	}
	if err := checkBot(req.GetBot(), true); err != nil {
		return nil, err
	}
	if err := checkConfig(req.GetConfig()); err != nil {
		return nil, err
	}
	texts := req.GetTexts()
	if len(texts) == 0 || len(texts) > maxEmbedTexts {
		return nil, invalid("texts: send 1 to %d, got %d", maxEmbedTexts, len(texts))
	}
	size := 0
	for i, t := range texts {
		if !utf8.ValidString(t) {
			return nil, invalid("texts[%d] is not valid UTF-8", i)
		}
		size += len(t)
	}
	if size > maxEmbedBytes {
		return nil, invalid("texts are %d bytes, at most %d", size, maxEmbedBytes)
	}
	set, err := embeddingConfig(s.set.Embedding, req.GetConfig())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	emb, err := s.embedder(set)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "embedder: %v", err)
	}
	vecs, err := emb.Embed(ctx, texts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.Unavailable, "embedding failed: %v", err)
	}
	if len(vecs) != len(texts) {
		return nil, status.Errorf(codes.Unavailable, "the embedder returned %d vectors for %d texts", len(vecs), len(texts))
	}
	resp := &llmv1.EmbedResponse{Model: emb.Model()}
	for _, v := range vecs {
		resp.Vectors = append(resp.Vectors, &llmv1.Vector{Values: v})
		resp.Dimensions = int32(len(v))
	}
	return resp, nil
}

// GetUsage reports usage rows and budgets.
func (s *server) GetUsage(ctx context.Context, req *llmv1.GetUsageRequest) (*llmv1.GetUsageResponse, error) {
	org, err := authz.OrgOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkBot(req.GetBot(), true); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	from, to := usage.MonthStart(now), now
	if v := req.GetFrom(); v != "" {
		if from, err = time.Parse(time.DateOnly, v); err != nil {
			return nil, invalid("from must be a date YYYY-MM-DD, got %q", truncate(v, 40))
		}
	}
	if v := req.GetTo(); v != "" {
		if to, err = time.Parse(time.DateOnly, v); err != nil {
			return nil, invalid("to must be a date YYYY-MM-DD, got %q", truncate(v, 40))
		}
	}
	if to.Before(from) || to.Sub(from) > 366*24*time.Hour {
		return nil, invalid("from..to must be an ordered range of at most 366 days")
	}
	rows, err := s.usage.Report(ctx, org, req.GetBot(), usage.Day(from), usage.Day(to))
	if err != nil {
		s.log.ErrorContext(ctx, "usage report failed", "err", err)
		return nil, status.Error(codes.Internal, "usage report failed")
	}
	scope := req.GetBot()
	if scope == "" {
		scope = "*"
	}
	budgets, err := s.usage.Budgets(ctx, org, scope)
	if err != nil {
		s.log.ErrorContext(ctx, "budgets read failed", "err", err)
		return nil, status.Error(codes.Internal, "usage report failed")
	}
	resp := &llmv1.GetUsageResponse{}
	for _, r := range rows {
		resp.Rows = append(resp.Rows, &llmv1.UsageRow{Bot: r.Bot, Model: r.Model, Day: r.Day, Requests: r.Requests,
			CachedRequests: r.Cached, PromptTokens: r.Prompt, CompletionTokens: r.Completion})
	}
	for _, b := range budgets {
		resp.Budgets = append(resp.Budgets, &llmv1.Budget{Bot: b.Bot, MonthlyTokenLimit: b.Limit, UsedTokens: b.Used})
	}
	return resp, nil
}

// SetBudget sets or removes a monthly token budget.
func (s *server) SetBudget(ctx context.Context, req *llmv1.SetBudgetRequest) (*llmv1.SetBudgetResponse, error) {
	org, err := authz.OrgOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkBot(req.GetBot(), true); err != nil {
		return nil, err
	}
	if l := req.GetMonthlyTokenLimit(); l < 0 || l > maxBudget {
		return nil, invalid("monthly_token_limit must be from 0 (no budget) to %d", maxBudget)
	}
	b, err := s.usage.SetBudget(ctx, org, req.GetBot(), req.GetMonthlyTokenLimit())
	if err != nil {
		s.log.ErrorContext(ctx, "set budget failed", "err", err)
		return nil, status.Error(codes.Internal, "set budget failed")
	}
	return &llmv1.SetBudgetResponse{Budget: &llmv1.Budget{Bot: b.Bot, MonthlyTokenLimit: b.Limit, UsedTokens: b.Used}}, nil
}

func isJSONObject(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{") && jsonValid(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
