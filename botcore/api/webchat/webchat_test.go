package webchat

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

func TestFromConfigKeepsOnlySafeThemeKeys(t *testing.T) {
	got := FromConfig("sample", map[string]string{
		"bot-name": " Acme Bikes ", "theme-title": "Acme <b>", "theme-color1": "#0b6e4f", "theme-color2": "red;background:url(x)",
		"theme-logo": "javascript:alert(1)", "welcome-message": "Hi!", "llm-key": "secret", "param-x": "y",
	})
	want := Theme{Bot: "sample", BotName: "Acme Bikes", Title: "Acme <b>", Color1: "#0b6e4f", Color2: "", Logo: "", WelcomeMessage: "Hi!"}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for logo, ok := range map[string]bool{
		"/logo.png": true, "https://cdn.example.com/l.svg": true, "//evil.example/x.png": false, "http://x/l.png": false,
		"data:image/svg+xml,<svg onload=alert(1)>": false, `/a" onerror="x`: false,
	} {
		if l := FromConfig("b", map[string]string{"theme-logo": logo}).Logo; (l != "") != ok {
			t.Errorf("logo %q kept=%v, want %v", logo, l != "", ok)
		}
	}
	// Without a title the bot's name, then its slug.
	if ti := FromConfig("b", map[string]string{"bot-name": "Bee"}).Title; ti != "Bee" {
		t.Errorf("title %q", ti)
	}
	if ti := FromConfig("b", nil).Title; ti != "b" {
		t.Errorf("title %q", ti)
	}
}

// fakeAuto answers GetBot with a config per bot name.
type fakeAuto struct {
	autov1.AutoServiceClient
	configs map[string]map[string]string
	calls   int
}

func (f *fakeAuto) GetBot(_ context.Context, req *autov1.GetBotRequest, _ ...grpc.CallOption) (*autov1.GetBotResponse, error) {
	f.calls++
	cfg, ok := f.configs[req.Bot]
	if !ok {
		return nil, status.Error(codes.NotFound, "no bot")
	}
	return &autov1.GetBotResponse{Bot: &autov1.Bot{Name: req.Bot, Config: cfg}}, nil
}

// A private bot (public,false) has no public look: the route answers as
// for a bot that does not exist, from the cache too.
func TestThemeOfAPrivateBotIsNotFound(t *testing.T) {
	f := &fakeAuto{configs: map[string]map[string]string{
		"shop": {"theme-title": "Shop"}, "staff": {"theme-title": "Internal", "public": " FALSE "}}}
	a := &api{auto: f, now: time.Now, cache: map[string]cached{}}
	get := func(bot string) (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/bots/"+bot+"/theme", nil)
		req.SetPathValue("bot", bot)
		a.theme(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := get("shop"); code != 200 || !strings.Contains(body, `"title":"Shop"`) {
		t.Fatalf("public bot: %d %s", code, body)
	}
	for range 2 {
		if code, body := get("staff"); code != 404 || strings.Contains(body, "Internal") {
			t.Fatalf("private bot: %d %s", code, body)
		}
	}
	if code, _ := get("ghost"); code != 404 {
		t.Fatalf("unknown bot: %d", code)
	}
	if f.calls != 3 {
		t.Fatalf("%d GetBot calls: the private bot's answer was not cached", f.calls)
	}
}
