package provider

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sseEvent is one server-sent event: its type ("" when not named) and data.
type sseEvent struct {
	Event string
	Data  []byte
}

// maxLine bounds one SSE line (a tool call's arguments can be long).
const maxLine = 4 << 20

// readSSE parses the text/event-stream framing (WHATWG HTML §9.2): lines
// "field: value", data lines joined with \n, an empty line ends an event,
// lines starting with ':' are comments. touch is called for every line, so
// the idle timer sees keep-alive comments too.
func readSSE(r io.Reader, touch func(), handle func(sseEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var ev sseEvent
	var data bytes.Buffer
	hasData := false
	dispatch := func() error {
		if !hasData {
			ev = sseEvent{}
			return nil
		}
		ev.Data = bytes.Clone(data.Bytes())
		err := handle(ev)
		ev, hasData = sseEvent{}, false
		data.Reset()
		return err
	}
	for sc.Scan() {
		touch()
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(line) == 0 {
			if err := dispatch(); err != nil {
				return err
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Event = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &Error{Message: fmt.Sprintf("a stream line is longer than %d bytes", maxLine)}
		}
		return err
	}
	// A stream cut without the final blank line still delivers its last event.
	return dispatch()
}

// attempt is one try of a streamed request: it gets the response body and
// consumes it, returning when the stream is complete. Each try starts from
// fresh state.
type attempt func(body io.Reader, touch func()) error

// post sends body as JSON and hands the streamed response to read, retrying
// transient failures while delivered() is false.
func post(ctx context.Context, o Options, endpoint string, header http.Header, body []byte, delivered func() bool, read attempt) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	for try := 0; ; try++ {
		err := postOnce(ctx, o, endpoint, header, body, read)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				return &Error{Message: fmt.Sprintf("no complete answer within %s (LLM timeout)", o.Timeout)}
			}
			return err
		}
		var e *Error
		if !errors.As(err, &e) || !e.Temporary || delivered() || try >= o.MaxRetries {
			return err
		}
		wait := o.Backoff << try
		wait += time.Duration(rand.Int64N(int64(wait)/4 + 1)) // jitter so replicas do not retry in step
		if e.RetryAfter > 0 {
			wait = e.RetryAfter
		}
		wait = min(wait, o.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func postOnce(parent context.Context, o Options, endpoint string, header http.Header, body []byte, read attempt) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	errIdle := &Error{Message: fmt.Sprintf("no data from the server for %s", o.IdleTimeout), Temporary: true}
	idle := time.AfterFunc(o.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	touch := func() { idle.Reset(o.IdleTimeout) }

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	// A generation request may be replayed: let the transport resend it
	// on a fresh connection when a kept-alive one turns out dead after the
	// request was written (llama-server drops connections after a stream
	// without saying so). A nil value is not sent on the wire.
	req.Header["Idempotency-Key"] = nil
	resp, err := o.Client.Do(req)
	if err != nil {
		if c := context.Cause(ctx); c == errIdle {
			return errIdle
		}
		if parent.Err() != nil {
			return parent.Err()
		}
		return &Error{Message: "cannot reach " + Redact(endpoint) + ": " + unwrapURLError(err), Temporary: true}
	}
	defer resp.Body.Close()
	touch()
	if resp.StatusCode/100 != 2 {
		return statusError(resp)
	}
	err = read(resp.Body, touch)
	if err != nil {
		if c := context.Cause(ctx); c == errIdle {
			return errIdle
		}
		if parent.Err() != nil {
			return parent.Err()
		}
		var e *Error
		if !errors.As(err, &e) && !errors.Is(err, ErrAborted) {
			// A broken connection in the middle of the stream.
			return &Error{Message: "stream interrupted: " + err.Error(), Temporary: true}
		}
	}
	return err
}

func unwrapURLError(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return err.Error()
}

// statusError turns a non-2xx answer into an Error with the server's message.
func statusError(resp *http.Response) *Error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode, Message: errorMessage(raw)}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	code := resp.StatusCode
	e.Temporary = code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// errorMessage finds the message in an OpenAI ({"error":{"message"}}),
// Anthropic ({"type":"error","error":{"message"}}) or plain error body.
func errorMessage(raw []byte) string {
	var body struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(body.Error, &inner) == nil && inner.Message != "":
			return inner.Message
		case json.Unmarshal(body.Error, &s) == nil && s != "":
			return s
		case body.Message != "":
			return body.Message
		}
	}
	// Not an LLM API's error: do not echo it. The URL may be a bot
	// editor's choice, and the body of an arbitrary internal service is
	// not theirs to read.
	if len(bytes.TrimSpace(raw)) == 0 {
		return ""
	}
	return fmt.Sprintf("(an error body that is not an LLM API error, %d bytes)", len(raw))
}

// retryAfter reads a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
