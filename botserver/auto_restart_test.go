package botserver_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// TestConversationSurvivesKill9 kills botauto (SIGKILL, no shutdown at all)
// while a conversation waits at HEAR, starts a new process, and answers:
// the script continues with all its variables.
func TestConversationSurvivesKill9(t *testing.T) {
	bots := t.TempDir()
	dialog := filepath.Join(bots, "shop.gbai", "shop.gbdialog")
	if err := os.MkdirAll(dialog, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "order = [\"bike\"]\nprofile.name = \"Ana\"\nTALK \"Hi \" + profile.name\nHEAR n AS INTEGER\nPUSH(order, n)\nTALK profile.name + \" ordered \" + JOIN(order, \" x\")\n"
	if err := os.WriteFile(filepath.Join(dialog, "start.bas"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	iss := authztest.NewIssuer(t)
	e := env(t, testutil.NewDatabase(t), append(iss.Env(), "BOTS_DIR="+bots)...)
	addr := get(e, "GRPC_ADDR")

	converse := func(input string) (string, autov1.TurnStatus) {
		t.Helper()
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(iss.Context(context.Background(), iss.User(authz.DefaultOrgID, "chat:use")), 20*time.Second)
		defer cancel()
		var st autov1.AutoService_ConverseClient
		for { // the process may still be starting
			st, err = autov1.NewAutoServiceClient(cc).Converse(ctx, &autov1.ConverseRequest{Bot: "shop", ConversationId: "c1", Input: input}, grpc.WaitForReady(true))
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("converse: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var talk []string
		for {
			m, err := st.Recv()
			if err == io.EOF {
				t.Fatal("stream ended without TurnEnd")
			}
			if err != nil {
				t.Fatalf("converse %q: %v", input, err)
			}
			if o := m.GetOutput(); o != nil && o.Kind == "talk" {
				talk = append(talk, o.Text)
			}
			if end := m.GetEnd(); end != nil {
				return strings.Join(talk, " / "), end.Status
			}
		}
	}

	first := exec.Command(bins["botserver"], "--services=auto")
	first.Env = e
	logs := &strings.Builder{}
	first.Stdout, first.Stderr = logs, logs
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	if got, st := converse("hello"); got != "Hi Ana" || st != autov1.TurnStatus_TURN_STATUS_WAITING {
		t.Fatalf("first turn: %q %v\n%s", got, st, logs)
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	start(t, e, "botserver", "--services=auto")
	if got, st := converse("3"); got != "Ana ordered bike x3" || st != autov1.TurnStatus_TURN_STATUS_DONE {
		t.Fatalf("after kill -9: %q %v", got, st)
	}
}
