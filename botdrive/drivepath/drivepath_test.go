package drivepath_test

import (
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botdrive/drivepath"
)

func TestPath(t *testing.T) {
	good := []string{"a", "mybot.gbdialog/start.bas", "mybot.gbkb/docs/relatório final.pdf", "x/y z/a+b=c&d.txt", "a..b", "dir./f"}
	for _, p := range good {
		if err := drivepath.Path(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	bad := map[string]string{
		"":                              "empty",
		"/etc/passwd":                   "absolute",
		"../x":                          "..",
		"a/../../b":                     "..",
		"a/./b":                         `"."`,
		"a//b":                          "empty segment",
		"a/":                            "empty segment",
		`a\..\b`:                        "backslash",
		"a\x00b":                        "control",
		"a\nb":                          "control",
		".env":                          "hidden",
		"a/.git/config":                 "hidden",
		"\xff":                          "UTF-8",
		strings.Repeat("a/", 451) + "a": "longer",
		strings.Repeat("s", 256):        "segment longer",
	}
	for p, why := range bad {
		err := drivepath.Path(p)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want an error about %q", p, err, why)
		}
	}
}

func TestBotAndPackageKey(t *testing.T) {
	for _, b := range []string{"a", "my-bot", "bot2", strings.Repeat("a", 63)} {
		if err := drivepath.Bot(b); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
	for _, b := range []string{"", "-a", "My", "a_b", "a.b", "../x", strings.Repeat("a", 64)} {
		if err := drivepath.Bot(b); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
	bot, p, err := drivepath.SplitPackageKey("mybot.gbai/mybot.gbdialog/start.bas")
	if err != nil || bot != "mybot" || p != "mybot.gbdialog/start.bas" {
		t.Fatalf("%q %q %v", bot, p, err)
	}
	for _, k := range []string{"mybot/x", "Bad.gbai/x", "mybot.gbai", "mybot.gbai/.hidden"} {
		if _, _, err := drivepath.SplitPackageKey(k); err == nil {
			t.Errorf("%q accepted", k)
		}
	}
	if f, err := drivepath.Folder("a/b/"); err != nil || f != "a/b/" {
		t.Fatalf("folder: %q %v", f, err)
	}
}
