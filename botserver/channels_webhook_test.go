package botserver_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestChannelsGenericWebhookEndToEnd(t *testing.T) {
	wa, tg, wh := newWhatsApp(t), newTelegram(t), newReceiver(t)
	base, db := channelStack(t, wa, tg, wh)
	hook := base + "/api/v1/channels/webhook/sample"
	send := func(body string) (int, map[string]any) {
		t.Helper()
		code, out := post(t, hook, []byte(body), map[string]string{"X-Signature-256": hubSignature([]byte(body), whSecret)})
		var m map[string]any
		_ = json.Unmarshal([]byte(out), &m)
		return code, m
	}

	// Unsigned, wrongly signed and malformed requests are refused.
	body := `{"user":"crm-42","text":"hi","id":"m1"}`
	if code, _ := post(t, hook, []byte(body), map[string]string{"X-Signature-256": hubSignature([]byte(body), "guess")}); code != 401 {
		t.Fatalf("bad signature: %d", code)
	}
	if code, _ := send(`{"user":"crm-42"}`); code != 400 {
		t.Fatalf("no text: %d", code)
	}
	if code, _ := send(`{"user":"crm-42","text":"x","extra":1}`); code != 400 {
		t.Fatalf("unknown field: %d", code)
	}

	// The receiver is down (503) for the first delivery of the greeting;
	// it is delivered once afterwards, signed, with a stable
	// Idempotency-Key.
	wh.failNext(failure{status: 503, body: "maintenance"})
	code, first := send(body)
	if code != 202 || first["conversation_id"] == "" || first["duplicate"] != false {
		t.Fatalf("inbound: %d %v", code, first)
	}
	got := wh.waitAccepted(1)
	f := got[0]
	if f["type"] != "message" || f["user"] != "crm-42" || f["bot"] != "sample" || f["conversation_id"] != first["conversation_id"] ||
		!strings.HasPrefix(f["content"].(string), "Hello! I am Acme") || len(f["suggestions"].([]any)) != 3 {
		t.Fatalf("frame: %v", f)
	}
	all := wh.all()
	if len(all) != 2 || all[0].Key == "" || all[0].Key != all[1].Key || all[1].Key != f["message_id"].(string)+":1" {
		t.Fatalf("deliveries: %+v", all)
	}
	// A redelivered inbound message is a duplicate; nothing new is sent.
	if code, again := send(body); code != 202 || again["duplicate"] != true || again["message_id"] != first["message_id"] {
		t.Fatalf("redelivery: %d %v", code, again)
	}
	// Retries are bounded: a receiver failing every time leaves the
	// message dead after CHAT_CHANNEL_MAX_ATTEMPTS (3) with the reason.
	wh.failNext(failure{status: 500}, failure{status: 502}, failure{status: 500})
	if code, _ := send(`{"user":"crm-42","text":"Opening hours","id":"m2"}`); code != 202 {
		t.Fatal("inbound 2")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows := readOutbox(t, db, "webhook")
		if len(rows) == 2 && rows[1].Status == "dead" {
			if rows[1].Attempts != 3 || !strings.Contains(rows[1].LastError, "gave up after 3 attempts: HTTP 500") {
				t.Fatalf("dead row: %+v", rows[1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not dead: %+v", rows)
		}
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(wh.accepted()); n != 1 {
		t.Fatalf("%d accepted deliveries, want 1", n)
	}
	if n := len(wa.all()) + len(tg.all()); n != 0 {
		t.Fatalf("webhook conversation sent %d messages to other channels", n)
	}
}
