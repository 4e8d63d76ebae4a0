package botserver_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botauth"
	"github.com/botserver-go/botserver-go/botauto"
	"github.com/botserver-go/botserver-go/botchat"
	channelsapi "github.com/botserver-go/botserver-go/botcore/api/channels"
	"github.com/botserver-go/botserver-go/botllm"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// Channel secrets of the test bot (a copy of the sample bot).
const (
	waVerifyToken = "verify-me-123"
	waAppSecret   = "app-secret-456"
	waAPIKey      = "EAAG-test-access-token"
	waNumberID    = "106540352242922"
	tgToken       = "123456:ABC-test-token"
	tgSecret      = "tg-secret-789"
	whSecret      = "webhook-secret-000"
)

// sent is one request a fake channel accepted or refused.
type sent struct {
	Body     map[string]any
	Key      string // Idempotency-Key (generic webhook)
	Accepted bool
}

// failure is a programmed answer: status, headers and body.
type failure struct {
	status  int
	headers map[string]string
	body    string
}

// fakeChannel is a local server speaking one channel's documented send
// API. Failures queued with failNext answer the next requests, in order.
type fakeChannel struct {
	t    *testing.T
	mu   sync.Mutex
	reqs []sent
	fail []failure
	srv  *httptest.Server
	next int
}

func (f *fakeChannel) failNext(fs ...failure) {
	f.mu.Lock()
	f.fail = append(f.fail, fs...)
	f.mu.Unlock()
}

func (f *fakeChannel) record(s sent) (failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fail) > 0 {
		fl := f.fail[0]
		f.fail = f.fail[1:]
		f.reqs = append(f.reqs, s)
		return fl, true
	}
	s.Accepted = true
	f.next++
	f.reqs = append(f.reqs, s)
	return failure{}, false
}

func (f *fakeChannel) all() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.reqs...)
}

// accepted are the bodies the channel took, in order.
func (f *fakeChannel) accepted() []map[string]any {
	var out []map[string]any
	for _, s := range f.all() {
		if s.Accepted {
			out = append(out, s.Body)
		}
	}
	return out
}

// waitAccepted waits until n requests were accepted and returns them.
func (f *fakeChannel) waitAccepted(n int) []map[string]any {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if got := f.accepted(); len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(f.all(), "", " ")
	f.t.Fatalf("the channel accepted %d messages, want %d; requests:\n%s", len(f.accepted()), n, b)
	return nil
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newWhatsApp is the WhatsApp Cloud API's POST /{phone-number-id}/messages:
// it checks the access token and the documented request shape and answers
// as documented ({"messaging_product","contacts","messages":[{"id"}]}, or
// {"error":{"message","type","code","fbtrace_id"}}).
func newWhatsApp(t *testing.T) *fakeChannel {
	f := &fakeChannel{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		graphErr := func(status, code int, msg string) {
			writeJSONBody(w, status, map[string]any{"error": map[string]any{"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}})
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v21.0/"+waNumberID+"/messages" {
			graphErr(404, 803, "Unknown path "+r.URL.Path)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+waAPIKey {
			graphErr(401, 190, "Invalid OAuth access token.")
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			graphErr(400, 100, "Invalid JSON")
			return
		}
		if msg := checkWhatsAppMessage(body); msg != "" {
			graphErr(400, 100, "(#100) Invalid parameter: "+msg)
			return
		}
		if fl, ok := f.record(sent{Body: body}); ok {
			for k, v := range fl.headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(fl.status)
			_, _ = io.WriteString(w, fl.body)
			return
		}
		f.mu.Lock()
		id := fmt.Sprintf("wamid.HBgM%04d", f.next)
		f.mu.Unlock()
		writeJSONBody(w, 200, map[string]any{"messaging_product": "whatsapp",
			"contacts": []any{map[string]any{"input": body["to"], "wa_id": body["to"]}}, "messages": []any{map[string]any{"id": id}}})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// checkWhatsAppMessage enforces the documented shape and limits of a text,
// reply-button or list message; "" when it is valid.
func checkWhatsAppMessage(b map[string]any) string {
	if b["messaging_product"] != "whatsapp" || b["to"] == "" || b["to"] == nil {
		return "messaging_product must be whatsapp and to is required"
	}
	switch b["type"] {
	case "text":
		text, _ := b["text"].(map[string]any)
		body, _ := text["body"].(string)
		if body == "" || utf8.RuneCountInString(body) > 4096 {
			return "text.body must be 1 to 4096 characters"
		}
	case "interactive":
		in, _ := b["interactive"].(map[string]any)
		bodyText, _ := in["body"].(map[string]any)["text"].(string)
		if bodyText == "" || utf8.RuneCountInString(bodyText) > 1024 {
			return "interactive.body.text must be 1 to 1024 characters"
		}
		action, _ := in["action"].(map[string]any)
		switch in["type"] {
		case "button":
			buttons, _ := action["buttons"].([]any)
			if len(buttons) < 1 || len(buttons) > 3 {
				return "1 to 3 buttons"
			}
			for _, x := range buttons {
				btn := x.(map[string]any)
				reply, _ := btn["reply"].(map[string]any)
				title, _ := reply["title"].(string)
				id, _ := reply["id"].(string)
				if btn["type"] != "reply" || title == "" || utf8.RuneCountInString(title) > 20 || id == "" || len(id) > 256 {
					return "a reply button needs type reply, a title of 1 to 20 characters and an id of 1 to 256"
				}
			}
		case "list":
			button, _ := action["button"].(string)
			sections, _ := action["sections"].([]any)
			if button == "" || utf8.RuneCountInString(button) > 20 || len(sections) == 0 {
				return "a list needs a button of 1 to 20 characters and sections"
			}
			rows := 0
			for _, s := range sections {
				for _, x := range s.(map[string]any)["rows"].([]any) {
					row := x.(map[string]any)
					title, _ := row["title"].(string)
					if title == "" || utf8.RuneCountInString(title) > 24 {
						return "row titles are 1 to 24 characters"
					}
					rows++
				}
			}
			if rows > 10 {
				return "at most 10 rows"
			}
		default:
			return "interactive.type must be button or list"
		}
	default:
		return "type must be text or interactive"
	}
	return ""
}

// newTelegram is the Telegram Bot API's POST /bot<token>/sendMessage:
// {"ok":true,"result":Message} or {"ok":false,"error_code","description"}.
func newTelegram(t *testing.T) *fakeChannel {
	f := &fakeChannel{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bot"+tgToken+"/sendMessage" {
			writeJSONBody(w, 401, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSONBody(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: can't parse JSON"})
			return
		}
		text, _ := body["text"].(string)
		if _, ok := body["chat_id"].(float64); !ok || text == "" || utf8.RuneCountInString(text) > 4096 {
			writeJSONBody(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: chat_id and a text of 1-4096 characters are required"})
			return
		}
		if rm, ok := body["reply_markup"].(map[string]any); ok {
			if kb, ok := rm["keyboard"].([]any); ok {
				for _, row := range kb {
					for _, b := range row.([]any) {
						if s, _ := b.(map[string]any)["text"].(string); s == "" {
							writeJSONBody(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: keyboard button text is empty"})
							return
						}
					}
				}
			}
		}
		if fl, ok := f.record(sent{Body: body}); ok {
			for k, v := range fl.headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(fl.status)
			_, _ = io.WriteString(w, fl.body)
			return
		}
		f.mu.Lock()
		id := f.next
		f.mu.Unlock()
		writeJSONBody(w, 200, map[string]any{"ok": true, "result": map[string]any{"message_id": id, "date": time.Now().Unix(),
			"chat": map[string]any{"id": body["chat_id"], "type": "private"}, "text": text}})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// newReceiver is the generic webhook's receiving end: it checks the
// signature and records the Idempotency-Key.
func newReceiver(t *testing.T) *fakeChannel {
	f := &fakeChannel{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(whSecret))
		m.Write(raw)
		if r.Header.Get("X-Signature-256") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if fl, ok := f.record(sent{Body: body, Key: r.Header.Get("Idempotency-Key")}); ok {
			for k, v := range fl.headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(fl.status)
			_, _ = io.WriteString(w, fl.body)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// channelStack runs botauth, botllm, botauto (with a copy of the sample
// bot configured for every channel) and botchat behind a gateway with the
// channel webhooks, sending to the given fake channels. It returns the
// gateway's URL and the database URL (to read the outbox).
func channelStack(t *testing.T, wa, tg, wh *fakeChannel) (string, string) {
	t.Helper()
	llm := httptest.NewServer(&openAI{})
	t.Cleanup(llm.Close)
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "sample.gbai"), os.DirFS("../bots/sample.gbai")); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "sample.gbai", "sample.gbot", "config.csv")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	extra := strings.Join([]string{"whatsapp-verify-token," + waVerifyToken, "whatsapp-app-secret," + waAppSecret,
		"whatsapp-api-key," + waAPIKey, "whatsapp-phone-number-id," + waNumberID, "telegram-bot-token," + tgToken,
		"telegram-webhook-secret," + tgSecret, "webhook-secret," + whSecret, "webhook-url," + wh.srv.URL + "/hook"}, "\n")
	if err := os.WriteFile(cfgPath, append(cfg, []byte(extra+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	db := testutil.NewDatabase(t)
	addrs := apptest.Start(t, []string{"DATABASE_URL=" + db, "BOTS_DIR=" + dir, "BOTS_RELOAD_INTERVAL=0", "LLM_URL=" + llm.URL,
		"LLM_MODEL=tiny-test", "BOOTSTRAP_ADMIN_EMAIL=root@example.com", "BOOTSTRAP_ADMIN_PASSWORD=root password 123",
		"CHAT_WHATSAPP_GRAPH_URL=" + wa.srv.URL + "/v21.0", "CHAT_TELEGRAM_API_URL=" + tg.srv.URL,
		"CHAT_CHANNEL_POLL_INTERVAL=30ms", "CHAT_CHANNEL_RETRY_BASE=200ms", "CHAT_CHANNEL_MAX_ATTEMPTS=3", "CHAT_CHANNEL_RATE=50"},
		botauth.Service(), botllm.Service(), botauto.Service(), botchat.Service())
	return behindGateway(t, addrs.GRPC, channelsapi.Register), db
}

// outboxRow is one row of chat.channel_outbox as the test reads it.
type outboxRow struct {
	MessageID, Status, LastError, Content string
	Attempts, PartsSent                   int
}

// readOutbox reads a channel's outbox, in order, as the database owner.
func readOutbox(t *testing.T, db, channel string) []outboxRow {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(t.Context(), `SELECT message_id::text, status, last_error, content, attempts, parts_sent
		FROM chat.channel_outbox WHERE channel = $1 ORDER BY seq`, channel)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outboxRow, error) {
		var o outboxRow
		err := r.Scan(&o.MessageID, &o.Status, &o.LastError, &o.Content, &o.Attempts, &o.PartsSent)
		return o, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// post sends a webhook request with headers and returns status and body.
func post(t *testing.T, url string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func hubSignature(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
