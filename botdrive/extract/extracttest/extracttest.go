// Package extracttest writes real documents for extraction tests and
// benchmarks: PDF (hand-built, with a correct cross-reference table), DOCX,
// XLSX and PPTX (OOXML zips with the parts Office writes), so no binary
// fixtures need to be committed.
package extracttest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"html"
	"strings"
)

// PDF returns a PDF with one page per string, each line of it drawn as
// text in Helvetica.
func PDF(pages []string) []byte {
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	n := len(pages)
	// 1 catalog, 2 pages, 3 font, then per page: page object, content stream.
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	kids := make([]string, n)
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 4+2*i)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	for i, text := range pages {
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 5+2*i))
		var s strings.Builder
		s.WriteString("BT /F1 12 Tf 72 720 Td 14 TL\n")
		for _, line := range strings.Split(text, "\n") {
			fmt.Fprintf(&s, "(%s) Tj T*\n", pdfEscape(line))
		}
		s.WriteString("ET")
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", s.Len(), s.String()))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

func pdfEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
	return r.Replace(s)
}

// Zip builds a zip from name → content, in the given order.
func Zip(files ...[2]string) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, f := range files {
		fw, err := w.Create(f[0])
		if err != nil {
			panic(err)
		}
		_, _ = fw.Write([]byte(f[1]))
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

// DOCX returns a Word document with one paragraph per string; a tab in a
// string becomes a w:tab.
func DOCX(paragraphs []string) []byte {
	var body strings.Builder
	for _, p := range paragraphs {
		body.WriteString("<w:p><w:r>")
		for i, part := range strings.Split(p, "\t") {
			if i > 0 {
				body.WriteString("<w:tab/>")
			}
			fmt.Fprintf(&body, `<w:t xml:space="preserve">%s</w:t>`, html.EscapeString(part))
		}
		body.WriteString("</w:r></w:p>")
	}
	return Zip(
		[2]string{"[Content_Types].xml", xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		[2]string{"_rels/.rels", xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		[2]string{"word/document.xml", xmlHeader + `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() + `</w:body></w:document>`},
	)
}

// Sheet is one worksheet: a name and rows of cells. Cells that parse as
// numbers are written as numbers, the rest as shared strings.
type Sheet struct {
	Name string
	Rows [][]string
}

// XLSX returns a workbook with the sheets in order.
func XLSX(sheets []Sheet) []byte {
	var shared []string
	index := map[string]int{}
	files := [][2]string{
		{"[Content_Types].xml", xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>`},
		{"_rels/.rels", xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
	}
	var wbSheets, rels strings.Builder
	for i, sh := range sheets {
		// Sheet parts are numbered in reverse, so only the relationships
		// give the right order (as in files edited over time).
		part := fmt.Sprintf("worksheets/sheet%d.xml", len(sheets)-i)
		fmt.Fprintf(&wbSheets, `<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, html.EscapeString(sh.Name), i+1, i+1)
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="%s"/>`, i+1, part)
		var data strings.Builder
		for r, row := range sh.Rows {
			fmt.Fprintf(&data, `<row r="%d">`, r+1)
			for c, cell := range row {
				ref := fmt.Sprintf("%c%d", 'A'+c, r+1)
				if isNumber(cell) {
					fmt.Fprintf(&data, `<c r="%s"><v>%s</v></c>`, ref, cell)
					continue
				}
				idx, ok := index[cell]
				if !ok {
					idx = len(shared)
					index[cell] = idx
					shared = append(shared, cell)
				}
				fmt.Fprintf(&data, `<c r="%s" t="s"><v>%d</v></c>`, ref, idx)
			}
			data.WriteString(`</row>`)
		}
		files = append(files, [2]string{"xl/" + part, xmlHeader + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + data.String() + `</sheetData></worksheet>`})
	}
	var sst strings.Builder
	for _, s := range shared {
		fmt.Fprintf(&sst, `<si><t xml:space="preserve">%s</t></si>`, html.EscapeString(s))
	}
	files = append(files,
		[2]string{"xl/workbook.xml", xmlHeader + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>` + wbSheets.String() + `</sheets></workbook>`},
		[2]string{"xl/_rels/workbook.xml.rels", xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` + rels.String() + `</Relationships>`},
		[2]string{"xl/sharedStrings.xml", xmlHeader + fmt.Sprintf(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, len(shared), len(shared)) + sst.String() + `</sst>`},
	)
	return Zip(files...)
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	var f float64
	_, err := fmt.Sscanf(s, "%g", &f)
	return err == nil && fmt.Sprint(f) == s
}

// PPTX returns a presentation with one slide per entry, each a list of
// paragraphs.
func PPTX(slides [][]string) []byte {
	files := [][2]string{
		{"[Content_Types].xml", xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>`},
		{"ppt/presentation.xml", xmlHeader + `<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>`},
	}
	for i, paras := range slides {
		var sp strings.Builder
		for _, p := range paras {
			fmt.Fprintf(&sp, `<a:p><a:r><a:t>%s</a:t></a:r></a:p>`, html.EscapeString(p))
		}
		files = append(files, [2]string{fmt.Sprintf("ppt/slides/slide%d.xml", i+1), xmlHeader +
			`<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><p:cSld><p:spTree><p:sp><p:txBody>` +
			sp.String() + `</p:txBody></p:sp></p:spTree></p:cSld></p:sld>`})
	}
	return Zip(files...)
}
