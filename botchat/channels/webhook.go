package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Headers of the generic webhook channel.
const (
	// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" with
	// the bot's webhook-secret, both ways.
	SignatureHeader = "X-Signature-256"
	// IdempotencyHeader is the same for every attempt to deliver one part.
	IdempotencyHeader = "Idempotency-Key"
	whMaxText         = 64 << 10
)

// generic is the generic webhook channel. Inbound: POST a JSON object
// {"user","text","id"?} signed in X-Signature-256 with webhook-secret.
// Outbound: each bot message is POSTed to webhook-url as a message frame
// {"type":"message","bot","user","conversation_id","message_id","part",
// "parts","content","suggestions"}, signed the same way, with an
// Idempotency-Key that stays the same across retries.
type generic struct{}

func (generic) limits() (int, int) { return whMaxText, whMaxText }

// WebhookMessage is the inbound body of the generic webhook.
type WebhookMessage struct {
	User string `json:"user"`
	Text string `json:"text"`
	// ID, when given, makes redelivery safe: one message per user and id.
	ID string `json:"id,omitempty"`
}

func (generic) inbound(req *chatv1.WebhookRequest, cfg Config) ([]Inbound, *chatv1.WebhookResponse, error) {
	secret := cfg.get("webhook-secret")
	if secret == "" {
		return nil, nil, errNotConfigured
	}
	if req.Method != http.MethodPost {
		return nil, nil, fmt.Errorf("webhook messages are POST")
	}
	if !validSignature(req.Headers[strings.ToLower(SignatureHeader)], req.Body, secret) {
		return nil, nil, errBadSignature
	}
	var m WebhookMessage
	dec := json.NewDecoder(bytes.NewReader(req.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf(`the body must be {"user","text","id"?}: %w`, err)
	}
	if m.User == "" || m.Text == "" {
		return nil, nil, errors.New("user and text are required")
	}
	return []Inbound{{ID: m.ID, From: m.User, Text: m.Text}}, &chatv1.WebhookResponse{Status: http.StatusAccepted}, nil
}

func (generic) send(ctx context.Context, hc *http.Client, cfg Config, o *Outgoing) (string, error) {
	target, secret := cfg.get("webhook-url"), cfg.get("webhook-secret")
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", &SendError{Reason: "the bot's webhook-url is not an http(s) URL"}
	}
	if secret == "" {
		return "", &SendError{Reason: "the bot has no webhook-secret to sign with"}
	}
	type suggestion struct {
		Text  string `json:"text"`
		Kind  string `json:"kind"`
		Value string `json:"value"`
	}
	frame := struct {
		Type           string       `json:"type"`
		Bot            string       `json:"bot"`
		User           string       `json:"user"`
		ConversationID string       `json:"conversation_id"`
		MessageID      string       `json:"message_id"`
		Part           int          `json:"part"`
		Parts          int          `json:"parts"`
		Content        string       `json:"content"`
		Suggestions    []suggestion `json:"suggestions"`
	}{"message", o.Bot, o.To, o.ConversationID, o.MessageID, o.Part + 1, o.Parts, o.Text, []suggestion{}}
	for _, s := range o.Suggestions {
		frame.Suggestions = append(frame.Suggestions, suggestion(s))
	}
	b, _ := json.Marshal(frame)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return "", &SendError{Reason: "bad webhook-url"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Signature(b, secret))
	req.Header.Set(IdempotencyHeader, o.IdempotencyKey)
	resp, err := hc.Do(req)
	if err != nil {
		return "", networkFailure(unwrapURLError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return "", httpFailure(resp, http.StatusText(resp.StatusCode))
	}
	return "", nil
}

// unwrapURLError drops the URL from a client error (it may hold a token).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
