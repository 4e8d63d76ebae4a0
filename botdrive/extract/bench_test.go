package extract_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botdrive/extract"
	"github.com/botserver-go/botserver-go/botdrive/extract/extracttest"
)

// BenchmarkExtract measures extraction throughput per format on generated
// documents of a few MB. For the Office formats the bytes counted are the
// unpacked XML (what the extractor parses); the zips are small because the
// generated text repeats.
func BenchmarkExtract(b *testing.B) {
	line := "The quick brown fox jumps over the lazy dog, again and again, for the benchmark."
	var pages []string
	for i := range 200 {
		pages = append(pages, fmt.Sprintf("Page %d\n%s", i, strings.Repeat(line+"\n", 40)))
	}
	var paras []string
	for range 20000 {
		paras = append(paras, line)
	}
	var rows [][]string
	for i := range 20000 {
		rows = append(rows, []string{fmt.Sprint(i), "item " + fmt.Sprint(i%500), "1.25", line[:20]})
	}
	var slides [][]string
	for i := range 500 {
		slides = append(slides, []string{fmt.Sprintf("Slide %d", i), line, line, line})
	}
	html := "<html><body>" + strings.Repeat("<div><h2>Title</h2><p>"+line+" <b>bold</b> &amp; more</p><ul><li>a</li><li>b</li></ul></div>", 20000) + "</body></html>"
	docs := []struct {
		name, file string
		data       []byte
	}{
		{"pdf", "a.pdf", extracttest.PDF(pages)},
		{"docx", "a.docx", extracttest.DOCX(paras)},
		{"xlsx", "a.xlsx", extracttest.XLSX([]extracttest.Sheet{{Name: "S", Rows: rows}})},
		{"pptx", "a.pptx", extracttest.PPTX(slides)},
		{"html", "a.html", []byte(html)},
		{"markdown", "a.md", []byte(strings.Repeat("# h\n\n"+line+"\n\n", 20000))},
	}
	for _, d := range docs {
		b.Run(d.name, func(b *testing.B) {
			lim := extract.Limits{MaxText: 64 << 20, MaxPages: 10000}
			b.SetBytes(unpacked(d.data))
			for b.Loop() {
				res, err := extract.Text(context.Background(), d.data, "", d.file, lim)
				if err != nil || res.Truncated || len(res.Text) == 0 {
					b.Fatalf("%v truncated=%v", err, res.Truncated)
				}
			}
		})
	}
}

// unpacked is the total unpacked size of a zip, or len(data) for other files.
func unpacked(data []byte) int64 {
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return int64(len(data))
	}
	var n int64
	for _, f := range z.File {
		n += int64(f.UncompressedSize64)
	}
	return n
}
