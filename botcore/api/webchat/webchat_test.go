package webchat

import "testing"

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
