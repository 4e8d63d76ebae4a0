package extract

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// Elements whose content is not text a reader sees.
var skipped = map[string]bool{"script": true, "style": true, "noscript": true, "template": true, "svg": true, "head": true, "iframe": true, "object": true}

// Elements that start a new line.
var blocks = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"tr": true, "table": true, "section": true, "article": true, "header": true, "footer": true, "ul": true, "ol": true,
	"pre": true, "blockquote": true, "hr": true, "title": true, "dt": true, "dd": true, "main": true, "nav": true, "aside": true,
}

var blankRuns = regexp.MustCompile(`\n([ \t]*\n)+`)

// collapse turns each run of HTML white space into one space.
func collapse(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r', '\f':
			if !space {
				b.WriteByte(' ')
				space = true
			}
		default:
			b.WriteByte(c)
			space = false
		}
	}
	return b.String()
}

func htmlText(ctx context.Context, data []byte, lim Limits) (Result, error) {
	z := html.NewTokenizer(bytes.NewReader(data))
	b := &textBuilder{max: lim.MaxText * 2} // room for whitespace that is collapsed below
	skip, pre, inTitle := 0, 0, false
	for i := 0; !b.full; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); !errors.Is(err, io.EOF) {
				return Result{}, err
			}
			text := blankRuns.ReplaceAllString(b.String(), "\n\n")
			return Result{Text: strings.TrimSpace(text), Truncated: b.full}, nil
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case tag == "title":
				inTitle = tt == html.StartTagToken
			case skipped[tag] && tt == html.StartTagToken:
				skip++
			case tag == "pre":
				pre++
			case tag == "td" || tag == "th":
				b.add("\t")
			}
			if blocks[tag] {
				b.add("\n")
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case tag == "title":
				inTitle = false
				b.add("\n")
			case skipped[tag] && skip > 0:
				skip--
			case tag == "pre" && pre > 0:
				pre--
			}
			if blocks[tag] {
				b.add("\n")
			}
		case html.TextToken:
			if skip > 0 && !inTitle {
				continue
			}
			t := string(z.Text())
			if pre == 0 {
				t = collapse(t)
			}
			b.add(t)
		}
	}
	text := blankRuns.ReplaceAllString(b.String(), "\n\n")
	return Result{Text: strings.TrimSpace(text), Truncated: true}, nil
}
