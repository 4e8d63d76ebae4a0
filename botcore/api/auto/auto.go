// Package auto exposes botauto's public routes through the gateway:
//
//	POST /api/v1/bots/{bot}/webhooks/{endpoint}   run the bot's WEBHOOK "endpoint" script
//
// The body (JSON, or any text up to 1 MiB) becomes the script's variable
// body; the script's RETURN value is the JSON answer. The caller needs a
// token with bots:write (an API key for an external system).
package auto

import (
	"encoding/json"
	"io"
	"net/http"

	"google.golang.org/grpc"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// MaxBody bounds a webhook's body.
const MaxBody = 1 << 20

// Register mounts the routes on gw, calling botauto through cc.
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	c := autov1.NewAutoServiceClient(cc)
	gw.HandleFunc("POST /api/v1/bots/{bot}/webhooks/{endpoint}", func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
		if err != nil {
			gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "could not read the body")
			return
		}
		if len(raw) > MaxBody {
			gateway.WriteError(w, http.StatusRequestEntityTooLarge, gateway.CodePayloadTooLarge, "the body is larger than 1 MiB")
			return
		}
		body := string(raw)
		if len(raw) > 0 && !json.Valid(raw) {
			b, _ := json.Marshal(body) // a text body arrives as a string
			body = string(b)
		}
		resp, err := c.RunWebhook(gateway.Forward(r, false), &autov1.RunWebhookRequest{
			Bot: r.PathValue("bot"), Endpoint: r.PathValue("endpoint"), BodyJson: body})
		if err != nil {
			gateway.WriteStatus(w, err, "botauto")
			return
		}
		if resp.Error != "" {
			gateway.WriteError(w, http.StatusUnprocessableEntity, "script_failed", resp.Error)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, resp.ResultJson)
	})
}
