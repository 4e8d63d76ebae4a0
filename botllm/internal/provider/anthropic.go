package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// anthropic speaks the Messages API with stream=true: named SSE events
// message_start, content_block_start/delta/stop, message_delta,
// message_stop, ping and error.
type anthropic struct {
	o        Options
	endpoint string
}

// anthropicVersion is the API version header the wire format below follows.
const anthropicVersion = "2023-06-01"

// anthropicDefaultMaxTokens is sent when the caller sets none: the API
// requires max_tokens.
const anthropicDefaultMaxTokens = 4096

type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   string          `json:"content,omitempty"`
}

type anMessage struct {
	Role    string    `json:"role"`
	Content []anBlock `json:"content"`
}

type anTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anRequest struct {
	Model         string      `json:"model"`
	System        string      `json:"system,omitempty"`
	Messages      []anMessage `json:"messages"`
	Tools         []anTool    `json:"tools,omitempty"`
	MaxTokens     int         `json:"max_tokens"`
	Temperature   *float64    `json:"temperature,omitempty"`
	StopSequences []string    `json:"stop_sequences,omitempty"`
	Stream        bool        `json:"stream"`
}

// jsonModeInstruction stands in for OpenAI's JSON mode, which the Messages
// API does not have.
const jsonModeInstruction = "Answer with a single JSON object and nothing else: no prose, no code fences."

func (p *anthropic) body(req *Request) ([]byte, error) {
	r := anRequest{Model: req.Model, MaxTokens: req.MaxTokens, Temperature: req.Temperature,
		StopSequences: req.Stop, Stream: true}
	if r.MaxTokens <= 0 {
		r.MaxTokens = anthropicDefaultMaxTokens
	}
	if r.Temperature != nil && *r.Temperature > 1 {
		t := 1.0 // Anthropic's range is 0..1
		r.Temperature = &t
	}
	var system []string
	add := func(role string, b anBlock) {
		// The API wants alternating turns: consecutive blocks of one role
		// (several tool results, say) go into one message.
		if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role {
			r.Messages[n-1].Content = append(r.Messages[n-1].Content, b)
			return
		}
		r.Messages = append(r.Messages, anMessage{Role: role, Content: []anBlock{b}})
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleSystem:
			system = append(system, m.Content)
		case RoleUser:
			add("user", anBlock{Type: "text", Text: m.Content})
		case RoleAssistant:
			if m.Content != "" {
				add("assistant", anBlock{Type: "text", Text: m.Content})
			}
			for _, tc := range m.ToolCalls {
				input := json.RawMessage(tc.Arguments)
				if !json.Valid(input) || len(bytes.TrimSpace(input)) == 0 {
					input = json.RawMessage(`{}`)
				}
				add("assistant", anBlock{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: input})
			}
		case RoleTool:
			add("user", anBlock{Type: "tool_result", ToolUseID: m.ToolCallID, Content: m.Content})
		default:
			return nil, fmt.Errorf("unknown message role %q", m.Role)
		}
	}
	if req.JSONMode {
		system = append(system, jsonModeInstruction)
	}
	r.System = strings.Join(system, "\n\n")
	for _, t := range req.Tools {
		schema := json.RawMessage(t.Parameters)
		if t.Parameters == "" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		r.Tools = append(r.Tools, anTool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	return json.Marshal(r)
}

type anEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message *struct {
		Model string `json:"model"`
		Usage struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	} `json:"message"`
	ContentBlock *anBlock `json:"content_block"`
	Delta        *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
	} `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (p *anthropic) Chat(ctx context.Context, req *Request, onDelta func(string) error) (*Result, error) {
	body, err := p.body(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	h := http.Header{}
	h.Set("anthropic-version", anthropicVersion)
	if p.o.Key != "" {
		h.Set("x-api-key", p.o.Key)
	}
	delivered := false
	var res *Result
	err = post(ctx, p.o, p.endpoint, h, body, func() bool { return delivered }, func(r io.Reader, touch func()) error {
		res = &Result{Model: req.Model}
		var content bytes.Buffer
		type block struct {
			call *ToolCall
			args strings.Builder
		}
		blocks := map[int]*block{}
		var order []int
		stopped := false
		err := readSSE(r, touch, func(ev sseEvent) error {
			var e anEvent
			if err := json.Unmarshal(ev.Data, &e); err != nil {
				return &Error{Message: fmt.Sprintf("malformed stream event %q: %v", ev.Event, err)}
			}
			typ := e.Type
			if typ == "" {
				typ = ev.Event
			}
			switch typ {
			case "message_start":
				if e.Message != nil {
					if e.Message.Model != "" {
						res.Model = e.Message.Model
					}
					res.Usage.PromptTokens = e.Message.Usage.InputTokens
					res.Usage.CompletionTokens = e.Message.Usage.OutputTokens
				}
			case "content_block_start":
				if e.ContentBlock != nil && e.ContentBlock.Type == "tool_use" {
					blocks[e.Index] = &block{call: &ToolCall{ID: e.ContentBlock.ID, Name: e.ContentBlock.Name}}
					order = append(order, e.Index)
				} else if e.ContentBlock != nil && e.ContentBlock.Text != "" {
					content.WriteString(e.ContentBlock.Text)
					delivered = true
					if err := onDelta(e.ContentBlock.Text); err != nil {
						return fmt.Errorf("%w: %w", ErrAborted, err)
					}
				}
			case "content_block_delta":
				if e.Delta == nil {
					return nil
				}
				switch e.Delta.Type {
				case "text_delta":
					if e.Delta.Text == "" {
						return nil
					}
					content.WriteString(e.Delta.Text)
					delivered = true
					if err := onDelta(e.Delta.Text); err != nil {
						return fmt.Errorf("%w: %w", ErrAborted, err)
					}
				case "input_json_delta":
					if b := blocks[e.Index]; b != nil {
						b.args.WriteString(e.Delta.PartialJSON)
					}
				}
			case "message_delta":
				if e.Delta != nil && e.Delta.StopReason != "" {
					res.Finish = mapAnthropicStop(e.Delta.StopReason)
				}
				if e.Usage != nil {
					if e.Usage.InputTokens > 0 {
						res.Usage.PromptTokens = e.Usage.InputTokens
					}
					res.Usage.CompletionTokens = e.Usage.OutputTokens
				}
			case "message_stop":
				stopped = true
			case "error":
				msg := "error event without a message"
				temporary := false
				if e.Error != nil {
					msg = e.Error.Type + ": " + e.Error.Message
					temporary = e.Error.Type == "overloaded_error" || e.Error.Type == "api_error" || e.Error.Type == "rate_limit_error"
				}
				return &Error{Message: msg, Temporary: temporary}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !stopped {
			return &Error{Message: "the stream ended before message_stop", Temporary: true}
		}
		res.Content = content.String()
		for _, i := range order {
			c := *blocks[i].call
			c.Arguments = blocks[i].args.String()
			if strings.TrimSpace(c.Arguments) == "" {
				c.Arguments = "{}"
			}
			res.ToolCalls = append(res.ToolCalls, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	finish(res, req)
	return res, nil
}

func mapAnthropicStop(s string) Finish {
	switch s {
	case "max_tokens":
		return FinishLength
	case "tool_use":
		return FinishToolCalls
	case "refusal":
		return FinishContentFilter
	}
	return FinishStop
}
