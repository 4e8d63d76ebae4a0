package botserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/botserver-go/botserver-go/botauth"
	"github.com/botserver-go/botserver-go/botauto"
	"github.com/botserver-go/botserver-go/botchat"
	authapi "github.com/botserver-go/botserver-go/botcore/api/auth"
	chatapi "github.com/botserver-go/botserver-go/botcore/api/chat"
	"github.com/botserver-go/botserver-go/botllm"
	"github.com/botserver-go/botserver-go/botstate/apptest"
)

// openAI is an OpenAI-compatible chat completions server speaking the
// documented SSE stream: it calls the opening-hours tool when asked about
// hours, answers from the tool's result, streams a long answer slowly for
// "story", and echoes anything else.
type openAI struct {
	mu       sync.Mutex
	requests []map[string]any
}

const storyChunks = 30

func (o *openAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Messages []struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	o.mu.Lock()
	o.requests = append(o.requests, raw)
	o.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	flush := func(v string) {
		fmt.Fprintf(w, "data: %s\n\n", v)
		w.(http.Flusher).Flush()
	}
	delta := func(s string) {
		b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": s}, "finish_reason": nil}}})
		flush(string(b))
	}
	end := func(reason string) {
		flush(`{"choices":[{"index":0,"delta":{},"finish_reason":"` + reason + `"}]}`)
		flush(`{"choices":[],"model":"tiny-test","usage":{"prompt_tokens":20,"completion_tokens":8,"total_tokens":28}}`)
		flush("[DONE]")
	}
	last := req.Messages[len(req.Messages)-1]
	text, _ := last.Content.(string)
	switch {
	case last.Role == "tool":
		delta("The store ")
		delta("opens at 09:00.")
		end("stop")
	case len(req.Tools) > 0 && strings.Contains(text, "hours"):
		flush(`{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"` +
			req.Tools[0].Function.Name + `","arguments":"{\"city\":\"Lisbon\"}"}}]},"finish_reason":null}]}`)
		end("tool_calls")
	case strings.Contains(text, "story"):
		for i := 1; i <= storyChunks; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			delta(fmt.Sprintf("part%d ", i))
		}
		end("stop")
	default:
		delta("You asked: ")
		delta(text)
		end("stop")
	}
}

// chatStack runs botauth, botauto (with the sample bot), botllm (on the
// OpenAI-compatible server) and botchat in one process behind a gateway
// with the auth and chat routes, as the all-in-one mounts them.
func chatStack(t *testing.T, llm http.Handler) string {
	t.Helper()
	up := httptest.NewServer(llm)
	t.Cleanup(up.Close)
	bots, err := filepath.Abs("../bots")
	if err != nil {
		t.Fatal(err)
	}
	addrs := apptest.Start(t, []string{"BOTS_DIR=" + bots, "BOTS_RELOAD_INTERVAL=0", "LLM_URL=" + up.URL, "LLM_MODEL=tiny-test",
		"BOOTSTRAP_ADMIN_EMAIL=root@example.com", "BOOTSTRAP_ADMIN_PASSWORD=root password 123"},
		botauth.Service(), botllm.Service(), botauto.Service(), botchat.Service())
	return behindGateway(t, addrs.GRPC, authapi.Register, chatapi.Register)
}

func postJSON(t *testing.T, url, token string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
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

// wsClient reads and writes the protocol's JSON frames.
type wsClient struct {
	t  *testing.T
	c  *websocket.Conn
	id string // last message_id seen
	ch int    // last chunk of it seen
}

func dialWS(t *testing.T, base, query string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws?"+query, nil)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial: %v (HTTP %d)", err, code)
	}
	c.SetReadLimit(1 << 20)
	return &wsClient{t: t, c: c}
}

func (w *wsClient) read() map[string]any {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, data, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		w.t.Fatal(err)
	}
	if f["type"] == "message" {
		w.id, w.ch = f["message_id"].(string), int(f["chunk"].(float64))
	}
	return f
}

func (w *wsClient) write(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	if err := w.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

// answer reads frames until a complete message is followed by quiet (the
// turn's last frame); it returns the texts by message and the last frame.
func (w *wsClient) turn(messages int) ([]string, map[string]any) {
	w.t.Helper()
	var texts []string
	idx := map[string]int{}
	var last map[string]any
	for done := 0; done < messages; {
		f := w.read()
		switch f["type"] {
		case "error":
			w.t.Fatalf("error frame %v", f)
		case "message":
			id := f["message_id"].(string)
			i, ok := idx[id]
			if !ok {
				i = len(texts)
				idx[id] = i
				texts = append(texts, "")
			}
			texts[i] += f["content"].(string)
			if f["is_complete"] == true {
				done++
				last = f
			}
		}
	}
	return texts, last
}

func suggestionTexts(f map[string]any) []string {
	var out []string
	for _, s := range f["suggestions"].([]any) {
		out = append(out, s.(map[string]any)["text"].(string))
	}
	return out
}

// The end-to-end: a visitor of the sample bot on the WebSocket goes
// through the menu, answers a typed HEAR wrongly then rightly, runs a tool,
// gets an LLM answer (with a tool call) streamed from an OpenAI-compatible
// server, drops mid-stream and gets the rest after reconnecting; the same
// conversation is then available over HTTP (SSE and history).
func TestChatOverWebSocketEndToEnd(t *testing.T) {
	llm := &openAI{}
	base := chatStack(t, llm)

	code, sess := postJSON(t, base+"/api/v1/sessions", "", map[string]string{"bot": "sample"})
	if code != 201 {
		t.Fatalf("visitor session: %d %v", code, sess)
	}
	token, session := sess["token"].(string), sess["session_id"].(string)

	// Without a token there is no socket.
	if resp, err := http.Get(base + "/ws?bot=sample"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v %v", resp, err)
	}

	ws := dialWS(t, base, "bot=sample&token="+token)
	if f := ws.read(); f["type"] != "connected" || f["session_id"] != session || f["bot"] != "sample" || f["user_id"] == "" {
		t.Fatalf("connected frame %v", f)
	}
	texts, last := ws.turn(1)
	if !strings.HasPrefix(texts[0], "Hello! I am") {
		t.Fatalf("greeting %q", texts)
	}
	if got := strings.Join(suggestionTexts(last), "|"); got != "Opening hours|Book a repair|Ask a question" {
		t.Fatalf("menu %q", got)
	}

	say := func(content string) {
		ws.write(map[string]any{"type": "message", "content": content, "message_type": 1, "client_id": content})
	}
	say("Book a repair")
	if texts, _ = ws.turn(1); texts[0] != "How many bikes need a repair?" {
		t.Fatalf("menu choice: %q", texts)
	}
	say("a few")
	if texts, _ = ws.turn(1); strings.Contains(texts[0], "e-mail") {
		t.Fatalf("a wrong answer to HEAR AS INTEGER went on: %q", texts)
	}
	say("2")
	if texts, _ = ws.turn(1); texts[0] != "And your e-mail, so we can confirm?" {
		t.Fatalf("after the number: %q", texts)
	}
	say("rider@example.com")
	if texts, _ = ws.turn(1); texts[0] != "Thanks! 2 bike(s) booked; we will write to rider@example.com." {
		t.Fatalf("booking: %q", texts)
	}

	// A tool run directly (message_type 6).
	ws.write(map[string]any{"type": "message", "content": "opening-hours", "message_type": 6, "args": map[string]string{"city": "Porto"}})
	if texts, _ = ws.turn(1); texts[0] != "Our Porto store is open 10:00 to 19:00, Monday to Saturday." {
		t.Fatalf("tool: %q", texts)
	}

	// No script takes this: the model calls the tool, which talks, then
	// answers in a stream of chunks of one message.
	say("what are your hours?")
	texts, _ = ws.turn(2)
	if texts[0] != "Our Lisbon store is open 09:00 to 18:00, every day." || texts[1] != "The store opens at 09:00." {
		t.Fatalf("LLM turn: %q", texts)
	}
	llm.mu.Lock()
	first := llm.requests[0]
	llm.mu.Unlock()
	sys := first["messages"].([]any)[0].(map[string]any)["content"].(string)
	if !strings.Contains(sys, "assistant of Acme Bikes") || !strings.Contains(sys, "bicycle shop in Lisbon and Porto") {
		t.Fatalf("system prompt lacks PROMPT.md or SET CONTEXT:\n%s", sys)
	}

	// Drop mid-stream, reconnect with the last message and chunk seen.
	say("tell me a story")
	for ws.ch < 5 || ws.id == "" {
		ws.read()
	}
	ws.c.Close(websocket.StatusNormalClosure, "bye")
	seenID, seenChunk := ws.id, ws.ch
	ws2 := dialWS(t, base, fmt.Sprintf("bot=sample&session=%s&after=%s&chunk=%d&token=%s", session, seenID, seenChunk, token))
	if f := ws2.read(); f["type"] != "connected" {
		t.Fatalf("reconnect: %v", f)
	}
	rest, _ := ws2.turn(1)
	var want strings.Builder
	for i := seenChunk + 1; i <= storyChunks; i++ {
		fmt.Fprintf(&want, "part%d ", i)
	}
	if len(rest) != 1 || rest[0] != want.String() {
		t.Fatalf("after reconnecting got %q\nwant %q", rest, want.String())
	}
	ws2.c.Close(websocket.StatusNormalClosure, "bye")

	// The same conversation over HTTP: a message answered as SSE.
	req, _ := http.NewRequest("POST", base+"/api/v1/conversations/"+session+"/messages", strings.NewReader(`{"type":"message","content":"hi there"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("SSE: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var sse strings.Builder
	sc := bufio.NewScanner(resp.Body)
	var kinds []string
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var f map[string]any
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, f["type"].(string))
		if f["type"] == "message" {
			sse.WriteString(f["content"].(string))
		}
	}
	resp.Body.Close()
	if sse.String() != "You asked: hi there" || kinds[0] != "typing" {
		t.Fatalf("SSE answer %q %v", sse.String(), kinds)
	}

	// History over HTTP has the whole conversation in order.
	hreq, _ := http.NewRequest("GET", base+"/api/v1/conversations/"+session+"/messages?limit=100", nil)
	hreq.Header.Set("Authorization", "Bearer "+token)
	hresp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	var hist struct {
		Messages []struct {
			Role, Content string
			Tokens        string `json:"tokens"`
		}
	}
	if err := json.NewDecoder(hresp.Body).Decode(&hist); err != nil || hresp.StatusCode != 200 {
		t.Fatalf("history %d %v", hresp.StatusCode, err)
	}
	hresp.Body.Close()
	var roles []string
	for _, m := range hist.Messages {
		roles = append(roles, m.Role)
	}
	// Each answer follows its question, whenever it was stored.
	if strings.Join(roles, ",") != "bot,user,bot,user,bot,user,bot,user,bot,user,bot,user,bot,bot,user,bot,user,bot" ||
		hist.Messages[1].Content != "Book a repair" || hist.Messages[len(hist.Messages)-1].Content != "You asked: hi there" {
		t.Fatalf("history roles %v\n%+v", roles, hist.Messages)
	}

	// Another visitor cannot read it.
	_, other := postJSON(t, base+"/api/v1/sessions", "", map[string]string{"bot": "sample"})
	oreq, _ := http.NewRequest("GET", base+"/api/v1/conversations/"+session+"/messages", nil)
	oreq.Header.Set("Authorization", "Bearer "+other["token"].(string))
	oresp, err := http.DefaultClient.Do(oreq)
	if err != nil {
		t.Fatal(err)
	}
	oresp.Body.Close()
	if oresp.StatusCode != 404 {
		t.Fatalf("another visitor read the conversation: %d", oresp.StatusCode)
	}
}
