package botserver_test

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botauth"
	"github.com/botserver-go/botserver-go/botauto"
	authapi "github.com/botserver-go/botserver-go/botcore/api/auth"
	"github.com/botserver-go/botserver-go/botstate/apptest"
)

// Split services start in any order: botauto loading its packages while
// botauth is still down registers the bots once botauth is up, without a
// package change or a restart.
func TestBotsRegisterWhenBotauthStartsLater(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	authAddr := l.Addr().String()
	l.Close()
	seed := make([]byte, 32)
	rand.Read(seed)
	key := "AUTH_SERVICE_KEY=" + base64.StdEncoding.EncodeToString(seed)
	bots, err := filepath.Abs("../bots")
	if err != nil {
		t.Fatal(err)
	}
	apptest.Start(t, []string{key, "BOTS_DIR=" + bots, "BOTS_RELOAD_INTERVAL=0", "SERVICE_ADDRS=botauth=" + authAddr}, botauto.Service())
	time.Sleep(500 * time.Millisecond) // the first registration has failed by now

	addrs := apptest.Start(t, []string{key, "GRPC_ADDR=" + authAddr}, botauth.Service())
	base := behindGateway(t, addrs.GRPC, authapi.Register)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := postJSON(t, base+"/api/v1/sessions", "", map[string]string{"bot": "sample"})
		if code == 201 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sample bot was never registered: %d %v", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
