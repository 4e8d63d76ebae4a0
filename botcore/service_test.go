package botcore_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/botserver-go/botserver-go/botcore"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// TestGatewayAlone runs botcore in-process as its binary would: its own
// backend is SERVING and the services it has no address for are listed as
// not configured without making the gateway degraded.
func TestGatewayAlone(t *testing.T) {
	public := testutil.FreeAddr(t)
	apptest.Start(t, []string{"PUBLIC_ADDR=" + public, "CORS_ORIGINS=https://chat.example"}, botcore.Service())

	req, _ := http.NewRequest("GET", "http://"+public+"/healthz", nil)
	req.Header.Set("Origin", "https://chat.example")
	req.Header.Set("X-Request-Id", "trace-me-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status   string
		Services []struct{ Name, Status string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || h.Status != "ok" || len(h.Services) != 12 {
		t.Fatalf("healthz %d: %+v", resp.StatusCode, h)
	}
	for _, s := range h.Services {
		want := "NOT_CONFIGURED"
		if s.Name == "botcore" {
			want = "SERVING"
		}
		if s.Status != want {
			t.Errorf("%s: %s, want %s", s.Name, s.Status, want)
		}
	}
	if got := resp.Header.Get("X-Request-Id"); got != "trace-me-1" {
		t.Errorf("request id echo: %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://chat.example" {
		t.Errorf("CORS_ORIGINS not applied: %q", got)
	}
}
