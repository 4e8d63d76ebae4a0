package botserver_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// tgUpdate is a documented Telegram Update with a private text message.
func tgUpdate(updateID, chatID int64, text string) []byte {
	b, _ := json.Marshal(map[string]any{"update_id": updateID, "message": map[string]any{
		"message_id": updateID + 1000, "date": 1727000000, "text": text,
		"from": map[string]any{"id": chatID, "is_bot": false, "first_name": "Ana"},
		"chat": map[string]any{"id": chatID, "type": "private", "first_name": "Ana"}}})
	return b
}

func keyboard(m map[string]any) []string {
	rm, _ := m["reply_markup"].(map[string]any)
	rows, _ := rm["keyboard"].([]any)
	var out []string
	for _, r := range rows {
		for _, b := range r.([]any) {
			out = append(out, b.(map[string]any)["text"].(string))
		}
	}
	return out
}

func TestChannelsTelegramEndToEnd(t *testing.T) {
	wa, tg, wh := newWhatsApp(t), newTelegram(t), newReceiver(t)
	base, db := channelStack(t, wa, tg, wh)
	hook := base + "/api/v1/channels/telegram/sample"
	const chat = 987654321
	send := func(id int64, text string) {
		t.Helper()
		if code, body := post(t, hook, tgUpdate(id, chat, text), map[string]string{"X-Telegram-Bot-Api-Secret-Token": tgSecret}); code != 200 {
			t.Fatalf("update %d: %d %s", id, code, body)
		}
	}

	// Without the secret token, or with another, nothing is taken.
	for _, h := range []map[string]string{{}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}} {
		if code, _ := post(t, hook, tgUpdate(1, chat, "hi"), h); code != 401 {
			t.Fatalf("secret %v: %d, want 401", h, code)
		}
	}

	// The greeting carries the menu as a reply keyboard.
	send(10, "hi")
	got := tg.waitAccepted(1)
	if got[0]["chat_id"] != float64(chat) || !strings.HasPrefix(got[0]["text"].(string), "Hello! I am Acme") {
		t.Fatalf("greeting: %v", got[0])
	}
	if kb := keyboard(got[0]); strings.Join(kb, "|") != "Opening hours|Book a repair|Ask a question" {
		t.Fatalf("keyboard: %v", kb)
	}
	// A keyboard press is the button's text; the next answer offers a tool.
	send(11, "Opening hours")
	got = tg.waitAccepted(2)
	if got[1]["text"] != "Which city? We are in Lisbon and Porto." || strings.Join(keyboard(got[1]), "|") != "Hours in Lisbon" {
		t.Fatalf("after Opening hours: %v", got[1])
	}
	// Pressing the tool button runs the tool; Telegram throttles the answer
	// with 429 and parameters.retry_after, and it goes out once after it.
	tg.failNext(failure{status: 429, headers: map[string]string{"Retry-After": "1"},
		body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`})
	start := time.Now()
	send(12, "Hours in Lisbon")
	got = tg.waitAccepted(3)
	if got[2]["text"] != "Our Lisbon store is open 09:00 to 18:00, every day." {
		t.Fatalf("tool answer: %v", got[2])
	}
	// The script's ADD SUGGESTION stays on the conversation (as on the web).
	if kb := keyboard(got[2]); strings.Join(kb, "|") != "Hours in Lisbon" {
		t.Fatalf("keyboard of the tool answer: %v", kb)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Fatalf("retry_after was not honoured (%v)", time.Since(start))
	}
	// Telegram retries an update it thinks failed: taken once.
	send(12, "Hours in Lisbon")
	time.Sleep(500 * time.Millisecond)
	if n := len(tg.accepted()); n != 3 {
		t.Fatalf("%d messages sent, want 3 (no duplicates)", n)
	}
	rows := readOutbox(t, db, "telegram")
	if len(rows) != 3 || rows[2].Status != "sent" || rows[2].Attempts != 2 || rows[0].Attempts != 1 {
		t.Fatalf("outbox: %+v", rows)
	}

	// A long answer is cut into parts that each fit, sent in order.
	long := strings.Repeat("Lorem ipsum dolor sit amet. ", 400) // ~11k characters
	send(13, "Ask a question")
	tg.waitAccepted(4)
	send(14, long)
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows = readOutbox(t, db, "telegram")
		if len(rows) >= 5 && rows[4].Status == "sent" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("long answer not sent: %+v", rows)
		}
		time.Sleep(30 * time.Millisecond)
	}
	if rows[4].PartsSent < 3 {
		t.Fatalf("long answer in %d parts, want >= 3", rows[4].PartsSent)
	}
	all := tg.accepted()
	var joined strings.Builder
	for _, m := range all[4:] {
		joined.WriteString(m["text"].(string))
	}
	if !strings.Contains(strings.ReplaceAll(joined.String(), " ", ""), strings.ReplaceAll(strings.TrimSpace(long), " ", "")) {
		t.Fatalf("the parts do not add up to the answer (%d parts, %d bytes)", len(all)-4, joined.Len())
	}
	// Only the last part carries the keyboard.
	for i, m := range all[4:] {
		if last := i == len(all)-5; (len(keyboard(m)) > 0) != last {
			t.Fatalf("part %d of %d: reply_markup %v", i+1, len(all)-4, m["reply_markup"])
		}
	}
}
