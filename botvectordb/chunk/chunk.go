// Package chunk splits a document's text into passages for retrieval.
//
// Chunks follow the document's structure: a Markdown heading (# ... or an
// underlined title) starts a new chunk and names the section the following
// chunks belong to; paragraphs are packed whole into chunks of about Size
// characters; a paragraph too long for one chunk is split at sentence, then
// word boundaries. Consecutive chunks of one section share Overlap
// characters, so a fact cut at a boundary is whole in one of them.
package chunk

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options size the chunks, in characters (runes).
type Options struct {
	Size      int // target chunk length; default 1000
	Overlap   int // characters repeated from the previous chunk of a section; default 150, negative for none
	MaxChunks int // a document yielding more is refused; default 20000
}

// Check fills defaults and rejects sizes that cannot work.
func (o *Options) Check() error {
	if o.Size == 0 {
		o.Size = 1000
	}
	switch {
	case o.Overlap == 0:
		o.Overlap = min(150, o.Size/2)
	case o.Overlap < 0:
		o.Overlap = 0
	}
	if o.MaxChunks == 0 {
		o.MaxChunks = 20000
	}
	switch {
	case o.Size < 100 || o.Size > 20000:
		return fmt.Errorf("chunk size must be between 100 and 20000 characters, got %d", o.Size)
	case o.Overlap > o.Size/2:
		return fmt.Errorf("chunk overlap must be at most half the chunk size (%d), got %d", o.Size/2, o.Overlap)
	case o.MaxChunks < 1:
		return errors.New("max chunks must be positive")
	}
	return nil
}

// Chunk is one passage.
type Chunk struct {
	Ordinal int
	Heading string // "Install > Linux": the headings above the passage
	Text    string
}

// ErrTooManyChunks is returned for documents beyond Options.MaxChunks.
var ErrTooManyChunks = errors.New("document too large: too many chunks")

// Split chunks text. It cleans the text first (NUL and control characters,
// invalid UTF-8, runs of blanks), so every chunk is storable text.
func Split(text string, o Options) ([]Chunk, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	s := splitter{o: o}
	var headings []heading
	var para []string
	flushPara := func() {
		if len(para) > 0 {
			s.paragraph(strings.Join(para, " "))
			para = para[:0]
		}
	}
	lines := strings.Split(clean(text), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		level, title := markdownHeading(line)
		if level == 0 && line != "" && i+1 < len(lines) && len(para) == 0 {
			// Setext heading: a short line underlined with === or ---.
			if u := strings.TrimSpace(lines[i+1]); len(u) >= 3 && utf8.RuneCountInString(line) <= 120 &&
				(strings.Trim(u, "=") == "" || strings.Trim(u, "-") == "") {
				level, title = 1, line
				if u[0] == '-' {
					level = 2
				}
				i++
			}
		}
		switch {
		case level > 0:
			flushPara()
			for len(headings) > 0 && headings[len(headings)-1].level >= level {
				headings = headings[:len(headings)-1]
			}
			headings = append(headings, heading{level, title})
			s.section(joinHeadings(headings))
		case line == "":
			flushPara()
		case isListItem(line) || isTableRow(line):
			// Items and table rows stay on their own lines within a paragraph
			// break, but one item is never merged into running prose.
			flushPara()
			s.paragraph(line)
		default:
			para = append(para, line)
		}
		if len(s.out) > o.MaxChunks {
			return nil, fmt.Errorf("%w (more than %d)", ErrTooManyChunks, o.MaxChunks)
		}
	}
	flushPara()
	s.flush()
	if len(s.out) > o.MaxChunks {
		return nil, fmt.Errorf("%w (more than %d)", ErrTooManyChunks, o.MaxChunks)
	}
	return s.out, nil
}

type heading struct {
	level int
	title string
}

func joinHeadings(hs []heading) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.title
	}
	return strings.Join(parts, " > ")
}

// splitter packs paragraphs into chunks.
type splitter struct {
	o       Options
	out     []Chunk
	heading string
	cur     []string // paragraphs of the chunk being built
	curLen  int      // its length in runes, with separators
	tail    string   // overlap carried into the next chunk of the section
}

// section starts a new section: the chunk in progress ends, no overlap.
func (s *splitter) section(h string) {
	s.flush()
	s.heading, s.tail = h, ""
}

func (s *splitter) paragraph(p string) {
	n := utf8.RuneCountInString(p)
	if n > s.o.Size {
		for _, piece := range splitLong(p, s.o.Size-s.o.Overlap) {
			s.paragraph(piece)
		}
		return
	}
	if s.curLen > 0 && s.curLen+2+n > s.o.Size {
		s.flush()
	}
	if s.curLen == 0 && s.tail != "" {
		s.cur = append(s.cur, s.tail)
		s.curLen = utf8.RuneCountInString(s.tail)
		s.tail = ""
	}
	if s.curLen > 0 {
		s.curLen += 2
	}
	s.cur = append(s.cur, p)
	s.curLen += n
}

// flush emits the chunk in progress and keeps its end as the next overlap.
func (s *splitter) flush() {
	if len(s.cur) == 0 {
		return
	}
	text := strings.Join(s.cur, "\n\n")
	s.cur, s.curLen = s.cur[:0], 0
	if s.tail == "" && s.o.Overlap > 0 {
		s.tail = overlapTail(text, s.o.Overlap)
	}
	s.out = append(s.out, Chunk{Ordinal: len(s.out), Heading: s.heading, Text: text})
}

// overlapTail is the end of text, at most n runes, starting at a sentence
// boundary when there is one in reach, else at a word boundary.
func overlapTail(text string, n int) string {
	r := []rune(text)
	if len(r) <= n {
		return ""
	}
	tail := string(r[len(r)-n:])
	for _, sep := range []string{". ", "? ", "! ", "\n"} {
		if i := strings.Index(tail, sep); i >= 0 && i < len(tail)-len(sep) {
			return strings.TrimSpace(tail[i+len(sep):])
		}
	}
	if i := strings.IndexByte(tail, ' '); i >= 0 {
		return strings.TrimSpace(tail[i+1:])
	}
	return tail
}

// splitLong cuts a paragraph into pieces of at most max runes at sentence
// ends, or at spaces, or anywhere as a last resort.
func splitLong(p string, max int) []string {
	var out []string
	r := []rune(p)
	for len(r) > max {
		cut := -1
		for i := max; i > max/2; i-- {
			if (r[i-1] == '.' || r[i-1] == '?' || r[i-1] == '!' || r[i-1] == ';') && r[i] == ' ' {
				cut = i
				break
			}
		}
		if cut < 0 {
			for i := max; i > max/2; i-- {
				if r[i] == ' ' {
					cut = i
					break
				}
			}
		}
		if cut < 0 {
			cut = max
		}
		out = append(out, strings.TrimSpace(string(r[:cut])))
		r = r[cut:]
	}
	if rest := strings.TrimSpace(string(r)); rest != "" {
		out = append(out, rest)
	}
	return out
}

func markdownHeading(line string) (int, string) {
	level := 0
	for level < len(line) && line[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || level >= len(line) || line[level] != ' ' {
		return 0, ""
	}
	title := strings.TrimSpace(strings.TrimRight(line[level:], "# "))
	if title == "" {
		return 0, ""
	}
	return level, title
}

func isListItem(line string) bool {
	if strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* ") || strings.HasPrefix(line, "• ") {
		return true
	}
	i := 0
	for i < len(line) && i < 4 && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	return i > 0 && i+1 < len(line) && (line[i] == '.' || line[i] == ')') && line[i+1] == ' '
}

func isTableRow(line string) bool {
	return strings.HasPrefix(line, "|") && strings.HasSuffix(line, "|")
}

// clean makes text safe to store and split: valid UTF-8, no NULs or other
// control characters except newlines, \r\n as \n, blanks collapsed.
func clean(text string) string {
	text = strings.ToValidUTF8(text, "")
	var b strings.Builder
	b.Grow(len(text))
	space := false
	for _, r := range text {
		switch {
		case r == '\r':
			continue
		case r == '\n':
			b.WriteRune('\n')
			space = false
		case r == '\t' || unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
				space = true
			}
		case unicode.IsControl(r) || r == '\uFEFF':
			continue
		default:
			b.WriteRune(r)
			space = false
		}
	}
	return b.String()
}

// EmbedText is what gets embedded for a chunk: its heading gives the vector
// the section's context.
func EmbedText(c Chunk) string {
	if c.Heading == "" {
		return c.Text
	}
	return c.Heading + "\n" + c.Text
}
