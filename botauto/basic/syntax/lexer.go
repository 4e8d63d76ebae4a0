package syntax

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Pos is a 1-based line and column (columns count characters, not bytes).
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// TokKind classifies a token.
type TokKind uint8

// Token kinds. Keywords are not a kind of their own: they are identifiers the
// parser recognises case-insensitively, so that new keywords are only a table entry.
const (
	EOF  TokKind = iota
	NL           // end of a physical line
	Sep          // ':' between statements on one line
	Word         // identifiers and keywords
	Number
	String
	Op
	Raw // the body of BEGIN TALK / BEGIN MAIL
)

// Token is one lexical token.
type Token struct {
	Kind TokKind
	Pos  Pos
	Text string  // identifier or operator as written; decoded string content
	Num  float64 // Number
	Cols []int   // String: source column of every byte of Text, for ${} positions
	Raw  []RawLine
}

// RawLine is one line of a BEGIN ... END block, indentation removed.
type RawLine struct {
	Text string
	Pos  Pos // position of the first character of Text
}

// Upper is the identifier in upper case (keywords are case-insensitive).
func (t Token) Upper() string {
	if t.Kind != Word {
		return ""
	}
	return strings.ToUpper(t.Text)
}

func (t Token) describe() string {
	switch t.Kind {
	case EOF:
		return "end of file"
	case NL:
		return "end of line"
	case Sep:
		return `":"`
	case String:
		return "a string"
	case Number:
		return "number " + t.Text
	case Raw:
		return "text block"
	}
	return fmt.Sprintf("%q", t.Text)
}

// Diagnostic is a compile error a bot author can act on.
type Diagnostic struct {
	Pos Pos    `json:"pos"`
	Msg string `json:"message"`
}

func (d Diagnostic) Error() string { return d.Pos.String() + ": " + d.Msg }

type lexer struct {
	src       string
	off       int
	line, col int
	toks      []Token
	diags     []Diagnostic
	rawFor    string // "TALK" or "MAIL" after BEGIN at a statement start
}

// Lex splits src into tokens. It never fails: problems become diagnostics and
// lexing continues, so that one compile reports as many errors as possible.
func Lex(src string) ([]Token, []Diagnostic) {
	return lexAt(src, Pos{1, 1})
}

func lexAt(src string, start Pos) ([]Token, []Diagnostic) {
	lx := &lexer{src: src, line: start.Line, col: start.Col}
	lx.run()
	return lx.toks, lx.diags
}

func (lx *lexer) peek(n int) rune {
	off := lx.off
	for i := 0; i < n; i++ {
		if off >= len(lx.src) {
			return 0
		}
		_, w := utf8.DecodeRuneInString(lx.src[off:])
		off += w
	}
	if off >= len(lx.src) {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(lx.src[off:])
	return r
}

func (lx *lexer) next() rune {
	r, w := utf8.DecodeRuneInString(lx.src[lx.off:])
	lx.off += w
	if r == '\n' {
		lx.line++
		lx.col = 1
	} else {
		lx.col++
	}
	return r
}

func (lx *lexer) pos() Pos { return Pos{lx.line, lx.col} }

func (lx *lexer) errorf(p Pos, format string, args ...any) {
	lx.diags = append(lx.diags, Diagnostic{p, fmt.Sprintf(format, args...)})
}

func (lx *lexer) emit(t Token) { lx.toks = append(lx.toks, t) }

// atStmtStart reports whether the next token would begin a statement.
func (lx *lexer) atStmtStart() bool {
	if len(lx.toks) == 0 {
		return true
	}
	k := lx.toks[len(lx.toks)-1].Kind
	return k == NL || k == Sep || k == Raw
}

func (lx *lexer) skipToEOL() {
	for lx.off < len(lx.src) && lx.peek(0) != '\n' {
		lx.next()
	}
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool  { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func (lx *lexer) run() {
	for lx.off < len(lx.src) {
		r := lx.peek(0)
		p := lx.pos()
		switch {
		case r == '\n':
			lx.next()
			lx.emit(Token{Kind: NL, Pos: p})
			if lx.rawFor != "" {
				lx.rawBlock()
			}
		case r == ' ' || r == '\t' || r == '\r' || r == '\uFEFF':
			lx.next()
		case r == '\'':
			lx.skipToEOL()
		case r == '/' && lx.peek(1) == '/':
			lx.skipToEOL()
		case isIdentStart(r):
			start := lx.off
			for lx.off < len(lx.src) && isIdentPart(lx.peek(0)) {
				lx.next()
			}
			word := lx.src[start:lx.off]
			up := strings.ToUpper(word)
			if up == "REM" && lx.atStmtStart() {
				lx.skipToEOL()
				continue
			}
			if (up == "TALK" || up == "MAIL") && len(lx.toks) >= 1 {
				prev := lx.toks[len(lx.toks)-1]
				if prev.Upper() == "BEGIN" && (len(lx.toks) == 1 || lx.toks[len(lx.toks)-2].Kind != Word && lx.toks[len(lx.toks)-2].Kind != Op) {
					lx.rawFor = up
				}
			}
			lx.emit(Token{Kind: Word, Pos: p, Text: word})
		case unicode.IsDigit(r) || r == '.' && unicode.IsDigit(lx.peek(1)):
			lx.number(p)
		case r == '"':
			lx.str(p)
		default:
			lx.next()
			op := string(r)
			switch r {
			case '<':
				if n := lx.peek(0); n == '>' || n == '=' {
					lx.next()
					op += string(n)
				}
			case '>':
				if lx.peek(0) == '=' {
					lx.next()
					op = ">="
				}
			case ':':
				lx.emit(Token{Kind: Sep, Pos: p, Text: ":"})
				continue
			case '=', '+', '-', '*', '/', '^', '&', '(', ')', '[', ']', ',', '.', '{', '}':
			default:
				lx.errorf(p, "unexpected character %q", r)
				continue
			}
			lx.emit(Token{Kind: Op, Pos: p, Text: op})
		}
	}
	lx.emit(Token{Kind: EOF, Pos: lx.pos()})
}

func (lx *lexer) number(p Pos) {
	start := lx.off
	for unicode.IsDigit(lx.peek(0)) {
		lx.next()
	}
	if lx.peek(0) == '.' && unicode.IsDigit(lx.peek(1)) {
		lx.next()
		for unicode.IsDigit(lx.peek(0)) {
			lx.next()
		}
	}
	if e := lx.peek(0); (e == 'e' || e == 'E') && (unicode.IsDigit(lx.peek(1)) || (lx.peek(1) == '-' || lx.peek(1) == '+') && unicode.IsDigit(lx.peek(2))) {
		lx.next()
		if s := lx.peek(0); s == '-' || s == '+' {
			lx.next()
		}
		for unicode.IsDigit(lx.peek(0)) {
			lx.next()
		}
	}
	text := lx.src[start:lx.off]
	var f float64
	if _, err := fmt.Sscanf(text, "%g", &f); err != nil {
		lx.errorf(p, "bad number %s", text)
	}
	lx.emit(Token{Kind: Number, Pos: p, Text: text, Num: f})
}

// str reads a double-quoted string; "" is an escaped quote.
func (lx *lexer) str(p Pos) {
	lx.next()
	var b strings.Builder
	var cols []int
	for {
		if lx.off >= len(lx.src) || lx.peek(0) == '\n' {
			lx.errorf(p, `string is not closed: add " before the end of the line`)
			break
		}
		c := lx.col
		r := lx.next()
		if r == '"' {
			if lx.peek(0) != '"' {
				break
			}
			lx.next()
		}
		n := b.Len()
		b.WriteRune(r)
		for i := n; i < b.Len(); i++ {
			cols = append(cols, c)
		}
	}
	lx.emit(Token{Kind: String, Pos: p, Text: b.String(), Cols: cols})
}

// rawBlock collects the lines after BEGIN TALK/MAIL up to END TALK/MAIL as one
// Raw token; the END line itself is lexed normally so the parser sees it.
func (lx *lexer) rawBlock() {
	end := "END " + lx.rawFor
	lx.rawFor = ""
	var lines []RawLine
	p := lx.pos()
	for lx.off < len(lx.src) {
		lineStart := lx.off
		lp := lx.pos()
		nl := strings.IndexByte(lx.src[lx.off:], '\n')
		var line string
		if nl < 0 {
			line = lx.src[lx.off:]
		} else {
			line = lx.src[lx.off : lx.off+nl]
		}
		if strings.Join(strings.Fields(strings.ToUpper(line)), " ") == end {
			break
		}
		for lx.off < lineStart+len(line) {
			lx.next()
		}
		if lx.off < len(lx.src) {
			lx.next() // the newline
		}
		lines = append(lines, RawLine{Text: strings.TrimRight(line, " \t\r"), Pos: lp})
	}
	// Remove the common indentation so the block can be indented like code.
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l.Text) == "" {
			continue
		}
		n := len(l.Text) - len(strings.TrimLeft(l.Text, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i := range lines {
		if indent > 0 && len(lines[i].Text) >= indent {
			lines[i].Text = lines[i].Text[indent:]
			lines[i].Pos.Col += indent
		} else if strings.TrimSpace(lines[i].Text) == "" {
			lines[i].Text = ""
		}
	}
	lx.emit(Token{Kind: Raw, Pos: p, Raw: lines})
}
