// Package provider talks to LLM servers: the OpenAI-compatible chat
// completions API (OpenAI, Groq, vLLM, Ollama, llama.cpp's llama-server) and
// Anthropic's Messages API, both streamed. Callers see one shape: content
// deltas through a callback, then a Result with complete tool calls, the
// finish reason and usage.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Role of a message's author.
type Role string

const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one turn sent to the model.
type Message struct {
	Role       Role       `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is one complete call the model asked for; Arguments is JSON text.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Tool is a function the model may call; Parameters is a JSON schema text.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Parameters  string `json:"parameters,omitempty"`
}

// Request is one generation.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Tools       []Tool    `json:"tools,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Stop        []string  `json:"stop,omitempty"`
	JSONMode    bool      `json:"json_mode,omitempty"`
}

// Finish says why the model stopped.
type Finish string

const (
	FinishStop          Finish = "stop"
	FinishLength        Finish = "length"
	FinishToolCalls     Finish = "tool_calls"
	FinishContentFilter Finish = "content_filter"
)

// Usage counts tokens; Estimated is set when the server did not report it.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	Estimated        bool  `json:"estimated,omitempty"`
}

// Result is what a finished generation produced besides its streamed text.
type Result struct {
	Content   string // the whole text, as streamed
	ToolCalls []ToolCall
	Finish    Finish
	Usage     Usage
	Model     string // as reported by the server, else the requested one
}

// Provider streams one generation. onDelta receives each piece of text as it
// arrives; returning an error from it aborts the request. Chat retries
// transient failures (429, 5xx, connection errors) only until the first
// delta has been delivered.
type Provider interface {
	Chat(ctx context.Context, req *Request, onDelta func(string) error) (*Result, error)
}

// Kind names a wire protocol.
type Kind string

const (
	KindOpenAI    Kind = "openai"
	KindAnthropic Kind = "anthropic"
)

// Options configure a provider.
type Options struct {
	Kind Kind   // "" infers it from URL (anthropic.com hosts speak Anthropic)
	URL  string // base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:8080
	Key  string
	// Timeout bounds a whole generation, retries included (default 5 min).
	Timeout time.Duration
	// IdleTimeout bounds the wait for the response headers and then for
	// each next piece of the stream (default 60 s).
	IdleTimeout time.Duration
	// MaxRetries of a request that failed before any text was delivered
	// (default 3; negative: none).
	MaxRetries int
	// Backoff is the first retry delay, doubled each time (default 500 ms);
	// a Retry-After header wins, up to MaxBackoff (default 30 s).
	Backoff, MaxBackoff time.Duration
	Client              *http.Client // default: a client with no overall timeout (streams are long)
}

// New returns the provider for o.
func New(o Options) (Provider, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("LLM URL must be an http(s) URL, got %q", Redact(o.URL))
	}
	if o.Kind == "" {
		o.Kind = InferKind(o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Client == nil {
		o.Client = defaultClient
	}
	switch o.Kind {
	case KindOpenAI:
		return &openAI{o: o, endpoint: endpoint(u, "/chat/completions")}, nil
	case KindAnthropic:
		return &anthropic{o: o, endpoint: endpoint(u, "/messages")}, nil
	}
	return nil, fmt.Errorf("unknown LLM provider %q: use openai or anthropic", o.Kind)
}

// InferKind picks the protocol from a URL: Anthropic's own API speaks
// Anthropic, everything else is taken as OpenAI-compatible.
func InferKind(raw string) Kind {
	u, err := url.Parse(raw)
	if err == nil && (u.Hostname() == "anthropic.com" || strings.HasSuffix(u.Hostname(), ".anthropic.com")) {
		return KindAnthropic
	}
	return KindOpenAI
}

// endpoint appends the API path to a base URL: a base without a path gets
// /v1 first (http://host:8080 → http://host:8080/v1/chat/completions), a
// base that already ends with the path is used as it is.
func endpoint(u *url.URL, path string) string {
	e := *u
	p := strings.TrimRight(e.Path, "/")
	switch {
	case strings.HasSuffix(p, path):
	case p == "":
		p = "/v1" + path
	default:
		p += path
	}
	e.Path = p
	e.RawPath = ""
	return e.String()
}

// Redact hides the password of a URL for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return u.Redacted()
}

var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	MaxIdleConnsPerHost: 16,
	IdleConnTimeout:     90 * time.Second,
	TLSHandshakeTimeout: 10 * time.Second,
	ForceAttemptHTTP2:   true,
}}

// Error is a failure of the upstream server. Status is the HTTP status (0
// for a connection failure or an error event inside the stream).
type Error struct {
	Status     int
	Message    string
	RetryAfter time.Duration // from Retry-After, if any
	Temporary  bool          // worth retrying
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("LLM server answered %d: %s", e.Status, e.Message)
	}
	return "LLM server: " + e.Message
}

// ErrAborted wraps the error onDelta returned.
var ErrAborted = errors.New("generation aborted by the caller")

// EstimateTokens guesses a token count from text length (≈ 4 bytes a token),
// for servers that report no usage.
func EstimateTokens(s string) int64 {
	if s == "" {
		return 0
	}
	return int64(len(s)+3) / 4
}
