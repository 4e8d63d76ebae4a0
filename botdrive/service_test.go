package botdrive_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/botserver-go/botserver-go/botdrive"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botstate/config"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// The service as a binary runs it: migrations, local storage, BOTS_DIR with
// a package already in it (reconciled at start), the real token guard.
func TestServiceOnLocalDisk(t *testing.T) {
	iss := authztest.NewIssuer(t)
	bots := t.TempDir()
	os.MkdirAll(filepath.Join(bots, "sample.gbai/sample.gbdialog"), 0o755)
	os.WriteFile(filepath.Join(bots, "sample.gbai/sample.gbdialog/start.bas"), []byte(`TALK "hi"`), 0o644)
	addrs := apptest.Start(t, append(iss.Env(), "BOTS_DIR="+bots), botdrive.Service())
	cc, err := grpcx.Dial(addrs.GRPC, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := drivev1.NewDriveServiceClient(cc)
	ctx := iss.Context(context.Background(), iss.User(authz.DefaultOrgID, "files:read"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := c.StatFile(ctx, &drivev1.StatFileRequest{Bot: "sample", Path: "sample.gbdialog/start.bas"})
		if err == nil && r.GetInfo().GetSize() == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the start-up reconcile did not record BOTS_DIR: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Other services call with a service token and the org in metadata.
	svc := metadata.AppendToOutgoingContext(iss.Context(context.Background(), iss.ServiceToken("botvectordb")), "bot-org-id", authz.DefaultOrgID)
	r, err := c.ExtractText(svc, &drivev1.ExtractTextRequest{Bot: "sample", Path: "sample.gbdialog/start.bas"})
	if err != nil || r.GetText() != `TALK "hi"` {
		t.Fatalf("extract as a service: %v %v", r, err)
	}
}

func TestSettingsValidation(t *testing.T) {
	for _, env := range [][]string{
		{"S3_PART_SIZE_MB=4"},
		{"DRIVE_URL_SECRET=short"},
		{"DRIVE_MAX_FILE_BYTES=0"},
		{"DRIVE_RECONCILE_INTERVAL=-1s"},
		{"S3_DOWNLOAD_REDIRECT=true"}, // local disk has nothing to redirect to
	} {
		if err := config.LoadFrom(env, &botdrive.Settings{}); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
	if err := config.LoadFrom(nil, &botdrive.Settings{}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if err := config.LoadFrom([]string{"S3_DOWNLOAD_REDIRECT=true", "S3_ENDPOINT=http://s3:9000"}, &botdrive.Settings{}); err != nil {
		t.Fatalf("redirect on S3: %v", err)
	}
}
