package botauth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botauth"
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

// TestBootstrapCommand runs "botauth bootstrap" as the binary does, then
// the service on the same database: the admin it made logs in as owner.
func TestBootstrapCommand(t *testing.T) {
	dbURL := testutil.NewDatabase(t)
	ctx := context.Background()
	run := func(args ...string) error {
		return app.Run(ctx, args, app.Options{Environ: []string{"DATABASE_URL=" + dbURL, "LOG_LEVEL=warn"}}, botauth.Service())
	}
	if err := run("bootstrap", "--email", "Boss@Example.com", "--password", "boss password 123", "--name", "The Boss"); err != nil {
		t.Fatal(err)
	}
	// The same email again: refused, with a message saying nothing changed.
	err := run("bootstrap", "--email", "boss@example.com", "--password", "another password 456")
	if err == nil || !strings.Contains(err.Error(), "already exists: nothing changed") {
		t.Fatalf("existing email: %v", err)
	}
	// Another admin while users exist: fine.
	if err := run("bootstrap", "--email", "second@example.com", "--password", "second password 1"); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{
		"bootstrap --email a@example.com":                      "--email and --password are required",
		"bootstrap --email a@example.com --password short":     "--password: password must have at least 12",
		"bootstrap --email nope --password longenoughpassword": "--email: not an email",
		"bootstrap --bogus":                                    "flag provided but not defined",
		"bootstrap --email a@example.com --password p x":       "unexpected arguments",
		"nonsense":    "use serve (the default), migrate, settings, bootstrap",
		"serve extra": "unexpected arguments",
	} {
		if err := run(strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}

	addrs := apptest.Start(t, []string{"DATABASE_URL=" + dbURL}, botauth.Service())
	cc, err := grpcx.Dial(addrs.GRPC, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cli := authv1.NewAuthServiceClient(cc)
	r, err := cli.Login(ctx, &authv1.LoginRequest{Email: "boss@example.com", Password: "boss password 123"})
	if err != nil || r.User.DisplayName != "The Boss" {
		t.Fatalf("login: %+v %v", r, err)
	}
	me, err := cli.GetMe(as(r.Tokens.AccessToken), &authv1.GetMeRequest{})
	if err != nil || me.Org.Slug != "default" || strings.Join(me.Identity.Roles, ",") != "owner" {
		t.Fatalf("me: %+v %v", me, err)
	}
	if _, err := cli.Login(ctx, &authv1.LoginRequest{Email: "boss@example.com", Password: "another password 456"}); err == nil {
		t.Fatal("the refused second bootstrap changed the password")
	}
}
