package extract_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botdrive/extract"
	"github.com/botserver-go/botserver-go/botdrive/extract/extracttest"
)

func text(t *testing.T, data []byte, ct, name string, lim extract.Limits) extract.Result {
	t.Helper()
	res, err := extract.Text(context.Background(), data, ct, name, lim)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func contains(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("text lacks %q:\n%s", w, got)
		}
	}
}

func TestFormats(t *testing.T) {
	t.Run("pdf", func(t *testing.T) {
		data := extracttest.PDF([]string{"Hello from page one\nSecond line (with parens)", "Page two says goodbye"})
		res := text(t, data, "application/pdf", "a.pdf", extract.Limits{})
		contains(t, res.Text, "Hello from page one", "Second line (with parens)", "Page two says goodbye")
		if res.Pages != 2 || res.Format != "pdf" {
			t.Fatalf("%+v", res)
		}
		if strings.Index(res.Text, "one") > strings.Index(res.Text, "two") {
			t.Fatal("pages out of order")
		}
	})
	t.Run("docx", func(t *testing.T) {
		data := extracttest.DOCX([]string{"Título do documento", "Name\tValue", "Ünïcode & <escaped> text"})
		res := text(t, data, "", "a.docx", extract.Limits{})
		if res.Text != "Título do documento\nName\tValue\nÜnïcode & <escaped> text" {
			t.Fatalf("%q", res.Text)
		}
	})
	t.Run("xlsx", func(t *testing.T) {
		data := extracttest.XLSX([]extracttest.Sheet{
			{Name: "Prices", Rows: [][]string{{"Item", "Price"}, {"Coffee", "2.5"}, {"Tea", "1.75"}}},
			{Name: "Notes", Rows: [][]string{{"Coffee", "best in the morning"}}},
		})
		res := text(t, data, "", "a.xlsx", extract.Limits{})
		want := "## Prices\nItem\tPrice\nCoffee\t2.5\nTea\t1.75\n\n## Notes\nCoffee\tbest in the morning"
		if res.Text != want || res.Pages != 2 {
			t.Fatalf("got %q (%d sheets)\nwant %q", res.Text, res.Pages, want)
		}
	})
	t.Run("pptx", func(t *testing.T) {
		var slides [][]string
		for i := 1; i <= 11; i++ { // slide10 after slide9, not after slide1
			slides = append(slides, []string{fmt.Sprintf("Slide %d title", i), "bullet"})
		}
		res := text(t, extracttest.PPTX(slides), "", "deck.pptx", extract.Limits{})
		if res.Pages != 11 || strings.Index(res.Text, "Slide 9 title") > strings.Index(res.Text, "Slide 10 title") {
			t.Fatalf("%d slides: %q", res.Pages, res.Text)
		}
	})
	t.Run("html", func(t *testing.T) {
		page := `<!doctype html><html><head><title>The Title</title><style>p{color:red}</style><script>alert("no")</script></head>
<body><h1>Heading</h1><p>First   paragraph
 with <b>bold</b> &amp; entities&nbsp;here.</p><table><tr><td>a</td><td>b</td></tr></table><noscript>hidden</noscript><pre>  keep
   spacing</pre></body></html>`
		res := text(t, []byte(page), "text/html; charset=utf-8", "p.html", extract.Limits{})
		contains(t, res.Text, "The Title", "Heading", "First paragraph with bold & entities\u00a0here.", "a\tb", "  keep\n   spacing")
		for _, bad := range []string{"alert", "color:red", "hidden", "<"} {
			if strings.Contains(res.Text, bad) {
				t.Fatalf("text has %q: %q", bad, res.Text)
			}
		}
	})
	t.Run("plain formats", func(t *testing.T) {
		for _, tc := range []struct{ name, ct, in, want string }{
			{"a.md", "text/markdown", "# Title\r\n\r\nBody *text*", "# Title\n\nBody *text*"},
			{"a.csv", "text/csv", "\xef\xbb\xbfname,age\nann,3", "name,age\nann,3"},
			{"a.json", "application/json", `{"k":"v"}`, `{"k":"v"}`},
			{"a.txt", "", "plain \xff text", "plain \uFFFD text"},
			{"start.bas", "text/plain", `TALK "hi"`, `TALK "hi"`},
		} {
			if res := text(t, []byte(tc.in), tc.ct, tc.name, extract.Limits{}); res.Text != tc.want {
				t.Fatalf("%s: %q want %q", tc.name, res.Text, tc.want)
			}
		}
	})
}

func TestLimits(t *testing.T) {
	pages := make([]string, 10)
	for i := range pages {
		pages[i] = fmt.Sprintf("page %d text", i+1)
	}
	res := text(t, extracttest.PDF(pages), "application/pdf", "a.pdf", extract.Limits{MaxPages: 3})
	if res.Pages != 3 || !res.Truncated || strings.Contains(res.Text, "page 4") {
		t.Fatalf("page limit: %+v", res)
	}
	long := strings.Repeat("é", 1000) // 2 bytes each: the cut must not split one
	res = text(t, []byte(long), "text/plain", "a.txt", extract.Limits{MaxText: 101})
	if len(res.Text) != 100 || !res.Truncated {
		t.Fatalf("text limit: %d bytes, truncated=%v", len(res.Text), res.Truncated)
	}
	_, err := extract.Text(context.Background(), make([]byte, 2000), "text/plain", "a.txt", extract.Limits{MaxInput: 1000})
	if !errors.Is(err, extract.ErrLimit) {
		t.Fatalf("input limit: %v", err)
	}
	big := extracttest.PDF(pages)
	_, err = extract.Text(context.Background(), big, "application/pdf", "a.pdf", extract.Limits{Timeout: time.Nanosecond})
	if !errors.Is(err, extract.ErrLimit) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("timeout: %v", err)
	}
}

// Corrupt or hostile documents give an error that says so — no panic, no hang.
func TestCorruptDocuments(t *testing.T) {
	junk := make([]byte, 4096)
	_, _ = rand.Read(junk)
	pdf := extracttest.PDF([]string{"some text here"})
	docx := extracttest.DOCX([]string{"text"})

	// A DOCX whose document.xml is 64 MiB of spaces: tiny zipped, a bomb unzipped.
	var bomb bytes.Buffer
	zw := zip.NewWriter(&bomb)
	w, _ := zw.Create("word/document.xml")
	w.Write([]byte(`<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>`))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 64 {
		w.Write(chunk)
	}
	zw.Close()

	brokenXML := extracttest.Zip([2]string{"word/document.xml", "<w:document><w:body><w:p><w:t>unclosed"})
	badShared := extracttest.Zip(
		[2]string{"xl/workbook.xml", `<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>`},
		[2]string{"xl/_rels/workbook.xml.rels", `<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>`},
		[2]string{"xl/worksheets/sheet1.xml", `<worksheet><sheetData><row><c t="s"><v>99</v></c></row></sheetData></worksheet>`},
	)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"random.pdf", junk, extract.ErrCorrupt},
		{"truncated.pdf", pdf[:len(pdf)/2], extract.ErrCorrupt},
		{"no-xref.pdf", bytes.Replace(pdf, []byte("xref"), []byte("xxxx"), 1), extract.ErrCorrupt},
		{"random.docx", junk, extract.ErrCorrupt},
		{"truncated.docx", docx[:len(docx)-30], extract.ErrCorrupt},
		{"missing-part.docx", extracttest.Zip([2]string{"other.xml", "<x/>"}), extract.ErrCorrupt},
		{"broken.docx", brokenXML, extract.ErrCorrupt},
		{"bomb.docx", bomb.Bytes(), extract.ErrLimit},
		{"random.xlsx", junk, extract.ErrCorrupt},
		{"bad-shared.xlsx", badShared, extract.ErrCorrupt},
		{"random.pptx", junk, extract.ErrCorrupt},
		{"bad.json", []byte(`{"a":`), extract.ErrCorrupt},
		{"binary.csv", append([]byte{0, 0xff, 0xfe}, junk...), extract.ErrCorrupt},
		{"image.png", junk, extract.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := extract.Text(context.Background(), tc.data, "", tc.name, extract.Limits{Timeout: 10 * time.Second})
			if !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
		})
	}
}

// Many truncations of a valid PDF: every one ends in a result or an error.
func TestTruncatedPDFsNeverPanic(t *testing.T) {
	pdf := extracttest.PDF([]string{"alpha beta", "gamma delta", "epsilon"})
	for n := 0; n < len(pdf); n += 7 {
		_, _ = extract.Text(context.Background(), pdf[:n], "application/pdf", "t.pdf", extract.Limits{Timeout: 5 * time.Second})
	}
	// And with bytes flipped.
	for i := 0; i < len(pdf); i += 13 {
		b := bytes.Clone(pdf)
		b[i] ^= 0x5a
		_, _ = extract.Text(context.Background(), b, "application/pdf", "t.pdf", extract.Limits{Timeout: 5 * time.Second})
	}
}
