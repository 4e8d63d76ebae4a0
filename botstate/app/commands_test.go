package app_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botstate/app"
)

func TestServiceCommands(t *testing.T) {
	var got []string
	var hadDB bool
	svc := &app.Service{Name: "bothello", Commands: map[string]app.Command{
		"hello": func(_ context.Context, env *app.Env, args []string) error {
			got, hadDB = args, env.DB != nil
			if env.Service.Name != "bothello" || env.Log == nil || env.AuthSettings == nil {
				t.Errorf("env: %+v", env)
			}
			return nil
		},
	}}
	opts := app.Options{Environ: []string{"LOG_LEVEL=warn"}}
	ctx := context.Background()
	if err := app.Run(ctx, []string{"hello", "--x", "y"}, opts, svc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"--x", "y"}) || hadDB {
		t.Fatalf("args %q, db %v", got, hadDB)
	}
	for _, c := range []struct {
		args []string
		svcs []*app.Service
		want string
	}{
		{[]string{"nope"}, []*app.Service{svc}, "use serve (the default), migrate, settings, hello"},
		{[]string{"migrate", "x"}, []*app.Service{svc}, "unexpected arguments"},
		{[]string{"hello"}, []*app.Service{svc, {Name: "botother", Commands: svc.Commands}}, "defined by both"},
		{[]string{"serve"}, []*app.Service{{Name: "botbad", Commands: map[string]app.Command{"serve": svc.Commands["hello"]}}}, "built in"},
	} {
		if err := app.Run(ctx, c.args, opts, c.svcs...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
}
