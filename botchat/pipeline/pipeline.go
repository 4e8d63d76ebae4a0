// Package pipeline runs one turn of a conversation: the bot's scripts first
// (botauto.Converse: start.bas on the first message, a waiting HEAR takes
// the message), then, when no script took the message, an LLM answer
// (botllm.Chat) built from the system prompt, the conversation's contexts
// and active switchers, recent history, passages of its knowledge bases
// (botvectordb) and its tools (botauto.ListTools/RunTool). Output leaves as
// frames through an Emitter as it is produced, and as messages to store
// once at the end of the turn.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botchat/store"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

// Defaults of per-bot settings.
const (
	DefaultHistoryLimit = 10
	MaxHistoryLimit     = 100
	// MaxToolRounds bounds model → tools → model round trips in one answer.
	MaxToolRounds = 5
	// TopK passages are retrieved per answer.
	TopK = 5
	// MaxWait bounds one WAIT of a script between messages.
	MaxWait = 5 * time.Second
)

// Clients are the services a turn calls. LLM and KB may be nil (not
// deployed): an LLM answer then fails with a clear error, and knowledge
// bases are not searched.
type Clients struct {
	Auto autov1.AutoServiceClient
	LLM  llmv1.LlmServiceClient
	KB   vectordbv1.VectordbServiceClient
}

// Emitter receives the frames of a turn in order.
type Emitter interface{ Emit(*chatv1.Frame) }

// Input is one turn to run.
type Input struct {
	// Conv is the conversation; the turn updates its script state (KBs,
	// tools, contexts, switchers, suggestions, SET USER) in place.
	Conv *store.Conversation
	Msg  *store.Message
	// History returns the last n messages before Msg (for the LLM).
	History func(ctx context.Context, n int) ([]*store.Message, error)
	// LastUser returns the user text a switcher toggle answers again.
	LastUser func(ctx context.Context) (*store.Message, error)
}

// Result is what the turn leaves to store.
type Result struct {
	Outputs  []*store.Message
	Transfer *store.Transfer
}

// Pipeline runs turns.
type Pipeline struct {
	c   Clients
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	bots map[string]cachedBot
	ttl  time.Duration
}

type cachedBot struct {
	bot *autov1.Bot
	at  time.Time
}

// New returns a Pipeline. botTTL is how long a bot's config and prompt are
// reused before asking botauto again.
func New(c Clients, log *slog.Logger, botTTL time.Duration) *Pipeline {
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{c: c, log: log, now: time.Now, bots: map[string]cachedBot{}, ttl: botTTL}
}

// turn is the state of one running turn.
type turn struct {
	p    *Pipeline
	in   *Input
	emit *typing
	res  *Result
	// hear are the options of a HEAR menu: buttons under the last message.
	hear []store.Suggestion
}

// TypingDelay is how long a turn runs before its client is told the bot is
// typing: a script answers well within it, and a frame per instant answer
// would only make the indicator flicker. An LLM answer says so at once.
const TypingDelay = 300 * time.Millisecond

// typing is the Emitter of one turn: it emits the typing frame once, when
// the turn has been quiet for TypingDelay or the LLM starts.
type typing struct {
	mu    sync.Mutex
	inner Emitter
	quiet bool // nothing emitted yet
	timer *time.Timer
}

func (e *typing) Emit(f *chatv1.Frame) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.quiet = false
	e.inner.Emit(f)
}

// now emits typing unless the turn has emitted something already.
func (e *typing) now() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.quiet {
		e.quiet = false
		e.inner.Emit(&chatv1.Frame{Type: "typing"})
	}
}

// stop ends the turn's typing: a timer firing meanwhile emits nothing.
func (e *typing) stop() {
	e.timer.Stop()
	e.mu.Lock()
	e.quiet = false
	e.mu.Unlock()
}

// Run runs the turn for in.Msg. Failures are reported to the client as
// error frames; Run itself only fails when nothing can be stored.
func (p *Pipeline) Run(ctx context.Context, in *Input, emit Emitter) *Result {
	ty := &typing{inner: emit, quiet: true}
	ty.timer = time.AfterFunc(TypingDelay, ty.now)
	defer ty.stop()
	t := &turn{p: p, in: in, emit: ty, res: &Result{}}
	m := in.Msg
	var active []string
	if m.Type == int(chatv1.MessageType_MESSAGE_TYPE_USER) || m.Type == int(chatv1.MessageType_MESSAGE_TYPE_SWITCHER) {
		var a struct {
			ActiveSwitchers []string `json:"active_switchers"`
		}
		if len(m.Args) > 0 && json.Unmarshal(m.Args, &a) == nil {
			active = a.ActiveSwitchers
		}
		in.Conv.ActiveSwitchers = active
	}
	if p.c.Auto == nil {
		t.error("unavailable", "botauto is not deployed: no script or LLM answer can run")
		return t.res
	}
	switch m.Type {
	case store.TypeOpen:
		t.script(ctx, "", "", "")
	case int(chatv1.MessageType_MESSAGE_TYPE_TOOL):
		t.script(ctx, "", m.Content, string(m.Args))
	case int(chatv1.MessageType_MESSAGE_TYPE_SWITCHER):
		last, err := in.LastUser(ctx)
		if errors.Is(err, store.ErrNotFound) {
			t.error("nothing_to_answer", "there is no earlier message to answer again")
			break
		}
		if err != nil {
			t.error("internal", "history: "+err.Error())
			break
		}
		t.answer(ctx, last.Content)
	default:
		if consumed := t.script(ctx, m.Content, "", ""); !consumed {
			t.answer(ctx, m.Content)
		}
	}
	return t.res
}

func (t *turn) error(code, msg string) {
	t.emit.Emit(&chatv1.Frame{Type: "error", Code: code, Message: msg})
}

// statusError turns a service error into an error frame.
func (t *turn) statusError(what string, err error) {
	st := status.Convert(err)
	t.error(strings.ToLower(st.Code().String()), what+": "+st.Message())
}

// script runs the conversation's scripts and reports whether they took the
// input (no LLM answer then).
func (t *turn) script(ctx context.Context, input, tool, args string) bool {
	c := t.in.Conv
	user := c.UserID
	st, err := t.p.c.Auto.Converse(ctx, &autov1.ConverseRequest{Bot: c.Bot, ConversationId: c.ID, UserId: user,
		Input: input, Tool: tool, ArgsJson: args, KnownTurn: c.AutoTurn})
	if err != nil {
		t.statusError("script", err)
		return true
	}
	var (
		outs []*autov1.Output
		end  *autov1.TurnEnd
	)
	for {
		r, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.statusError("script", err)
			return true
		}
		if o := r.GetOutput(); o != nil {
			outs = append(outs, o)
		}
		if e := r.GetEnd(); e != nil {
			end = e
		}
	}
	if end == nil {
		t.error("internal", "script: the turn ended without its end")
		return true
	}
	c.AutoTurn = end.Turn
	consumed := end.Consumed || tool != "" || input == "" && tool == ""
	// Apply the script's changes to the conversation, then send its
	// messages (the last one carries the buttons unless the LLM answers).
	var talks []*autov1.Output
	for _, o := range outs {
		switch o.Kind {
		case "talk", "wait":
			talks = append(talks, o)
		case "suggestion":
			c.Suggestions = append(c.Suggestions, store.Suggestion{Text: o.Text, Kind: suggestionKind(o.Name), Value: o.Value})
		case "clear_suggestions":
			c.Suggestions = nil
		case "switcher":
			c.Switchers = upsertSwitcher(c.Switchers, store.Switcher{ID: o.Name, Label: o.Text})
		case "clear_switchers":
			c.Switchers = nil
		case "context":
			if c.Contexts == nil {
				c.Contexts = map[string]string{}
			}
			c.Contexts[o.Name] = o.Text
		case "use_kb":
			c.KBs = addName(c.KBs, o.Name)
		case "clear_kb":
			c.KBs = removeName(c.KBs, o.Name)
		case "use_tool":
			c.Tools = addName(c.Tools, o.Name)
		case "clear_tools":
			c.Tools = nil
		case "set_user":
			c.ScriptUser = o.Value
		case "transfer":
			q := o.Name
			if q == "" {
				q = "default"
			}
			t.res.Transfer = &store.Transfer{Queue: q, Actor: "script", Reason: "TRANSFER TO HUMAN"}
		case "hear":
			t.hear = nil
			for _, opt := range o.Options {
				t.hear = append(t.hear, store.Suggestion{Text: opt, Kind: "message", Value: opt})
			}
		case "hear_expired":
			t.p.log.Info("a waiting HEAR expired", "bot", c.Bot, "conversation", c.ID, "script", o.Name)
		}
	}
	if end.Status == autov1.TurnStatus_TURN_STATUS_FAILED {
		t.error("script_error", end.Error)
	}
	answered := consumed || t.res.Transfer != nil
	lastTalk := -1
	for i, o := range talks {
		if o.Kind == "talk" {
			lastTalk = i
		}
	}
	for i, o := range talks {
		if o.Kind == "wait" {
			t.wait(ctx, o.Value)
			continue
		}
		m := t.message(o.Text)
		f := t.frame(m, o.Text, 1, true)
		if i == lastTalk && answered {
			t.attach(m, f)
		}
		m.Chunks = []int32{int32(len(o.Text))}
		t.emit.Emit(f)
	}
	if lastTalk < 0 && answered && len(t.hear) > 0 {
		// A menu with no message before it still needs its buttons shown.
		m := t.message("")
		f := t.frame(m, "", 1, true)
		t.attach(m, f)
		t.emit.Emit(f)
	}
	return answered
}

// wait pauses between a script's messages (WAIT), bounded.
func (t *turn) wait(ctx context.Context, secs string) {
	f, err := strconv.ParseFloat(secs, 64)
	if err != nil || f <= 0 {
		return
	}
	d := min(time.Duration(f*float64(time.Second)), MaxWait)
	t.emit.Emit(&chatv1.Frame{Type: "typing"})
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func suggestionKind(name string) string {
	switch name {
	case "context", "text", "tool", "message":
		return name
	}
	return "message"
}

func upsertSwitcher(list []store.Switcher, s store.Switcher) []store.Switcher {
	for i := range list {
		if list[i].ID == s.ID {
			list[i] = s
			return list
		}
	}
	return append(list, s)
}

func addName(list []string, n string) []string {
	for _, x := range list {
		if x == n {
			return list
		}
	}
	return append(list, n)
}

func removeName(list []string, n string) []string {
	if n == "" {
		return nil
	}
	out := list[:0:0]
	for _, x := range list {
		if x != n {
			out = append(out, x)
		}
	}
	return out
}

// message starts a bot message of this turn (stored at the end).
func (t *turn) message(content string) *store.Message {
	m := &store.Message{ID: uuid.Must(uuid.NewV7()).String(), Role: store.RoleBot, Type: int(chatv1.MessageType_MESSAGE_TYPE_BOT),
		Content: content, ReplyTo: t.in.Msg.ID}
	t.res.Outputs = append(t.res.Outputs, m)
	return m
}

func (t *turn) frame(m *store.Message, content string, chunk int32, complete bool) *chatv1.Frame {
	return &chatv1.Frame{Type: "message", MessageType: chatv1.MessageType_MESSAGE_TYPE_BOT, Content: content,
		IsComplete: complete, MessageId: m.ID, Role: m.Role, Chunk: chunk}
}

// attach puts the conversation's buttons on a message's last frame.
func (t *turn) attach(m *store.Message, f *chatv1.Frame) {
	c := t.in.Conv
	m.Suggestions = append(append([]store.Suggestion(nil), c.Suggestions...), t.hear...)
	for _, s := range m.Suggestions {
		f.Suggestions = append(f.Suggestions, &chatv1.Suggestion{Text: s.Text, Kind: s.Kind, Value: s.Value})
	}
	m.Switchers = append([]store.Switcher(nil), c.Switchers...)
	for _, s := range c.Switchers {
		f.Switchers = append(f.Switchers, &chatv1.Switcher{Id: s.ID, Label: s.Label, Active: contains(c.ActiveSwitchers, s.ID)})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// bot returns the bot's package description (config with secrets, prompt).
func (p *Pipeline) bot(ctx context.Context, org, name string) (*autov1.Bot, error) {
	key := org + "/" + name
	p.mu.Lock()
	cb, ok := p.bots[key]
	p.mu.Unlock()
	if ok && p.now().Sub(cb.at) < p.ttl {
		return cb.bot, nil
	}
	resp, err := p.c.Auto.GetBot(ctx, &autov1.GetBotRequest{Bot: name})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if len(p.bots) > 10000 {
		p.bots = map[string]cachedBot{}
	}
	p.bots[key] = cachedBot{bot: resp.Bot, at: p.now()}
	p.mu.Unlock()
	return resp.Bot, nil
}

func historyLimit(cfg map[string]string) int {
	n, err := strconv.Atoi(strings.TrimSpace(cfg["history-limit"]))
	if err != nil || n < 0 {
		return DefaultHistoryLimit
	}
	return min(n, MaxHistoryLimit)
}

// systemPrompt joins the bot's prompt, the conversation's contexts and
// active switchers, and the retrieved passages.
func systemPrompt(bot *autov1.Bot, c *store.Conversation, passages []*vectordbv1.Passage) string {
	var b strings.Builder
	prompt := strings.TrimSpace(bot.GetPrompt())
	if prompt == "" {
		prompt = strings.TrimSpace(bot.GetConfig()["system-prompt"])
	}
	b.WriteString(prompt)
	for _, name := range slices.Sorted(maps.Keys(c.Contexts)) {
		fmt.Fprintf(&b, "\n\n## %s\n%s", name, c.Contexts[name])
	}
	var on []string
	for _, s := range c.Switchers {
		if contains(c.ActiveSwitchers, s.ID) {
			on = append(on, fmt.Sprintf("%s (%s)", s.Label, s.ID))
		}
	}
	if len(on) > 0 {
		fmt.Fprintf(&b, "\n\n## Active switchers\nApply these to your answer: %s.", strings.Join(on, "; "))
	}
	if len(passages) > 0 {
		b.WriteString("\n\n## Knowledge\nAnswer from these passages when they are relevant; say so when they do not answer the question.")
		for i, p := range passages {
			fmt.Fprintf(&b, "\n\n[%d] %s\n%s", i+1, p.Path, p.Text)
		}
	}
	return strings.TrimSpace(b.String())
}

// tools turns the conversation's active tools into the model's functions.
func (t *turn) tools(ctx context.Context) ([]*llmv1.Tool, error) {
	c := t.in.Conv
	if len(c.Tools) == 0 {
		return nil, nil
	}
	resp, err := t.p.c.Auto.ListTools(ctx, &autov1.ListToolsRequest{Bot: c.Bot, Names: c.Tools})
	if err != nil {
		return nil, err
	}
	out := make([]*llmv1.Tool, 0, len(resp.Tools))
	for _, tl := range resp.Tools {
		var fn struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		}
		if err := json.Unmarshal([]byte(tl.FunctionJson), &fn); err != nil {
			return nil, fmt.Errorf("tool %s: function JSON: %w", tl.Name, err)
		}
		if fn.Name == "" {
			fn.Name = tl.Name
		}
		if fn.Description == "" {
			fn.Description = tl.Description
		}
		out = append(out, &llmv1.Tool{Name: fn.Name, Description: fn.Description, Parameters: string(fn.Parameters)})
	}
	return out, nil
}

// answer streams an LLM answer to query.
func (t *turn) answer(ctx context.Context, query string) {
	t.emit.now()
	c := t.in.Conv
	if t.p.c.LLM == nil {
		t.error("unavailable", "no LLM service is deployed (botllm), so only scripts can answer")
		return
	}
	start := t.p.now()
	bot, err := t.p.bot(ctx, c.Org, c.Bot)
	if err != nil {
		t.statusError("bot", err)
		return
	}
	cfg := bot.GetConfig()
	var passages []*vectordbv1.Passage
	if len(c.KBs) > 0 && t.p.c.KB != nil {
		resp, err := t.p.c.KB.Search(ctx, &vectordbv1.SearchRequest{Bot: c.Bot, Kbs: c.KBs, Query: truncate(query, 4096), TopK: TopK})
		if err != nil {
			// An answer without passages beats no answer; the log says why.
			t.p.log.Warn("knowledge base search failed", "bot", c.Bot, "conversation", c.ID, "err", err)
		} else {
			passages = resp.Passages
		}
	}
	tools, err := t.tools(ctx)
	if err != nil {
		t.p.log.Warn("tools of the conversation are not available", "bot", c.Bot, "conversation", c.ID, "err", err)
		tools = nil
	}
	var msgs []*llmv1.Message
	if sys := systemPrompt(bot, c, passages); sys != "" {
		msgs = append(msgs, &llmv1.Message{Role: llmv1.Role_ROLE_SYSTEM, Content: sys})
	}
	if n := historyLimit(cfg); n > 0 && t.in.History != nil {
		hist, err := t.in.History(ctx, n)
		if err != nil {
			t.error("internal", "history: "+err.Error())
			return
		}
		for _, h := range hist {
			role := llmv1.Role_ROLE_ASSISTANT
			if h.Role == store.RoleUser {
				role = llmv1.Role_ROLE_USER
			}
			msgs = append(msgs, &llmv1.Message{Role: role, Content: h.Content})
		}
	}
	msgs = append(msgs, &llmv1.Message{Role: llmv1.Role_ROLE_USER, Content: query})
	var lp []*llmv1.Passage
	for _, p := range passages {
		lp = append(lp, &llmv1.Passage{Text: p.Text, Source: p.Path, Score: float64(p.Score)})
	}

	// The answer takes its place among the turn's messages with its first
	// frame (a tool may TALK before the model says anything).
	m := &store.Message{ID: uuid.Must(uuid.NewV7()).String(), Role: store.RoleBot, Type: int(chatv1.MessageType_MESSAGE_TYPE_BOT), ReplyTo: t.in.Msg.ID}
	placed := false
	place := func() {
		if !placed {
			placed = true
			t.res.Outputs = append(t.res.Outputs, m)
		}
	}
	var (
		content strings.Builder
		chunks  []int32
		tokens  int64
		model   string
	)
	send := func(delta string) {
		place()
		content.WriteString(delta)
		chunks = append(chunks, int32(len(delta)))
		t.emit.Emit(t.frame(m, delta, int32(len(chunks)), false))
	}
	finish := func(cancelled bool) {
		place()
		m.Content, m.Chunks, m.Tokens, m.Model, m.Cancelled = content.String(), chunks, int(tokens), model, cancelled
		m.LatencyMS = int(t.p.now().Sub(start) / time.Millisecond)
		f := t.frame(m, "", int32(len(chunks)+1), true)
		chunks = append(chunks, 0)
		m.Chunks = chunks
		t.attach(m, f)
		t.emit.Emit(f)
	}
	// The message is stored even when cut short, so history shows what
	// the user saw; the tool messages are not.
	for round := 0; ; round++ {
		req := &llmv1.ChatRequest{Bot: c.Bot, Messages: msgs, Tools: tools, Config: cfg, Passages: lp}
		if round >= MaxToolRounds {
			req.Tools = nil // the last round must answer in words
		}
		st, err := t.p.c.LLM.Chat(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				finish(true)
				return
			}
			t.statusError("llm", err)
			finish(false)
			return
		}
		var (
			calls  []*llmv1.ToolCall
			reason llmv1.FinishReason
			text   strings.Builder
		)
		for {
			r, err := st.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					finish(true)
					return
				}
				t.statusError("llm", err)
				finish(false)
				return
			}
			if r.Delta != "" {
				text.WriteString(r.Delta)
				send(r.Delta)
			}
			calls = append(calls, r.ToolCalls...)
			if r.FinishReason != llmv1.FinishReason_FINISH_REASON_UNSPECIFIED {
				reason = r.FinishReason
				tokens += r.GetUsage().GetTotalTokens()
				if r.Model != "" {
					model = r.Model
				}
			}
		}
		if len(calls) == 0 || reason != llmv1.FinishReason_FINISH_REASON_TOOL_CALLS && reason != llmv1.FinishReason_FINISH_REASON_UNSPECIFIED || round >= MaxToolRounds {
			finish(false)
			return
		}
		msgs = append(msgs, &llmv1.Message{Role: llmv1.Role_ROLE_ASSISTANT, Content: text.String(), ToolCalls: calls})
		for _, call := range calls {
			msgs = append(msgs, &llmv1.Message{Role: llmv1.Role_ROLE_TOOL, ToolCallId: call.Id, Content: t.runTool(ctx, call)})
		}
		if ctx.Err() != nil {
			finish(true)
			return
		}
	}
}

// runTool runs a tool the model called and returns what the model reads:
// the tool's result, or its error, as JSON. What the tool TALKs reaches the
// user as messages of their own.
func (t *turn) runTool(ctx context.Context, call *llmv1.ToolCall) string {
	c := t.in.Conv
	args := call.Arguments
	if strings.TrimSpace(args) == "" {
		args = "{}"
	}
	resp, err := t.p.c.Auto.RunTool(ctx, &autov1.RunToolRequest{Bot: c.Bot, Tool: call.Name, ArgsJson: args, ConversationId: c.ID, UserId: c.UserID})
	if err != nil {
		b, _ := json.Marshal(map[string]string{"error": status.Convert(err).Message()})
		return string(b)
	}
	for _, o := range resp.Outputs {
		if o.Kind == "talk" {
			m := t.message(o.Text)
			m.Chunks = []int32{int32(len(o.Text))}
			t.emit.Emit(t.frame(m, o.Text, 1, true))
		}
	}
	if resp.Error != "" {
		b, _ := json.Marshal(map[string]string{"error": resp.Error})
		return string(b)
	}
	if resp.ResultJson == "" {
		return "null"
	}
	return resp.ResultJson
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
