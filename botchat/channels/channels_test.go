package channels

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/botserver-go/botserver-go/botchat/store"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

func TestSplitKeepsLimitsAndText(t *testing.T) {
	text := strings.Repeat("word ", 3000) + strings.Repeat("é", 5000)
	parts := split(text, 4096, 1024)
	if len(parts) < 3 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, p := range parts {
		n := utf8.RuneCountInString(p)
		limit := 4096
		if i == len(parts)-1 {
			limit = 1024
		}
		if n == 0 || n > limit || !utf8.ValidString(p) {
			t.Fatalf("part %d: %d runes (limit %d)", i, n, limit)
		}
	}
	if got := strings.Join(parts, ""); strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(text, " ", "") {
		t.Fatal("split lost or changed text")
	}
	if again := split(text, 4096, 1024); strings.Join(again, "|") != strings.Join(parts, "|") {
		t.Fatal("split is not deterministic: a retry would send different parts")
	}
	if p := split("short", 10, 10); len(p) != 1 || p[0] != "short" {
		t.Fatalf("%q", p)
	}
}

func TestSignatureIsConstantTimeHMAC(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account"}`)
	sig := Signature(body, "s3cret")
	if !validSignature(sig, body, "s3cret") {
		t.Fatal("valid signature refused")
	}
	for _, bad := range []string{"", "sha256=", sig[:len(sig)-2] + "00", strings.TrimPrefix(sig, "sha256="), "sha1=" + sig[7:]} {
		if validSignature(bad, body, "s3cret") {
			t.Fatalf("accepted %q", bad)
		}
	}
	if validSignature(sig, append(body, ' '), "s3cret") || validSignature(sig, body, "") {
		t.Fatal("accepted a changed body or an empty secret")
	}
}

func TestWhatsAppMessageShapes(t *testing.T) {
	sg := func(n int) []store.Suggestion {
		var out []store.Suggestion
		for i := range n {
			out = append(out, store.Suggestion{Text: strings.Repeat("x", 30) + string(rune('a'+i)), Kind: "message", Value: "v" + string(rune('a'+i))})
		}
		return out
	}
	m := waMessage(&Outgoing{To: "1", Text: "hi"}, nil)
	if m["type"] != "text" || m["text"].(map[string]any)["body"] != "hi" {
		t.Fatalf("%v", m)
	}
	m = waMessage(&Outgoing{To: "1", Text: "", Suggestions: sg(3)}, nil)
	in := m["interactive"].(map[string]any)
	buttons := in["action"].(map[string]any)["buttons"].([]any)
	if in["type"] != "button" || len(buttons) != 3 || in["body"].(map[string]any)["text"] != "Choose an option:" {
		t.Fatalf("%v", in)
	}
	title := buttons[0].(map[string]any)["reply"].(map[string]any)["title"].(string)
	if utf8.RuneCountInString(title) != 20 {
		t.Fatalf("title %q not cut to 20", title)
	}
	m = waMessage(&Outgoing{To: "1", Text: "pick", Suggestions: sg(12)}, Config{"whatsapp-list-button": "Menu"})
	in = m["interactive"].(map[string]any)
	rows := in["action"].(map[string]any)["sections"].([]any)[0].(map[string]any)["rows"].([]any)
	if in["type"] != "list" || len(rows) != 10 || in["action"].(map[string]any)["button"] != "Menu" {
		t.Fatalf("%v", in)
	}
	id := rows[1].(map[string]any)["id"].(string)
	if s, ok := parseChoice(id); !ok || s.Kind != "message" || s.Value != "vb" {
		t.Fatalf("choice %q → %v %v", id, s, ok)
	}
}

func TestWhatsAppInboundReadsDocumentedPayload(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555","phone_number_id":"PN"},
		"statuses":[{"id":"wamid.S","status":"delivered"}],
		"messages":[{"from":"351","id":"wamid.A","timestamp":"1","type":"text","text":{"body":"hello"}},
		{"from":"351","id":"wamid.B","timestamp":"1","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"s:tool:opening-hours","title":"Hours"}}},
		{"from":"351","id":"wamid.C","timestamp":"1","type":"image","image":{"id":"m"}}]}}]},
		{"id":"2","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"OTHER"},"messages":[{"from":"9","id":"x","type":"text","text":{"body":"not ours"}}]}}]}]}`)
	cfg := Config{"whatsapp-app-secret": "sec", "whatsapp-phone-number-id": "PN"}
	req := &chatv1.WebhookRequest{Method: http.MethodPost, Body: body, Headers: map[string]string{"x-hub-signature-256": Signature(body, "sec")}}
	msgs, resp, err := whatsApp{}.inbound(req, cfg)
	if err != nil || resp.Status != 200 {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Text != "hello" || msgs[1].Choice != "s:tool:opening-hours" {
		t.Fatalf("%+v", msgs)
	}
	req.Headers["x-hub-signature-256"] = Signature(body, "other")
	if _, _, err := (whatsApp{}).inbound(req, cfg); err != errBadSignature {
		t.Fatalf("bad signature: %v", err)
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("Retry-After", "7")
	if d := retryAfter(h, now); d != 7*time.Second {
		t.Fatal(d)
	}
	h.Set("Retry-After", now.Add(30*time.Second).Format(http.TimeFormat))
	if d := retryAfter(h, now); d != 30*time.Second {
		t.Fatal(d)
	}
	s := New(Options{RetryBase: time.Second, RetryMax: 10 * time.Second})
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 10 * time.Second} {
		if d := s.backoff(n); d < want*8/10 || d > want*12/10 {
			t.Fatalf("backoff(%d) = %v, want about %v", n, d, want)
		}
	}
}
