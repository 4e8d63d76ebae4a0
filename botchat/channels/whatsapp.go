package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/botserver-go/botserver-go/botchat/store"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// The WhatsApp Cloud API's documented limits.
const (
	waMaxText       = 4096 // text.body
	waMaxBody       = 1024 // interactive.body.text
	waMaxButtons    = 3    // reply buttons
	waMaxRows       = 10   // list rows over all sections
	waButtonTitle   = 20
	waRowTitle      = 24
	waRowDesc       = 72
	waListButton    = 20
	waMaxReplyID    = 256
	waChoicePrefix  = "s:"
	waResponseLimit = 64 << 10
)

// whatsApp speaks the WhatsApp Cloud API (Graph API). Config keys:
// whatsapp-verify-token (the webhook handshake), whatsapp-app-secret
// (X-Hub-Signature-256), whatsapp-api-key (the access token sends use),
// whatsapp-phone-number-id (the number that sends; inbound messages to
// other numbers of the same app are ignored).
type whatsApp struct {
	graph string // base URL, e.g. https://graph.facebook.com/v21.0
}

func (whatsApp) limits() (int, int) { return waMaxText, waMaxBody }

// waNotification is the documented webhook payload (field "messages").
type waNotification struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Messages []struct {
					From string `json:"from"`
					ID   string `json:"id"`
					Type string `json:"type"`
					Text struct {
						Body string `json:"body"`
					} `json:"text"`
					Button struct {
						Payload string `json:"payload"`
						Text    string `json:"text"`
					} `json:"button"`
					Interactive struct {
						Type        string `json:"type"`
						ButtonReply struct {
							ID    string `json:"id"`
							Title string `json:"title"`
						} `json:"button_reply"`
						ListReply struct {
							ID    string `json:"id"`
							Title string `json:"title"`
						} `json:"list_reply"`
					} `json:"interactive"`
				} `json:"messages"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

func (w whatsApp) inbound(req *chatv1.WebhookRequest, cfg Config) ([]Inbound, *chatv1.WebhookResponse, error) {
	if req.Method == http.MethodGet {
		// The verification handshake: echo hub.challenge when the verify
		// token matches.
		want := cfg.get("whatsapp-verify-token")
		if want == "" {
			return nil, nil, errNotConfigured
		}
		if req.Query["hub.mode"] != "subscribe" || !equalSecret(req.Query["hub.verify_token"], want) {
			return nil, nil, errBadSignature
		}
		ch := req.Query["hub.challenge"]
		if ch == "" || len(ch) > 256 {
			return nil, nil, fmt.Errorf("hub.challenge must be 1 to 256 bytes")
		}
		return nil, &chatv1.WebhookResponse{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(ch)}, nil
	}
	secret := cfg.get("whatsapp-app-secret")
	if secret == "" {
		return nil, nil, errNotConfigured
	}
	if !validSignature(req.Headers["x-hub-signature-256"], req.Body, secret) {
		return nil, nil, errBadSignature
	}
	var n waNotification
	if err := json.Unmarshal(req.Body, &n); err != nil {
		return nil, nil, fmt.Errorf("the body is not a WhatsApp notification: %w", err)
	}
	if n.Object != "whatsapp_business_account" {
		return nil, nil, fmt.Errorf("object %q is not whatsapp_business_account", n.Object)
	}
	number := cfg.get("whatsapp-phone-number-id")
	var out []Inbound
	for _, e := range n.Entry {
		for _, ch := range e.Changes {
			if ch.Field != "messages" || number != "" && ch.Value.Metadata.PhoneNumberID != number {
				continue
			}
			for _, m := range ch.Value.Messages {
				in := Inbound{ID: m.ID, From: m.From}
				switch m.Type {
				case "text":
					in.Text = m.Text.Body
				case "button": // a template's quick reply
					in.Text = m.Button.Text
					in.Choice = m.Button.Payload
				case "interactive":
					switch m.Interactive.Type {
					case "button_reply":
						in.Text, in.Choice = m.Interactive.ButtonReply.Title, m.Interactive.ButtonReply.ID
					case "list_reply":
						in.Text, in.Choice = m.Interactive.ListReply.Title, m.Interactive.ListReply.ID
					}
				}
				// Statuses, media, locations... carry no text the bot reads.
				if in.Text != "" || in.Choice != "" {
					out = append(out, in)
				}
			}
		}
	}
	return out, &chatv1.WebhookResponse{Status: http.StatusOK}, nil
}

// choiceID is the reply id of a suggestion: its kind and value, so the
// answer says what to do without any state kept here.
func choiceID(s store.Suggestion) string {
	id := waChoicePrefix + s.Kind + ":" + s.Value
	if len(id) > waMaxReplyID {
		// Too long to carry: the title is matched against the buttons sent.
		return ""
	}
	return id
}

// parseChoice reads a reply id made by choiceID.
func parseChoice(id string) (store.Suggestion, bool) {
	rest, ok := strings.CutPrefix(id, waChoicePrefix)
	if !ok {
		return store.Suggestion{}, false
	}
	kind, value, ok := strings.Cut(rest, ":")
	return store.Suggestion{Kind: kind, Value: value}, ok
}

// waMessage builds the documented send body of one part.
func waMessage(o *Outgoing, cfg Config) map[string]any {
	msg := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": o.To}
	sugg := o.Suggestions
	if len(sugg) > waMaxRows {
		sugg = sugg[:waMaxRows] // a list holds ten rows; the rest are dropped
	}
	body := o.Text
	if len(sugg) > 0 && strings.TrimSpace(body) == "" {
		body = menuText(cfg)
	}
	id := func(i int, s store.Suggestion) string {
		if c := choiceID(s); c != "" {
			return c
		}
		return fmt.Sprintf("i:%d", i)
	}
	switch {
	case len(sugg) == 0:
		msg["type"] = "text"
		msg["text"] = map[string]any{"preview_url": false, "body": body}
	case len(sugg) <= waMaxButtons:
		var buttons []any
		for i, s := range sugg {
			buttons = append(buttons, map[string]any{"type": "reply", "reply": map[string]any{"id": id(i, s), "title": truncate(s.Text, waButtonTitle)}})
		}
		msg["type"] = "interactive"
		msg["interactive"] = map[string]any{"type": "button", "body": map[string]any{"text": body}, "action": map[string]any{"buttons": buttons}}
	default:
		var rows []any
		for i, s := range sugg {
			row := map[string]any{"id": id(i, s), "title": truncate(s.Text, waRowTitle)}
			if len([]rune(s.Text)) > waRowTitle {
				row["description"] = truncate(s.Text, waRowDesc)
			}
			rows = append(rows, row)
		}
		button := cfg.get("whatsapp-list-button")
		if button == "" {
			button = "Options"
		}
		msg["type"] = "interactive"
		msg["interactive"] = map[string]any{"type": "list", "body": map[string]any{"text": body},
			"action": map[string]any{"button": truncate(button, waListButton), "sections": []any{map[string]any{"rows": rows}}}}
	}
	return msg
}

// waRateCodes are Graph API error codes that mean "slow down" even when
// the HTTP status is 400 (documented throughput and pair rate limits).
var waRateCodes = []int{4, 80007, 130429, 131056}

func (w whatsApp) send(ctx context.Context, hc *http.Client, cfg Config, o *Outgoing) (string, error) {
	token, number := cfg.get("whatsapp-api-key"), cfg.get("whatsapp-phone-number-id")
	if token == "" || number == "" {
		return "", &SendError{Reason: "the bot has no whatsapp-api-key or whatsapp-phone-number-id"}
	}
	b, _ := json.Marshal(waMessage(o, cfg))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(w.graph, "/")+"/"+number+"/messages", bytes.NewReader(b))
	if err != nil {
		return "", &SendError{Reason: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", networkFailure(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, waResponseLimit))
	var r struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &r)
	if resp.StatusCode/100 != 2 || r.Error != nil {
		reason := http.StatusText(resp.StatusCode)
		if r.Error != nil {
			reason = fmt.Sprintf("%s (code %d, %s)", r.Error.Message, r.Error.Code, r.Error.Type)
		}
		e := httpFailure(resp, reason)
		if r.Error != nil && slices.Contains(waRateCodes, r.Error.Code) {
			e.Retryable = true
		}
		return "", e
	}
	if len(r.Messages) == 0 {
		return "", nil
	}
	return r.Messages[0].ID, nil
}
