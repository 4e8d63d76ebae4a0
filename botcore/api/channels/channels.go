// Package channels mounts the public webhooks of botchat's messaging
// channels. The gateway forwards each request as it came (method, query,
// the headers channels sign with, the raw body) and answers what botchat
// says; botchat checks the request against the bot's channel secrets, so
// these routes take no token.
//
//	GET  /api/v1/channels/whatsapp/{bot}           WhatsApp verification handshake (hub.*)
//	POST /api/v1/channels/whatsapp/{bot}           WhatsApp notifications (X-Hub-Signature-256)
//	POST /api/v1/channels/telegram/{bot}           Telegram updates (X-Telegram-Bot-Api-Secret-Token)
//	POST /api/v1/channels/webhook/{bot}            {"user","text","id"?} (X-Signature-256)
//
// The bot is in the all-in-one's default organisation; the same routes
// under /api/v1/orgs/{org}/channels/... name another organisation by id.
package channels

import (
	"errors"
	"io"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// MaxBody bounds one webhook request (botchat refuses larger ones too).
const MaxBody = 1 << 20

// forwarded are the request headers channels need (lower-case).
var forwarded = []string{"content-type", "x-hub-signature-256", "x-telegram-bot-api-secret-token", "x-signature-256"}

// Register mounts the routes on gw, calling botchat through cc.
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	a := &api{c: chatv1.NewChannelServiceClient(cc)}
	for _, prefix := range []string{"/api/v1/channels/", "/api/v1/orgs/{org}/channels/"} {
		gw.HandleWebhook("GET "+prefix+"{channel}/{bot}", MaxBody, http.HandlerFunc(a.webhook))
		gw.HandleWebhook("POST "+prefix+"{channel}/{bot}", MaxBody, http.HandlerFunc(a.webhook))
	}
}

type api struct{ c chatv1.ChannelServiceClient }

func (a *api) webhook(w http.ResponseWriter, r *http.Request) {
	req := &chatv1.WebhookRequest{Channel: r.PathValue("channel"), OrgId: r.PathValue("org"), Bot: r.PathValue("bot"),
		Method: r.Method, Query: map[string]string{}, Headers: map[string]string{}}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			req.Query[k] = v[0]
		}
	}
	for _, h := range forwarded {
		if v := r.Header.Get(h); v != "" {
			req.Headers[h] = v
		}
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge) || len(body) > MaxBody:
			gateway.WriteError(w, http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge, "request body is too large")
			return
		case err != nil:
			gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "the body could not be read")
			return
		}
		req.Body = body
	}
	resp, err := a.c.Webhook(r.Context(), req)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if resp.ContentType != "" {
		w.Header().Set("Content-Type", resp.ContentType)
	}
	code := int(resp.Status)
	if code < 200 || code > 599 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	_, _ = w.Write(resp.Body)
}

// writeStatus maps botchat's answer to the JSON error format; a conflict is
// a 503 too, so the channel delivers the webhook again.
func writeStatus(w http.ResponseWriter, err error) {
	if status.Code(err) == codes.Aborted {
		gateway.WriteError(w, http.StatusServiceUnavailable, gateway.CodeUnavailable, "botchat is busy: "+status.Convert(err).Message())
		return
	}
	gateway.WriteStatus(w, err, "botchat")
}
