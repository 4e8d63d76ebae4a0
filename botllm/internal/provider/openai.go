package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
)

// openAI speaks the chat completions API with stream=true: SSE events whose
// data is a chat.completion.chunk, ending with "data: [DONE]".
type openAI struct {
	o        Options
	endpoint string
}

type oaMessage struct {
	Role       Role         `json:"role"`
	Content    *string      `json:"content"`
	ToolCalls  []oaToolCall `json:"tool_calls,omitempty"`
	ToolCallID string       `json:"tool_call_id,omitempty"`
}

type oaToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

type oaRequest struct {
	Model          string         `json:"model,omitempty"`
	Messages       []oaMessage    `json:"messages"`
	Tools          []oaTool       `json:"tools,omitempty"`
	Temperature    *float64       `json:"temperature,omitempty"`
	MaxTokens      int            `json:"max_tokens,omitempty"`
	Stop           []string       `json:"stop,omitempty"`
	ResponseFormat map[string]any `json:"response_format,omitempty"`
	Stream         bool           `json:"stream"`
	StreamOptions  map[string]any `json:"stream_options,omitempty"`
}

type oaChunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content   *string      `json:"content"`
			ToolCalls []oaToolCall `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func (p *openAI) body(req *Request) ([]byte, error) {
	r := oaRequest{Model: req.Model, Temperature: req.Temperature, MaxTokens: req.MaxTokens, Stop: req.Stop,
		Stream: true, StreamOptions: map[string]any{"include_usage": true}}
	if req.JSONMode {
		r.ResponseFormat = map[string]any{"type": "json_object"}
	}
	for _, m := range req.Messages {
		om := oaMessage{Role: m.Role, ToolCallID: m.ToolCallID}
		content := m.Content
		if content != "" || len(m.ToolCalls) == 0 {
			om.Content = &content // an assistant turn with only tool calls sends null
		}
		for _, tc := range m.ToolCalls {
			c := oaToolCall{ID: tc.ID, Type: "function"}
			c.Function.Name, c.Function.Arguments = tc.Name, tc.Arguments
			om.ToolCalls = append(om.ToolCalls, c)
		}
		r.Messages = append(r.Messages, om)
	}
	for _, t := range req.Tools {
		ot := oaTool{Type: "function"}
		ot.Function.Name, ot.Function.Description = t.Name, t.Description
		if t.Parameters != "" {
			ot.Function.Parameters = json.RawMessage(t.Parameters)
		} else {
			ot.Function.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		r.Tools = append(r.Tools, ot)
	}
	return json.Marshal(r)
}

func (p *openAI) Chat(ctx context.Context, req *Request, onDelta func(string) error) (*Result, error) {
	body, err := p.body(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	h := http.Header{}
	if p.o.Key != "" {
		h.Set("Authorization", "Bearer "+p.o.Key)
	}
	delivered := false
	var res *Result
	err = post(ctx, p.o, p.endpoint, h, body, func() bool { return delivered }, func(r io.Reader, touch func()) error {
		res = &Result{Model: req.Model}
		var content bytes.Buffer
		calls := map[int]*ToolCall{}
		done := false
		err := readSSE(r, touch, func(ev sseEvent) error {
			if done {
				return nil
			}
			if bytes.Equal(bytes.TrimSpace(ev.Data), []byte("[DONE]")) {
				done = true
				return nil
			}
			var c oaChunk
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				return &Error{Message: fmt.Sprintf("malformed stream chunk: %v", err)}
			}
			if len(c.Error) > 0 && string(c.Error) != "null" {
				return &Error{Message: errorMessage(append(append([]byte(`{"error":`), c.Error...), '}'))}
			}
			if c.Model != "" {
				res.Model = c.Model
			}
			if c.Usage != nil {
				res.Usage = Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens}
			}
			for _, ch := range c.Choices {
				if ch.Index != 0 {
					continue // we ask for one choice
				}
				if ch.Delta.Content != nil && *ch.Delta.Content != "" {
					content.WriteString(*ch.Delta.Content)
					delivered = true
					if err := onDelta(*ch.Delta.Content); err != nil {
						return fmt.Errorf("%w: %w", ErrAborted, err)
					}
				}
				for i, tc := range ch.Delta.ToolCalls {
					// Deltas name their call by index; the first carries id
					// and name, later ones append to the arguments.
					idx := i
					if tc.Index != nil {
						idx = *tc.Index
					}
					call := calls[idx]
					if call == nil {
						call = &ToolCall{}
						calls[idx] = call
					}
					if tc.ID != "" {
						call.ID = tc.ID
					}
					call.Name += tc.Function.Name
					call.Arguments += tc.Function.Arguments
				}
				if ch.FinishReason != nil && *ch.FinishReason != "" {
					res.Finish = mapOpenAIFinish(*ch.FinishReason)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !done && res.Finish == "" {
			return &Error{Message: "the stream ended before the answer was complete", Temporary: true}
		}
		res.Content = content.String()
		res.ToolCalls = sortedCalls(calls)
		return nil
	})
	if err != nil {
		return nil, err
	}
	finish(res, req)
	return res, nil
}

func mapOpenAIFinish(s string) Finish {
	switch s {
	case "length":
		return FinishLength
	case "tool_calls", "function_call":
		return FinishToolCalls
	case "content_filter":
		return FinishContentFilter
	}
	return FinishStop
}

func sortedCalls(calls map[int]*ToolCall) []ToolCall {
	idx := make([]int, 0, len(calls))
	for i := range calls {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]ToolCall, 0, len(idx))
	for _, i := range idx {
		c := *calls[i]
		if c.Arguments == "" {
			c.Arguments = "{}"
		}
		out = append(out, c)
	}
	return out
}

// finish fills what a server may leave out: a finish reason and usage.
func finish(res *Result, req *Request) {
	if res.Finish == "" {
		res.Finish = FinishStop
	}
	if len(res.ToolCalls) > 0 && res.Finish == FinishStop {
		res.Finish = FinishToolCalls
	}
	if res.Usage.PromptTokens == 0 && res.Usage.CompletionTokens == 0 {
		var prompt int64
		for _, m := range req.Messages {
			prompt += EstimateTokens(m.Content) + 4
		}
		out := EstimateTokens(res.Content)
		for _, c := range res.ToolCalls {
			out += EstimateTokens(c.Name + c.Arguments)
		}
		res.Usage = Usage{PromptTokens: prompt, CompletionTokens: out, Estimated: true}
	}
}
