// Command botpush deploys a local bot package folder through the public API:
// it zips <dir> (the <bot>.gbai folder) on the fly and POSTs it to
// /api/v1/bots/<bot>/package, which replaces the bot's files (or merges
// with -mode merge). Hidden files (.git, .DS_Store) are left out.
//
//	go run ./botdrive/cmd/botpush -bot mybot -dir bots/mybot.gbai -api http://localhost:8080
//
// The token (a user or API key with bots:write) comes from -token or
// $BOTSERVER_TOKEN.
package main

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	bot := flag.String("bot", "", "bot name (slug); the folder is usually <bot>.gbai")
	dir := flag.String("dir", "", "package folder (default bots/<bot>.gbai)")
	api := flag.String("api", "http://localhost:8080", "gateway URL")
	token := flag.String("token", os.Getenv("BOTSERVER_TOKEN"), "bearer token with bots:write (default $BOTSERVER_TOKEN)")
	mode := flag.String("mode", "replace", "replace (delete files not in the folder) or merge")
	flag.Parse()
	if err := run(*bot, *dir, *api, *token, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "botpush:", err)
		os.Exit(1)
	}
}

func run(bot, dir, api, token, mode string) error {
	if bot == "" {
		return errors.New("-bot is required")
	}
	if dir == "" {
		dir = filepath.Join("bots", bot+".gbai")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	u, err := url.Parse(strings.TrimSuffix(api, "/") + "/api/v1/bots/" + url.PathEscape(bot) + "/package?mode=" + url.QueryEscape(mode))
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(zipDir(pw, dir, bot+".gbai")) }()
	req, err := http.NewRequest(http.MethodPost, u.String(), pr)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/zip")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: 30 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s: %s (%s)", res.Status, e.Error.Message, e.Error.Code)
		}
		return fmt.Errorf("%s: %s", res.Status, body)
	}
	fmt.Printf("deployed %s from %s: %s\n", bot, dir, strings.TrimSpace(string(body)))
	return nil
}

// zipDir writes the regular files under dir into a zip, under root/.
// Hidden files and folders are skipped; symbolic links are refused, since
// the server would refuse them too.
func zipDir(w io.Writer, dir, root string) error {
	zw := zip.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (symbolic links are not deployed)", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fw, err := zw.Create(root + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(fw, f)
		return err
	})
	if err != nil {
		return err
	}
	return zw.Close()
}
