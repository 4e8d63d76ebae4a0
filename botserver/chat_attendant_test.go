package botserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// dialAttendant opens the attendant's WebSocket.
func dialAttendant(t *testing.T, base, query string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/api/v1/attendant/ws?"+query, nil)
	if err != nil {
		t.Fatalf("dial attendant: %v", err)
	}
	c.SetReadLimit(1 << 20)
	return &wsClient{t: t, c: c}
}

// until reads frames until ok accepts one; other frames are skipped.
func (w *wsClient) until(ok func(map[string]any) bool) map[string]any {
	w.t.Helper()
	for {
		if f := w.read(); ok(f) {
			return f
		}
	}
}

// readType reads frames until one of type typ, and fails on an error frame.
func (w *wsClient) readType(typ string) map[string]any {
	w.t.Helper()
	for {
		f := w.read()
		if f["type"] == typ {
			return f
		}
		if f["type"] == "error" {
			w.t.Fatalf("error frame %v while waiting for %s", f, typ)
		}
	}
}

// The attendant's desk over one WebSocket: the queue arrives live, a claim
// follows the conversation (the user's words reach the attendant, the
// attendant's reply reaches the user), the bot stays silent while a human
// owns the conversation, and resolving gives it back to the bot.
func TestAttendantWebSocket(t *testing.T) {
	base := chatStack(t, &openAI{})
	_, login := postJSON(t, base+"/api/v1/auth/login", "", map[string]string{"email": "root@example.com", "password": "root password 123"})
	admin, _ := login["access_token"].(string)
	if admin == "" {
		t.Fatalf("login %v", login)
	}
	_, sess := postJSON(t, base+"/api/v1/sessions", "", map[string]string{"bot": "sample"})
	visitor, session := sess["token"].(string), sess["session_id"].(string)

	// Visitors do not get the desk; it answers before upgrading.
	resp, err := http.Get(base + "/api/v1/attendant/ws?token=" + visitor)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a visitor opened the desk: %v %v", resp, err)
	}
	resp.Body.Close()

	user := dialWS(t, base, "bot=sample&token="+visitor)
	user.readType("connected")
	user.turn(1) // greeting

	desk := dialAttendant(t, base, "queue=support&token="+admin)
	if q := desk.readType("queue"); len(q["conversations"].([]any)) != 0 {
		t.Fatalf("queue at start %v", q)
	}
	if code, out := postJSON(t, base+"/api/v1/conversations/"+session+"/handoff", visitor, map[string]string{"queue": "support", "reason": "wants a person"}); code != 200 {
		t.Fatalf("hand-off request %d %v", code, out)
	}
	h := desk.readType("queue_update")["conversation"].(map[string]any)
	if h["id"] != session || h["handoff_state"] != "HANDOFF_STATE_QUEUED" || h["handoff_queue"] != "support" {
		t.Fatalf("queued seen as %v", h)
	}
	if f := user.readType("handoff"); f["state"] != "queued" {
		t.Fatalf("user saw %v", f)
	}

	desk.write(map[string]any{"type": "claim", "conversation_id": session, "ref": "c1"})
	ack := desk.readType("ack")
	if ack["ref"] != "c1" || ack["conversation"].(map[string]any)["handoff_state"] != "HANDOFF_STATE_HUMAN" {
		t.Fatalf("claim ack %v", ack)
	}
	if f := user.readType("handoff"); f["state"] != "human" {
		t.Fatalf("user saw %v", f)
	}
	user.write(map[string]any{"type": "message", "content": "is anyone there?", "message_type": 1})
	for {
		f := desk.readType("message")
		if f["conversation_id"] == session && f["role"] == "user" && f["content"] == "is anyone there?" {
			break
		}
	}
	desk.write(map[string]any{"type": "reply", "conversation_id": session, "content": "Hi, Ana here.", "ref": "r1"})
	// The desk follows the conversation, so it sees the reply as well as
	// the ack, in either order.
	for acked, seen := false, false; !acked || !seen; {
		f := desk.read()
		switch {
		case f["type"] == "ack":
			if f["ref"] != "r1" || f["message"].(map[string]any)["content"] != "Hi, Ana here." {
				t.Fatalf("reply ack %v", f)
			}
			acked = true
		case f["type"] == "message" && f["role"] == "human":
			seen = f["conversation_id"] == session
		case f["type"] == "error":
			t.Fatalf("error frame %v", f)
		}
	}
	// The next message the user gets is the attendant's: the bot said nothing.
	if f := user.readType("message"); f["role"] != "human" || f["content"] != "Hi, Ana here." {
		t.Fatalf("while a human owns the conversation the user got %v", f)
	}
	desk.write(map[string]any{"type": "shout", "ref": "x"})
	if f := desk.until(func(f map[string]any) bool { return f["ref"] == "x" }); f["type"] != "error" || f["code"] != "bad_request" {
		t.Fatalf("unknown command answered %v", f)
	}
	desk.write(map[string]any{"type": "claim", "conversation_id": session, "ref": "c2"})
	if f := desk.until(func(f map[string]any) bool { return f["ref"] == "c2" }); f["type"] != "error" {
		t.Fatalf("a second claim answered %v", f)
	}

	// The ack and the queue's news of it come in either order.
	desk.write(map[string]any{"type": "resolve", "conversation_id": session, "note": "greeted", "ref": "z"})
	for acked, updated := false, false; !acked || !updated; {
		f := desk.read()
		switch f["type"] {
		case "ack":
			if f["ref"] != "z" || f["conversation"].(map[string]any)["handoff_state"] != "HANDOFF_STATE_BOT" {
				t.Fatalf("resolve ack %v", f)
			}
			acked = true
		case "queue_update":
			if h := f["conversation"].(map[string]any); h["id"] != session || h["handoff_state"] != "HANDOFF_STATE_BOT" {
				t.Fatalf("resolved seen as %v", h)
			}
			updated = true
		case "error":
			t.Fatalf("error frame %v", f)
		}
	}
	if f := user.readType("handoff"); f["state"] != "bot" {
		t.Fatalf("user saw %v", f)
	}
	user.write(map[string]any{"type": "message", "content": "Book a repair", "message_type": 1})
	if texts, _ := user.turn(1); texts[0] != "How many bikes need a repair?" {
		t.Fatalf("the bot is back: %q", texts)
	}
}
