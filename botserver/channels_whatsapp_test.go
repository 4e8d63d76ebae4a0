package botserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// waNotification is a documented WhatsApp Cloud API webhook payload with
// one message from a user.
func waNotification(from, id string, message map[string]any) []byte {
	message["from"], message["id"], message["timestamp"] = from, id, "1727000000"
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": "102290129340398", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550783881", "phone_number_id": waNumberID},
			"contacts":          []any{map[string]any{"profile": map[string]any{"name": "Ana"}, "wa_id": from}},
			"messages":          []any{message},
		}}}}}})
	return b
}

func waText(text string) map[string]any {
	return map[string]any{"type": "text", "text": map[string]any{"body": text}}
}

func waSend(t *testing.T, base string, body []byte) (int, string) {
	t.Helper()
	return post(t, base+"/api/v1/channels/whatsapp/sample", body, map[string]string{"X-Hub-Signature-256": hubSignature(body, waAppSecret)})
}

// waBody is the text a sent message shows: text.body or the interactive
// body's text.
func waBody(m map[string]any) string {
	if m["type"] == "text" {
		return m["text"].(map[string]any)["body"].(string)
	}
	return m["interactive"].(map[string]any)["body"].(map[string]any)["text"].(string)
}

func TestChannelsWhatsAppEndToEnd(t *testing.T) {
	wa, tg, wh := newWhatsApp(t), newTelegram(t), newReceiver(t)
	base, db := channelStack(t, wa, tg, wh)
	hook := base + "/api/v1/channels/whatsapp/sample"

	// The verification handshake echoes hub.challenge for the right token.
	resp, err := http.Get(hook + "?hub.mode=subscribe&hub.verify_token=" + waVerifyToken + "&hub.challenge=1158201444")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "1158201444" {
		t.Fatalf("handshake: %d %q, want 200 1158201444", resp.StatusCode, b)
	}
	resp, err = http.Get(hook + "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || strings.Contains(string(b), "1158201444") {
		t.Fatalf("handshake with a wrong token: %d %q, want 403 without the challenge", resp.StatusCode, b)
	}

	// Bad, missing and other-secret signatures are refused before anything
	// is stored or sent.
	const user = "351912345678"
	hi := waNotification(user, "wamid.IN1", waText("hi"))
	for name, h := range map[string]map[string]string{
		"bad":     {"X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)},
		"missing": {},
		"other":   {"X-Hub-Signature-256": hubSignature(hi, "not-the-app-secret")},
		"no hex":  {"X-Hub-Signature-256": "sha256=zz"},
	} {
		if code, body := post(t, hook, hi, h); code != 401 || !strings.Contains(body, `"unauthorized"`) {
			t.Fatalf("%s signature: %d %s, want 401", name, code, body)
		}
	}
	// A bot without a given channel's secrets answers 404, like no bot.
	if code, _ := post(t, base+"/api/v1/channels/whatsapp/nobot", hi, map[string]string{"X-Hub-Signature-256": hubSignature(hi, waAppSecret)}); code != 404 {
		t.Fatalf("unknown bot: %d, want 404", code)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(wa.all()); n != 0 || len(readOutbox(t, db, "whatsapp")) != 0 {
		t.Fatalf("refused requests caused %d sends / outbox rows", n)
	}

	// First message: start.bas greets with its menu as three reply buttons.
	if code, body := waSend(t, base, hi); code != 200 {
		t.Fatalf("inbound: %d %s", code, body)
	}
	got := wa.waitAccepted(1)
	greet := got[0]
	if greet["to"] != user || greet["type"] != "interactive" || !strings.HasPrefix(waBody(greet), "Hello! I am Acme") {
		t.Fatalf("greeting: %v", greet)
	}
	in := greet["interactive"].(map[string]any)
	buttons := in["action"].(map[string]any)["buttons"].([]any)
	if in["type"] != "button" || len(buttons) != 3 {
		t.Fatalf("menu: want 3 reply buttons, got %v", in)
	}
	var repair map[string]any
	for _, b := range buttons {
		r := b.(map[string]any)["reply"].(map[string]any)
		if r["title"] == "Book a repair" {
			repair = r
		}
	}
	if repair == nil {
		t.Fatalf("no Book a repair button in %v", buttons)
	}

	// The channel throttles the next send (429, Retry-After, Graph error
	// 130429): it goes out once, after the wait.
	wa.failNext(failure{status: 429, headers: map[string]string{"Retry-After": "1"},
		body: `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_subcode":2494055,"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}`})
	pressed := waNotification(user, "wamid.IN2", map[string]any{"type": "interactive", "interactive": map[string]any{
		"type": "button_reply", "button_reply": map[string]any{"id": repair["id"], "title": repair["title"]}}})
	start := time.Now()
	if code, body := waSend(t, base, pressed); code != 200 {
		t.Fatalf("button reply: %d %s", code, body)
	}
	got = wa.waitAccepted(2)
	if waBody(got[1]) != "How many bikes need a repair?" || got[1]["type"] != "text" {
		t.Fatalf("after the button: %v", got[1])
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Fatalf("the retry did not wait for Retry-After (took %v)", time.Since(start))
	}
	// WhatsApp delivers the same notification again: accepted, not run again.
	if code, _ := waSend(t, base, pressed); code != 200 {
		t.Fatalf("redelivery: %d", code)
	}
	if code, _ := waSend(t, base, waNotification(user, "wamid.IN3", waText("2"))); code != 200 {
		t.Fatal("inbound 2")
	}
	got = wa.waitAccepted(3)
	if waBody(got[2]) != "And your e-mail, so we can confirm?" {
		t.Fatalf("third answer: %v (the redelivered button must not be answered twice)", got[2])
	}

	// A send the channel refuses for good is dead with the reason; the
	// conversation goes on.
	wa.failNext(failure{status: 400, body: `{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026,"fbtrace_id":"A1"}}`})
	if code, _ := waSend(t, base, waNotification(user, "wamid.IN4", waText("not an e-mail"))); code != 200 {
		t.Fatal("inbound 4")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := readOutbox(t, db, "whatsapp")
		if len(rows) >= 4 && rows[3].Status == "dead" {
			if !strings.Contains(rows[3].LastError, "131026") || rows[3].Attempts != 1 {
				t.Fatalf("dead row: %+v", rows[3])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead row: %+v", rows)
		}
		time.Sleep(30 * time.Millisecond)
	}
	if code, _ := waSend(t, base, waNotification(user, "wamid.IN5", waText("ana@example.com"))); code != 200 {
		t.Fatal("inbound 5")
	}
	got = wa.waitAccepted(4)
	if waBody(got[3]) != "Thanks! 2 bike(s) booked; we will write to ana@example.com." {
		t.Fatalf("last answer: %v", got[3])
	}

	// Every message went out exactly once; the throttled one took two
	// attempts and kept no error.
	time.Sleep(300 * time.Millisecond)
	if n := len(wa.accepted()); n != 4 {
		t.Fatalf("%d messages accepted, want 4 (no duplicates)", n)
	}
	if n := len(wa.all()); n != 6 { // 4 accepted + the 429 + the 400
		t.Fatalf("%d send requests, want 6", n)
	}
	rows := readOutbox(t, db, "whatsapp")
	want := []struct {
		status   string
		attempts int
	}{{"sent", 1}, {"sent", 2}, {"sent", 1}, {"dead", 1}, {"sent", 1}}
	if len(rows) != len(want) {
		t.Fatalf("outbox: %+v", rows)
	}
	for i, w := range want {
		if rows[i].Status != w.status || rows[i].Attempts != w.attempts || w.status == "sent" && (rows[i].LastError != "" || rows[i].PartsSent != 1) {
			t.Fatalf("outbox row %d: %+v, want %s after %d attempts", i, rows[i], w.status, w.attempts)
		}
	}
}
