package main

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPushZipsTheFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mybot.gbai")
	for p, c := range map[string]string{
		"mybot.gbdialog/start.bas": `TALK "hi"`,
		"mybot.gbot/config.csv":    "name,value\n",
		".git/HEAD":                "ref",
		"mybot.gbkb/.DS_Store":     "x",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644)
	}
	var got []string
	var auth, query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, query = r.Header.Get("Authorization"), r.URL.Path+"?"+r.URL.RawQuery
		b, _ := io.ReadAll(r.Body)
		z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, f := range z.File {
			got = append(got, f.Name)
		}
		w.Write([]byte(`{"written":2}`))
	}))
	defer srv.Close()
	if err := run("mybot", dir, srv.URL, "tok", "merge"); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"mybot.gbai/mybot.gbdialog/start.bas", "mybot.gbai/mybot.gbot/config.csv"}) {
		t.Fatalf("zip entries %q", got)
	}
	if auth != "Bearer tok" || query != "/api/v1/bots/mybot/package?mode=merge" {
		t.Fatalf("request: %q %q", auth, query)
	}
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		w.Write([]byte(`{"error":{"code":"forbidden","message":"permission bots:write is required"}}`))
	}))
	defer srv2.Close()
	if err := run("mybot", dir, srv2.URL, "", "replace"); err == nil || !strings.Contains(err.Error(), "bots:write") {
		t.Fatalf("error: %v", err)
	}
	if err := run("mybot", filepath.Join(dir, "nope"), srv.URL, "", "replace"); err == nil {
		t.Fatal("missing folder accepted")
	}
}
