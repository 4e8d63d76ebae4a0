package gateway

import (
	"bytes"
	"embed"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
)

// web is the web chat UI: plain HTML, CSS and JavaScript, no build step.
//
//go:embed web
var web embed.FS

func webFS() fs.FS {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	return sub
}

// chatPageRE matches the web chat's page of one bot, /chat/{bot}: it is the
// root's index.html (the page reads the bot from its URL), so a WEB_ROOT
// override needs no folder per bot.
var chatPageRE = regexp.MustCompile(`^/chat/[a-z0-9][a-z0-9-]{0,62}/?$`)

// staticHandler serves files from an fs.FS. Unlike http.FileServer it never
// lists a folder (a folder without index.html is a 404) and hides dot-files
// (.git, .env) that a WEB_ROOT folder may contain.
type staticHandler struct{ fsys fs.FS }

func (s staticHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	upath := r.URL.Path
	if !strings.HasPrefix(upath, "/") {
		upath = "/" + upath
	}
	name := strings.TrimPrefix(path.Clean(upath), "/")
	if chatPageRE.MatchString(upath) {
		name, upath = "index.html", "/index.html"
	}
	if name == "" {
		name = "."
	}
	for _, seg := range strings.Split(name, "/") {
		if seg != "." && strings.HasPrefix(seg, ".") {
			notFound(w)
			return
		}
	}
	f, info, err := open(s.fsys, name)
	if err != nil {
		staticError(w, err)
		return
	}
	defer f.Close()
	if info.IsDir() {
		if !strings.HasSuffix(upath, "/") {
			// Relative links in the folder's index.html resolve against "dir/".
			target := path.Base(upath) + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		_ = f.Close()
		name = path.Join(name, "index.html")
		if f, info, err = open(s.fsys, name); err != nil {
			staticError(w, err)
			return
		}
		defer f.Close()
		if info.IsDir() {
			notFound(w)
			return
		}
	} else if strings.HasSuffix(upath, "/") {
		notFound(w) // "/app.js/" is not a file
		return
	}
	content, ok := f.(io.ReadSeeker)
	if !ok { // fs.FS files need not seek; web assets are small enough to buffer
		b, err := io.ReadAll(f)
		if err != nil {
			staticError(w, err)
			return
		}
		content = bytes.NewReader(b)
	}
	if path.Ext(name) == ".html" {
		// Pages name the assets of the current deployment: always revalidate.
		w.Header().Set("Cache-Control", "no-cache")
	}
	// ServeContent sets Content-Type from the extension (sniffing only
	// without one) and handles HEAD, ranges and If-Modified-Since.
	http.ServeContent(w, r, info.Name(), info.ModTime(), content)
}

func open(fsys fs.FS, name string) (fs.File, fs.FileInfo, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

func notFound(w http.ResponseWriter) {
	WriteError(w, http.StatusNotFound, CodeNotFound, "not found")
}

func staticError(w http.ResponseWriter, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrInvalid) {
		notFound(w)
		return
	}
	WriteError(w, http.StatusInternalServerError, CodeInternal, "internal error")
}
