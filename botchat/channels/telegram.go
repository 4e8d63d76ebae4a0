package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// The Telegram Bot API's documented limits.
const (
	tgMaxText       = 4096 // sendMessage text, after entities parsing (we send plain text)
	tgResponseLimit = 64 << 10
)

// telegram speaks the Telegram Bot API. Config keys: telegram-bot-token
// (sends), telegram-webhook-secret (the secret_token given to setWebhook:
// every update must carry it in X-Telegram-Bot-Api-Secret-Token; without
// it the webhook refuses everything).
type telegram struct {
	api string // base URL, e.g. https://api.telegram.org
}

func (telegram) limits() (int, int) { return tgMaxText, tgMaxText }

// tgUpdate is the documented Update object (the fields read here).
type tgUpdate struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		MessageID int64 `json:"message_id"`
		Chat      struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		} `json:"chat"`
		Text string `json:"text"`
	} `json:"message"`
}

func (t telegram) inbound(req *chatv1.WebhookRequest, cfg Config) ([]Inbound, *chatv1.WebhookResponse, error) {
	secret := cfg.get("telegram-webhook-secret")
	if secret == "" || cfg.get("telegram-bot-token") == "" {
		return nil, nil, errNotConfigured
	}
	if req.Method != http.MethodPost {
		return nil, nil, fmt.Errorf("telegram webhooks are POST")
	}
	if !equalSecret(req.Headers["x-telegram-bot-api-secret-token"], secret) {
		return nil, nil, errBadSignature
	}
	var u tgUpdate
	if err := json.Unmarshal(req.Body, &u); err != nil {
		return nil, nil, fmt.Errorf("the body is not a Telegram Update: %w", err)
	}
	ok := &chatv1.WebhookResponse{Status: http.StatusOK}
	// Edited messages, callbacks, channel posts, media: nothing to read.
	if u.Message == nil || u.Message.Text == "" {
		return nil, ok, nil
	}
	return []Inbound{{ID: strconv.FormatInt(u.UpdateID, 10), From: strconv.FormatInt(u.Message.Chat.ID, 10), Text: u.Message.Text}}, ok, nil
}

// tgMessage builds the documented sendMessage body: suggestions as a reply
// keyboard (one button a row), removed again on messages without them.
func tgMessage(o *Outgoing, cfg Config) map[string]any {
	text := o.Text
	if len(o.Suggestions) > 0 && strings.TrimSpace(text) == "" {
		text = menuText(cfg)
	}
	chat := any(o.To)
	if id, err := strconv.ParseInt(o.To, 10, 64); err == nil {
		chat = id
	}
	msg := map[string]any{"chat_id": chat, "text": text}
	switch {
	case len(o.Suggestions) > 0:
		var rows [][]map[string]string
		for _, s := range o.Suggestions {
			rows = append(rows, []map[string]string{{"text": s.Text}})
		}
		msg["reply_markup"] = map[string]any{"keyboard": rows, "one_time_keyboard": true, "resize_keyboard": true}
	case o.Part == o.Parts-1:
		msg["reply_markup"] = map[string]any{"remove_keyboard": true}
	}
	return msg
}

func (t telegram) send(ctx context.Context, hc *http.Client, cfg Config, o *Outgoing) (string, error) {
	token := cfg.get("telegram-bot-token")
	if token == "" {
		return "", &SendError{Reason: "the bot has no telegram-bot-token"}
	}
	b, _ := json.Marshal(tgMessage(o, cfg))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(t.api, "/")+"/bot"+token+"/sendMessage", bytes.NewReader(b))
	if err != nil {
		return "", &SendError{Reason: "bad Telegram API URL"} // never echo the URL: it holds the token
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		// The URL (with the token) is in the error text: keep only the cause.
		return "", networkFailure(unwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, tgResponseLimit))
	var r struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
		ErrorCode   int    `json:"error_code"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
		Result struct {
			MessageID int64 `json:"message_id"`
		} `json:"result"`
	}
	_ = json.Unmarshal(raw, &r)
	if resp.StatusCode/100 != 2 || !r.OK {
		reason := r.Description
		if reason == "" {
			reason = http.StatusText(resp.StatusCode)
		}
		e := httpFailure(resp, reason)
		if r.Parameters.RetryAfter > 0 {
			e.Retryable, e.RetryAfter = true, time.Duration(r.Parameters.RetryAfter)*time.Second
		}
		return "", e
	}
	return strconv.FormatInt(r.Result.MessageID, 10), nil
}
