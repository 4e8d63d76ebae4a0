// Package channels connects bots to messaging channels: the WhatsApp Cloud
// API, the Telegram Bot API and a generic signed webhook.
//
// Inbound: the gateway forwards each webhook request as it came
// (ChannelService.Webhook); the channel's adapter checks it against the
// bot's secrets from botauto (signature, secret token, verify token), the
// sender's address (phone number, chat id, user) names the conversation
// (created on the first message) and the message goes through botchat's
// own Post, so it is ordered and answered exactly like a web message.
//
// Outbound: every bot or attendant message stored for a channel
// conversation is queued in chat.channel_outbox by the statement that
// stores it (store.FinishTurn, store.AddMessage). The Sender claims due rows, honours a per-bot
// send rate shared by replicas (chat.channel_rate), sends each message's
// parts in order and marks every accepted part at once, so a retry never
// sends a part twice; 429 and 5xx answers are retried with exponential
// back-off (or the channel's Retry-After), other failures and the last
// attempt leave the row dead with the reason.
package channels

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/botserver-go/botserver-go/botchat/store"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Channel names (chat.conversations.channel).
const (
	WhatsApp = "whatsapp"
	Telegram = "telegram"
	Webhook  = "webhook"
)

// Limits of what channels send us.
const (
	// MaxBody bounds one webhook request body.
	MaxBody = 1 << 20
	// MaxMessagesPerRequest bounds the messages taken from one webhook call.
	MaxMessagesPerRequest = 100
	maxAddress            = 128
)

// Config is a bot's config.csv (secrets included: botchat calls botauto
// as a service).
type Config map[string]string

func (c Config) get(k string) string { return strings.TrimSpace(c[k]) }

// Inbound is one user message a channel delivered.
type Inbound struct {
	// ID is the channel's id of the message: retried deliveries are
	// accepted once.
	ID string
	// From is the sender's address on the channel; it names the conversation.
	From string
	// Text is what the user wrote or the title of the button pressed.
	Text string
	// Choice is the id of a button pressed (WhatsApp reply buttons and
	// list rows carry the suggestion they stand for).
	Choice string
}

// Outgoing is one part of a queued message to send.
type Outgoing struct {
	Bot, Channel, To string
	ConversationID   string
	MessageID        string
	// Part counts from 0 to Parts-1; Text is this part's text.
	Part, Parts int
	Text        string
	// Suggestions go with the last part only.
	Suggestions []store.Suggestion
	// IdempotencyKey is the same for every attempt to send this part.
	IdempotencyKey string
}

// SendError is a failed send. Retryable errors (429, 5xx, network) are
// tried again after RetryAfter (when the channel said) or the back-off.
type SendError struct {
	Status     int
	Retryable  bool
	RetryAfter time.Duration
	Reason     string
}

func (e *SendError) Error() string {
	if e.Status > 0 {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Reason)
	}
	return e.Reason
}

// errNotConfigured means the bot lacks what the channel needs; the
// webhook answers 404 so an unconfigured bot looks like no bot.
var errNotConfigured = errors.New("the bot is not configured for this channel")

// errBadSignature is a request that failed its signature or secret check.
var errBadSignature = errors.New("the request's signature or secret does not match")

// adapter is one channel's wire protocol.
type adapter interface {
	// inbound checks a webhook request against the bot's config and
	// returns its messages, or a reply of its own (the WhatsApp handshake).
	inbound(req *chatv1.WebhookRequest, cfg Config) ([]Inbound, *chatv1.WebhookResponse, error)
	// limits are the longest text of one part, and of the part carrying
	// the buttons.
	limits() (text, withButtons int)
	// send sends one part; the id is the channel's id of the sent message.
	send(ctx context.Context, hc *http.Client, cfg Config, o *Outgoing) (string, error)
}

// validSignature checks a "sha256=<hex>" header against the HMAC-SHA256 of
// body with secret, in constant time.
func validSignature(header string, body []byte, secret string) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok || secret == "" {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, sign(body, secret))
}

func sign(body []byte, secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// Signature is the header value a body signed with secret carries
// ("sha256=<hex>"), as WhatsApp and the generic webhook send it.
func Signature(body []byte, secret string) string {
	return "sha256=" + hex.EncodeToString(sign(body, secret))
}

// equalSecret compares secrets in constant time (an empty expected secret
// never matches).
func equalSecret(got, want string) bool {
	return want != "" && hmac.Equal([]byte(got), []byte(want))
}

// split cuts text into parts of at most max runes, the last of at most
// lastMax, preferring line and word breaks. The cut is a pure function of
// its input, so a retry sends the same parts.
func split(text string, max, lastMax int) []string {
	var parts []string
	for {
		if utf8.RuneCountInString(text) <= lastMax {
			return append(parts, text)
		}
		limit := max
		if utf8.RuneCountInString(text) <= max {
			// It fits a part but not the last one: cut so the rest fits it.
			limit = utf8.RuneCountInString(text) - lastMax
		}
		cut := byteIndexOfRune(text, limit)
		if i := strings.LastIndexAny(text[:cut], "\n "); i > cut/2 {
			cut = i + 1
		}
		parts = append(parts, strings.TrimRight(text[:cut], " \n"))
		text = text[cut:]
	}
}

// byteIndexOfRune is the byte offset of the n-th rune of s.
func byteIndexOfRune(s string, n int) int {
	i := 0
	for j := range s {
		if i == n {
			return j
		}
		i++
	}
	return len(s)
}

// truncate shortens s to at most n runes, with an ellipsis when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// httpFailure classifies an HTTP answer that was not a success.
func httpFailure(resp *http.Response, reason string) *SendError {
	e := &SendError{Status: resp.StatusCode, Reason: reason}
	e.Retryable = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500
	e.RetryAfter = retryAfter(resp.Header, time.Now())
	return e
}

// networkFailure is a send that got no answer: retried.
func networkFailure(err error) *SendError {
	return &SendError{Retryable: true, Reason: "no answer: " + err.Error()}
}

// menuText is the text of a message that only carries buttons (channels
// need a body); the bot's channel-menu-text overrides it.
func menuText(cfg Config) string {
	if t := cfg.get("channel-menu-text"); t != "" {
		return t
	}
	return "Choose an option:"
}
