package bots

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseConfig(t *testing.T) {
	cfg, diags := ParseConfig("config.csv", []byte("\xef\xbb\xbfname,value\n# comment\nLLM-Model, gpt\nwelcome-message,\"Hi, there\"\nbroken\n\nparam-max-items,5\n"))
	if cfg["llm-model"] != "gpt" || cfg["welcome-message"] != "Hi, there" || cfg["param-max-items"] != "5" || len(cfg) != 3 {
		t.Fatalf("config = %v", cfg)
	}
	if len(diags) != 1 || diags[0].Line != 5 {
		t.Fatalf("diagnostics = %v", diags)
	}
	p := &Package{Config: cfg}
	if v := p.Vars()["max_items"]; v.String() != "5" {
		t.Fatalf("vars = %v", p.Vars())
	}
	if !Secret("llm-key") || !Secret("email-pass") || Secret("llm-model") {
		t.Fatal("secret keys")
	}
}

func TestDirSource(t *testing.T) {
	root := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(root, rel)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shop.gbai/shop.gbdialog/start.bas", "TALK 1")
	write("shop.gbai/shop.gbdialog/notes.txt", "ignored")
	write("shop.gbai/shop.gbot/config.csv", "a,b")
	write("shop.gbai/shop.gbkb/docs/a.md", "kb files are botvectordb's")
	write("Bad Name.gbai/x.gbdialog/start.bas", "TALK 1")
	_ = os.Symlink("/etc/passwd", filepath.Join(root, "shop.gbai/shop.gbdialog/evil.bas"))
	d := Dir{Root: root, Org: "org"}
	names, err := d.Bots(context.Background(), "org")
	if err != nil || len(names) != 1 || names[0] != "shop" {
		t.Fatalf("bots = %v, %v", names, err)
	}
	if other, _ := d.Bots(context.Background(), "other-org"); len(other) != 0 {
		t.Fatal("another org sees the folder's bots")
	}
	files, err := d.Files(context.Background(), "org", "shop")
	if err != nil || len(files) != 2 || files["shop.gbdialog/start.bas"] == nil || files["shop.gbot/config.csv"] == nil {
		t.Fatalf("files = %v, %v", files, err)
	}
	if _, err := d.Files(context.Background(), "org", "../etc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("traversal: %v", err)
	}
	p, err := Build("shop", files)
	if err != nil || p.Scripts["start.bas"].Program == nil || p.Version != Version("shop", files) {
		t.Fatalf("build = %+v, %v", p, err)
	}
	files["shop.gbdialog/start.bas"] = []byte("TALK 2")
	if Version("shop", files) == p.Version {
		t.Fatal("version did not change with the content")
	}
}
