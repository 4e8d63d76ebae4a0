package botauto_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botserver-go/botserver-go/botauto"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// The service as a binary runs it: PUBLISH EVENT goes through the outbox
// and JetStream to the ON EVENT scripts, a chain of events ends, and
// WEBHOOK scripts answer RunWebhook.
func TestEventsAndWebhooksThroughTheService(t *testing.T) {
	dir := t.TempDir()
	scripts := map[string]string{
		"start.bas":    "WITH o\n id = 42\nEND WITH\nPUBLISH EVENT \"order\", o\nPUBLISH EVENT \"loop\", 1\n",
		"on-order.bas": "ON EVENT \"order\"\nSET BOT MEMORY \"last\", event.id\n",
		"loop.bas":     "ON EVENT \"loop\"\nh = GET BOT MEMORY \"hops\"\nSET BOT MEMORY \"hops\", NVL(h, 0) + 1\nPUBLISH EVENT \"loop\", 1\n",
		"hook.bas":     "WEBHOOK \"ping\"\nRETURN body.n + 1\n",
	}
	for name, src := range scripts {
		p := filepath.Join(dir, "ev.gbai", "ev.gbdialog", name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iss := authztest.NewIssuer(t)
	addrs := apptest.Start(t, append(iss.Env(), "BOTS_DIR="+dir), botauto.Service())
	cc, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := autov1.NewAutoServiceClient(cc)
	ctx := iss.Context(context.Background(), iss.User(authz.DefaultOrgID, "*"))

	st, err := c.Converse(ctx, &autov1.ConverseRequest{Bot: "ev", ConversationId: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e := m.GetEnd(); e != nil && e.Status == autov1.TurnStatus_TURN_STATUS_FAILED {
			t.Fatalf("start.bas: %s", e.Error)
		}
	}
	want := map[string]string{"last": "42", "hops": "8"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ms, err := c.ListMemories(ctx, &autov1.ListMemoriesRequest{Bot: "ev", Scope: "bot"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, m := range ms.Memories {
			got[m.Key] = m.ValueJson
		}
		if got["last"] == want["last"] && got["hops"] == want["hops"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("memories = %v, want %v (ON EVENT ran, and the loop stopped at %d events)", got, want, 8)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := c.RunWebhook(ctx, &autov1.RunWebhookRequest{Bot: "ev", Endpoint: "PING", BodyJson: `{"n": 2}`})
	if err != nil || res.ResultJson != "3" || res.Error != "" {
		t.Fatalf("webhook = %+v, %v", res, err)
	}
	if _, err := c.RunWebhook(ctx, &autov1.RunWebhookRequest{Bot: "ev", Endpoint: "nope"}); err == nil {
		t.Fatal("unknown webhook answered")
	}
	// Visitors may not call webhooks.
	vctx := iss.Context(context.Background(), iss.Visitor(authz.DefaultOrgID, "00000000-0000-4000-8000-0000000000aa"))
	if _, err := c.RunWebhook(vctx, &autov1.RunWebhookRequest{Bot: "ev", Endpoint: "ping"}); err == nil {
		t.Fatal("a visitor ran a webhook")
	}
}
