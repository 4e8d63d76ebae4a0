// Package extract turns documents into plain text for indexing: PDF, DOCX,
// XLSX, PPTX, HTML, Markdown, CSV, JSON and plain text.
//
// Libraries, and why:
//   - PDF: github.com/ledongthuc/pdf, the maintained fork of rsc.io/pdf
//     (pure Go, no cgo, reads text per page with font decoding). PDF parsing
//     is the riskiest part, so it runs with a deadline checked on every read
//     of the file, a page limit, and panic recovery.
//   - DOCX, PPTX, XLSX: archive/zip + encoding/xml from the standard
//     library, streaming the few XML parts that hold text. The Office
//     libraries (excelize, unioffice) are large, build and keep whole
//     documents in memory; text needs none of that. Every part is read
//     through a decompression budget, so a zip bomb stops early.
//   - HTML: golang.org/x/net/html's tokenizer (already in the dependency
//     graph through gRPC), skipping script/style and breaking lines at
//     block elements.
//   - Markdown, CSV, JSON, text: read as UTF-8 (JSON is checked to parse),
//     since their text is already what a reader sees.
//
// A corrupt or hostile file gives an error saying so, never a panic or a
// hang: every extraction runs under recover and a timeout.
package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits bound one extraction.
type Limits struct {
	MaxInput int64         // bytes of document; default 50 MiB
	MaxText  int           // bytes of text returned (more is cut, Truncated set); default 3 MiB
	MaxPages int           // PDF pages, PPTX slides, XLSX sheets; default 500
	MaxUnzip int64         // decompressed bytes read from an Office zip; default 20 × input, at most 512 MiB
	Timeout  time.Duration // default 30s
}

func (l Limits) withDefaults(inputLen int) Limits {
	if l.MaxInput <= 0 {
		l.MaxInput = 50 << 20
	}
	if l.MaxText <= 0 {
		l.MaxText = 3 << 20
	}
	if l.MaxPages <= 0 {
		l.MaxPages = 500
	}
	if l.MaxUnzip <= 0 {
		// Real documents inflate 5-30×, repetitive sheets more; a bomb
		// inflates 1000× and stops here.
		l.MaxUnzip = min(int64(inputLen)*100+16<<20, 512<<20)
	}
	if l.Timeout <= 0 {
		l.Timeout = 30 * time.Second
	}
	return l
}

// Result is the extracted text.
type Result struct {
	Text      string
	Format    string // pdf, docx, xlsx, pptx, html, markdown, csv, json, text
	Pages     int    // pages, slides or sheets read (0 for other formats)
	Truncated bool   // the text was cut at MaxText or MaxPages
}

// ErrUnsupported is returned for a format with no extractor.
var ErrUnsupported = errors.New("extract: unsupported format")

// ErrCorrupt wraps the reason a document could not be read.
var ErrCorrupt = errors.New("extract: the document is corrupt or not in its format")

// ErrLimit is returned when a document exceeds a limit that cannot be met
// by cutting the text (input size, decompressed size, time).
var ErrLimit = errors.New("extract: limit exceeded")

// Format decides the extractor from the content type and, failing that,
// the file name's extension.
func Format(contentType, name string) string {
	ct, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	switch strings.TrimSpace(ct) {
	case "application/pdf":
		return "pdf"
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return "docx"
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return "xlsx"
	case "application/vnd.openxmlformats-officedocument.presentationml.presentation":
		return "pptx"
	case "text/html", "application/xhtml+xml":
		return "html"
	case "text/markdown", "text/x-markdown":
		return "markdown"
	case "text/csv":
		return "csv"
	case "application/json":
		return "json"
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".pdf":
		return "pdf"
	case ".docx":
		return "docx"
	case ".xlsx":
		return "xlsx"
	case ".pptx":
		return "pptx"
	case ".html", ".htm":
		return "html"
	case ".md", ".markdown":
		return "markdown"
	case ".csv":
		return "csv"
	case ".json":
		return "json"
	case ".txt", ".bas", ".text", ".log":
		return "text"
	}
	if strings.HasPrefix(ct, "text/") {
		return "text"
	}
	return ""
}

// Text extracts the text of data, a document of the given content type and
// file name.
func Text(ctx context.Context, data []byte, contentType, name string, lim Limits) (Result, error) {
	lim = lim.withDefaults(len(data))
	format := Format(contentType, name)
	if format == "" {
		return Result{}, fmt.Errorf("%w: %s (%s)", ErrUnsupported, contentType, path.Ext(name))
	}
	if int64(len(data)) > lim.MaxInput {
		return Result{}, fmt.Errorf("%w: the document is %d bytes; extraction reads at most %d", ErrLimit, len(data), lim.MaxInput)
	}
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	type out struct {
		res Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- out{err: fmt.Errorf("%w: %s reader failed: %v", ErrCorrupt, format, p)}
			}
		}()
		res, err := run(ctx, format, data, lim)
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			if ctx.Err() != nil {
				return Result{}, fmt.Errorf("%w: %s extraction took longer than %s", ErrLimit, format, lim.Timeout)
			}
			return Result{}, o.err
		}
		o.res.Format = format
		o.res.Text, o.res.Truncated = cut(o.res.Text, lim.MaxText, o.res.Truncated)
		return o.res, nil
	case <-ctx.Done():
		// The extractor notices the deadline at its next read or page and
		// exits; the caller does not wait for it.
		return Result{}, fmt.Errorf("%w: %s extraction took longer than %s", ErrLimit, format, lim.Timeout)
	}
}

func run(ctx context.Context, format string, data []byte, lim Limits) (Result, error) {
	switch format {
	case "pdf":
		return pdfText(ctx, data, lim)
	case "docx":
		return docxText(ctx, data, lim)
	case "xlsx":
		return xlsxText(ctx, data, lim)
	case "pptx":
		return pptxText(ctx, data, lim)
	case "html":
		return htmlText(ctx, data, lim)
	case "json":
		if !json.Valid(data) {
			return Result{}, fmt.Errorf("%w: invalid JSON", ErrCorrupt)
		}
		return Result{Text: plain(data)}, nil
	default: // markdown, csv, text
		if bytes.IndexByte(data, 0) >= 0 && !utf8.Valid(data) {
			return Result{}, fmt.Errorf("%w: binary content in a %s file", ErrCorrupt, format)
		}
		return Result{Text: plain(data)}, nil
	}
}

// plain returns data as valid UTF-8 without a byte-order mark, with
// Windows line ends made Unix.
func plain(data []byte) string {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	return strings.ReplaceAll(s, "\r\n", "\n")
}

// cut shortens s to at most max bytes on a rune boundary.
func cut(s string, max int, already bool) (string, bool) {
	if len(s) <= max {
		return s, already
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max], true
}

// textBuilder collects text up to a limit, so a huge document stops early.
type textBuilder struct {
	strings.Builder
	max  int
	full bool
}

func (b *textBuilder) add(s string) {
	if b.full {
		return
	}
	if b.Len()+len(s) > b.max {
		b.full = true
		s, _ = cut(s, b.max-b.Len(), false)
	}
	b.WriteString(s)
}

// deadlineReaderAt fails every read once ctx is done, so a parser stuck
// re-reading a malformed file stops at the deadline.
type deadlineReaderAt struct {
	ctx context.Context
	r   *bytes.Reader
}

func (d deadlineReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	return d.r.ReadAt(p, off)
}
