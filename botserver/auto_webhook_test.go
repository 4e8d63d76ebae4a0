package botserver_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botauto"
	autoapi "github.com/botserver-go/botserver-go/botcore/api/auto"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
)

// TestBotWebhookThroughTheGateway: POST /api/v1/bots/{bot}/webhooks/{name}
// runs the bot's WEBHOOK script with the body and answers its RETURN value.
func TestBotWebhookThroughTheGateway(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hooks.gbai", "hooks.gbdialog", "orders.bas")
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	src := "WEBHOOK \"order\"\nIF TYPEOF(body) = \"string\" THEN\n  RETURN \"text: \" + body\nEND IF\nIF body.qty < 1 THEN\n  THROW \"qty must be positive\"\nEND IF\nWITH r\n  total = body.qty * 2.5\nEND WITH\nRETURN r\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	iss := authztest.NewIssuer(t)
	addrs := apptest.Start(t, append(iss.Env(), "BOTS_DIR="+dir, "BOTS_RELOAD_INTERVAL=0"), botauto.Service())
	base := behindGateway(t, addrs.GRPC, autoapi.Register)

	post := func(token, body string) (int, string) {
		req, _ := http.NewRequest("POST", base+"/api/v1/bots/hooks/webhooks/order", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	key := iss.APIKey(authz.DefaultOrgID, "bots:write")
	if code, body := post(key, `{"qty": 4}`); code != 200 || body != `{"total":10}` {
		t.Fatalf("json body: %d %s", code, body)
	}
	if code, body := post(key, `plain words`); code != 200 || body != `"text: plain words"` {
		t.Fatalf("text body: %d %s", code, body)
	}
	if code, body := post(key, `{"qty": 0}`); code != 422 || !strings.Contains(body, "qty must be positive") {
		t.Fatalf("script error: %d %s", code, body)
	}
	if code, _ := post("", `{}`); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := post(iss.APIKey(authz.DefaultOrgID, "bots:read"), `{}`); code != 403 {
		t.Fatalf("read-only key: %d", code)
	}
	if code, _ := post(iss.APIKey("00000000-0000-4000-8000-0000000000bb", "bots:write"), `{"qty": 1}`); code != 404 {
		t.Fatalf("other org: %d", code)
	}
}
