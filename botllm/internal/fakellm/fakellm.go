// Package fakellm is a test server that speaks the streamed wire formats of
// OpenAI's chat completions API and Anthropic's Messages API over real HTTP,
// with SSE framed as the providers document it. Tests script its replies and
// read back the requests it received.
package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply is one scripted answer.
type Reply struct {
	Status     int    // non-2xx: answer with this status and an error body
	RetryAfter string // Retry-After header for error answers
	Message    string // error message for Status, or for an in-stream error event
	Deltas     []string
	ToolCalls  []ToolCall
	Finish     string // provider's own term ("stop", "end_turn", ...); default per kind
	Usage      *Usage // nil: the stream reports none
	Delay      time.Duration
	// Hold keeps the connection open after the deltas until the client
	// goes away (to test cancellation); Closed is then signalled.
	Hold bool
	// CutAfter closes the connection abruptly after this many deltas (>0).
	CutAfter int
	// StreamError sends an error event/chunk after the deltas.
	StreamError bool
}

// ToolCall is sent as argument pieces of ArgChunk bytes.
type ToolCall struct {
	ID, Name, Arguments string
	ArgChunk            int
}

// Usage reported at the end of the stream.
type Usage struct{ Prompt, Completion int64 }

// Request is what the server received.
type Request struct {
	Path   string
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Server is a fake LLM server.
type Server struct {
	URL    string
	Kind   string // "openai" or "anthropic"
	Closed chan struct{}

	quit chan struct{} // closed at cleanup: held replies give up

	mu       sync.Mutex
	replies  []Reply
	requests []Request
	def      Reply
}

// NewOpenAI starts a server speaking OpenAI's chat completions API; its URL
// is a base like http://127.0.0.1:PORT/v1.
func NewOpenAI(t testing.TB) *Server { return start(t, "openai") }

// NewAnthropic starts a server speaking Anthropic's Messages API.
func NewAnthropic(t testing.TB) *Server { return start(t, "anthropic") }

func start(t testing.TB, kind string) *Server {
	s := &Server{Kind: kind, Closed: make(chan struct{}, 16), quit: make(chan struct{}),
		def: Reply{Deltas: []string{"Hello", ", ", "world", "!"}, Usage: &Usage{Prompt: 11, Completion: 4}}}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(s.quit) }) // runs first: Close waits for handlers
	s.URL = hs.URL + "/v1"
	return s
}

// Push queues replies, used in order; when none is queued the default
// reply (Default) answers.
func (s *Server) Push(r ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, r...)
}

// Default sets the reply used when the queue is empty.
func (s *Server) Default(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = r
}

// Requests returns what the server has received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) next(r *http.Request, raw []byte) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := Request{Path: r.URL.Path, Header: r.Header.Clone(), Raw: raw}
	_ = json.Unmarshal(raw, &req.Body)
	s.requests = append(s.requests, req)
	if len(s.replies) == 0 {
		return s.def
	}
	rep := s.replies[0]
	s.replies = s.replies[1:]
	return rep
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	want := "/v1/chat/completions"
	if s.Kind == "anthropic" {
		want = "/v1/messages"
	}
	if r.Method != http.MethodPost || r.URL.Path != want {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	rep := s.next(r, raw)
	if rep.Status != 0 && rep.Status/100 != 2 {
		if rep.RetryAfter != "" {
			w.Header().Set("Retry-After", rep.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.Status)
		if s.Kind == "anthropic" {
			fmt.Fprintf(w, `{"type":"error","error":{"type":"api_error","message":%q}}`, rep.Message)
		} else {
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error","code":null}}`, rep.Message)
		}
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	fl.Flush()
	send := func(event, data string) bool {
		if event != "" {
			fmt.Fprintf(w, "event: %s\n", event)
		}
		fmt.Fprintf(w, "data: %s\n\n", data)
		fl.Flush()
		if rep.Delay > 0 {
			select {
			case <-time.After(rep.Delay):
			case <-r.Context().Done():
				return false
			}
		}
		return r.Context().Err() == nil
	}
	cut := func() {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	}
	if s.Kind == "anthropic" {
		s.anthropic(rep, send, cut)
	} else {
		s.openAI(rep, send, cut)
	}
	if rep.Hold {
		select {
		case <-r.Context().Done():
			select {
			case s.Closed <- struct{}{}:
			default:
			}
		case <-s.quit:
		}
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func chunks(s string, n int) []string {
	if n <= 0 || len(s) <= n {
		return []string{s}
	}
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// openAI writes chat.completion.chunk events as OpenAI documents them: a
// first chunk with the role, content deltas, tool-call deltas (id and name
// in the first piece of each call, arguments split across later ones), a
// chunk with finish_reason, a usage chunk with empty choices, then [DONE].
func (s *Server) openAI(rep Reply, send func(string, string) bool, cut func()) {
	base := `{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"fake-model","system_fingerprint":"fp_44709d6fcb","choices":%s}`
	choice := func(delta string, finish string) string {
		f := "null"
		if finish != "" {
			f = js(finish)
		}
		return fmt.Sprintf(base, `[{"index":0,"delta":`+delta+`,"logprobs":null,"finish_reason":`+f+`}]`)
	}
	if !send("", choice(`{"role":"assistant","content":""}`, "")) {
		return
	}
	for i, d := range rep.Deltas {
		if rep.CutAfter > 0 && i == rep.CutAfter {
			cut()
			return
		}
		if !send("", choice(`{"content":`+js(d)+`}`, "")) {
			return
		}
	}
	for i, tc := range rep.ToolCalls {
		first := fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":%s,"type":"function","function":{"name":%s,"arguments":""}}]}`, i, js(tc.ID), js(tc.Name))
		if !send("", choice(first, "")) {
			return
		}
		for _, part := range chunks(tc.Arguments, tc.ArgChunk) {
			if !send("", choice(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, js(part)), "")) {
				return
			}
		}
	}
	if rep.StreamError {
		send("", `{"error":{"message":`+js(rep.Message)+`,"type":"server_error"}}`)
		return
	}
	finish := rep.Finish
	if finish == "" {
		finish = "stop"
		if len(rep.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	if !send("", choice(`{}`, finish)) {
		return
	}
	if rep.Usage != nil {
		u := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, rep.Usage.Prompt, rep.Usage.Completion, rep.Usage.Prompt+rep.Usage.Completion)
		if !send("", fmt.Sprintf(`{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"fake-model","choices":[],"usage":%s}`, u)) {
			return
		}
	}
	if !rep.Hold {
		send("", "[DONE]")
	}
}

// anthropic writes the Messages API event sequence: message_start,
// content_block_start/ping/content_block_delta.../content_block_stop per
// block, message_delta with stop_reason and usage, message_stop.
func (s *Server) anthropic(rep Reply, send func(string, string) bool, cut func()) {
	var in, out, first int64
	if rep.Usage != nil {
		in, out, first = rep.Usage.Prompt, rep.Usage.Completion, 1
	}
	if !send("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"fake-claude","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":%d}}}`, in, first)) {
		return
	}
	idx := 0
	if len(rep.Deltas) > 0 {
		if !send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) ||
			!send("ping", `{"type": "ping"}`) {
			return
		}
		for i, d := range rep.Deltas {
			if rep.CutAfter > 0 && i == rep.CutAfter {
				cut()
				return
			}
			if !send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+js(d)+`}}`) {
				return
			}
		}
		if !send("content_block_stop", `{"type":"content_block_stop","index":0}`) {
			return
		}
		idx++
	}
	for _, tc := range rep.ToolCalls {
		if !send("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":%s,"name":%s,"input":{}}}`, idx, js(tc.ID), js(tc.Name))) {
			return
		}
		parts := append([]string{""}, chunks(tc.Arguments, tc.ArgChunk)...)
		for _, p := range parts {
			if !send("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%s}}`, idx, js(p))) {
				return
			}
		}
		if !send("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, idx)) {
			return
		}
		idx++
	}
	if rep.StreamError {
		send("error", `{"type":"error","error":{"type":"overloaded_error","message":`+js(rep.Message)+`}}`)
		return
	}
	if rep.Hold {
		return
	}
	stop := rep.Finish
	if stop == "" {
		stop = "end_turn"
		if len(rep.ToolCalls) > 0 {
			stop = "tool_use"
		}
	}
	if rep.Usage == nil {
		out = 0
	}
	if !send("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%s,"stop_sequence":null},"usage":{"output_tokens":%d}}`, js(stop), out)) {
		return
	}
	send("message_stop", `{"type":"message_stop"}`)
}

// Text joins deltas, for assertions.
func (r Reply) Text() string { return strings.Join(r.Deltas, "") }
