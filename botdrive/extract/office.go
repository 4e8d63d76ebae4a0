package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// officeZip is an OOXML package read under a decompression budget.
type officeZip struct {
	ctx    context.Context
	z      *zip.Reader
	files  map[string]*zip.File
	budget int64
}

func openOffice(ctx context.Context, data []byte, kind string, lim Limits) (*officeZip, error) {
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a zip package: %v", ErrCorrupt, kind, err)
	}
	o := &officeZip{ctx: ctx, z: z, files: map[string]*zip.File{}, budget: lim.MaxUnzip}
	for _, f := range z.File {
		o.files[f.Name] = f
	}
	return o, nil
}

var errBudget = errors.New("decompressed size limit")

// open returns a part's reader; it fails once the package has produced
// more than the budget in total (a zip bomb), or when ctx ends.
func (o *officeZip) open(name string) (io.ReadCloser, error) {
	f := o.files[name]
	if f == nil {
		return nil, fmt.Errorf("%w: missing part %s", ErrCorrupt, name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: part %s: %v", ErrCorrupt, name, err)
	}
	return &budgetReader{o: o, rc: rc}, nil
}

type budgetReader struct {
	o  *officeZip
	rc io.ReadCloser
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if err := b.o.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.rc.Read(p)
	b.o.budget -= int64(n)
	if b.o.budget < 0 {
		return n, errBudget
	}
	return n, err
}

func (b *budgetReader) Close() error { return b.rc.Close() }

// walk streams the XML of a part to fn.
func (o *officeZip) walk(name string, fn func(tok xml.Token) error) error {
	rc, err := o.open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := xml.NewDecoder(rc)
	dec.Strict = false // Office files in the wild have small XML faults
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return wrapXML(name, err)
		}
		if err := fn(tok); err != nil {
			if o.budget < 0 { // the last token came out of a read past the budget
				return wrapXML(name, errBudget)
			}
			return err
		}
	}
}

func wrapXML(name string, err error) error {
	switch {
	case errors.Is(err, errBudget):
		return fmt.Errorf("%w: %s decompresses to more than the extraction allows (zip bomb?)", ErrLimit, name)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrFormat):
		return fmt.Errorf("%w: part %s: %v", ErrCorrupt, name, err)
	}
	return fmt.Errorf("%w: part %s: %v", ErrCorrupt, name, err)
}

// docxText reads word/document.xml: text runs (w:t), tabs, breaks and
// paragraph ends.
func docxText(ctx context.Context, data []byte, lim Limits) (Result, error) {
	o, err := openOffice(ctx, data, "DOCX", lim)
	if err != nil {
		return Result{}, err
	}
	b := &textBuilder{max: lim.MaxText}
	inText := false
	err = o.walk("word/document.xml", func(tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "t":
				inText = true
			case "tab":
				b.add("\t")
			case "br", "cr":
				b.add("\n")
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				b.add("\n")
			}
		case xml.CharData:
			if inText {
				b.add(string(t))
			}
		}
		if b.full {
			return io.EOF
		}
		return nil
	})
	if err != nil && !errors.Is(err, io.EOF) {
		return Result{}, err
	}
	return Result{Text: strings.TrimSpace(b.String()), Truncated: b.full}, nil
}

var slideName = regexp.MustCompile(`^ppt/slides/slide(\d+)\.xml$`)

// pptxText reads the slides in order: DrawingML text (a:t) with paragraph
// ends and line breaks.
func pptxText(ctx context.Context, data []byte, lim Limits) (Result, error) {
	o, err := openOffice(ctx, data, "PPTX", lim)
	if err != nil {
		return Result{}, err
	}
	type slide struct {
		n    int
		name string
	}
	var slides []slide
	for name := range o.files {
		if m := slideName.FindStringSubmatch(name); m != nil {
			n, _ := strconv.Atoi(m[1])
			slides = append(slides, slide{n, name})
		}
	}
	if len(slides) == 0 {
		if _, ok := o.files["ppt/presentation.xml"]; !ok {
			return Result{}, fmt.Errorf("%w: PPTX has no ppt/presentation.xml", ErrCorrupt)
		}
	}
	slices.SortFunc(slides, func(a, b slide) int { return a.n - b.n })
	res := Result{}
	if len(slides) > lim.MaxPages {
		slides, res.Truncated = slides[:lim.MaxPages], true
	}
	b := &textBuilder{max: lim.MaxText}
	for _, s := range slides {
		inText := false
		err := o.walk(s.name, func(tok xml.Token) error {
			switch t := tok.(type) {
			case xml.StartElement:
				if t.Name.Local == "t" {
					inText = true
				} else if t.Name.Local == "br" {
					b.add("\n")
				}
			case xml.EndElement:
				if t.Name.Local == "t" {
					inText = false
				} else if t.Name.Local == "p" {
					b.add("\n")
				}
			case xml.CharData:
				if inText {
					b.add(string(t))
				}
			}
			if b.full {
				return io.EOF
			}
			return nil
		})
		if err != nil && !errors.Is(err, io.EOF) {
			return Result{}, err
		}
		res.Pages++
		b.add("\n")
		if b.full {
			break
		}
	}
	res.Text = strings.TrimSpace(b.String())
	res.Truncated = res.Truncated || b.full
	return res, nil
}

// xlsxText reads every sheet in workbook order as tab-separated rows under
// a "## <sheet name>" heading, resolving shared strings.
func xlsxText(ctx context.Context, data []byte, lim Limits) (Result, error) {
	o, err := openOffice(ctx, data, "XLSX", lim)
	if err != nil {
		return Result{}, err
	}
	shared, err := o.sharedStrings()
	if err != nil {
		return Result{}, err
	}
	sheets, err := o.sheets()
	if err != nil {
		return Result{}, err
	}
	res := Result{}
	if len(sheets) > lim.MaxPages {
		sheets, res.Truncated = sheets[:lim.MaxPages], true
	}
	b := &textBuilder{max: lim.MaxText}
	for _, sh := range sheets {
		b.add("## " + sh.name + "\n")
		if err := o.sheetRows(sh.part, shared, b); err != nil && !errors.Is(err, io.EOF) {
			return Result{}, err
		}
		res.Pages++
		b.add("\n")
		if b.full {
			break
		}
	}
	res.Text = strings.TrimSpace(b.String())
	res.Truncated = res.Truncated || b.full
	return res, nil
}

func (o *officeZip) sharedStrings() ([]string, error) {
	if _, ok := o.files["xl/sharedStrings.xml"]; !ok {
		return nil, nil
	}
	var out []string
	var cur strings.Builder
	inT, inPhonetic := false, false
	err := o.walk("xl/sharedStrings.xml", func(tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				cur.Reset()
			case "t":
				inT = true
			case "rPh": // phonetic guide, not cell text
				inPhonetic = true
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				out = append(out, cur.String())
			case "t":
				inT = false
			case "rPh":
				inPhonetic = false
			}
		case xml.CharData:
			if inT && !inPhonetic {
				cur.Write(t)
			}
		}
		return nil
	})
	return out, err
}

type sheetRef struct{ name, part string }

// sheets lists the worksheets in workbook order with their part names,
// through the workbook's relationships.
func (o *officeZip) sheets() ([]sheetRef, error) {
	targets := map[string]string{}
	if _, ok := o.files["xl/_rels/workbook.xml.rels"]; ok {
		err := o.walk("xl/_rels/workbook.xml.rels", func(tok xml.Token) error {
			if t, ok := tok.(xml.StartElement); ok && t.Name.Local == "Relationship" {
				var id, target string
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "Id":
						id = a.Value
					case "Target":
						target = a.Value
					}
				}
				if strings.HasPrefix(target, "/") {
					target = strings.TrimPrefix(target, "/")
				} else {
					target = path.Join("xl", target)
				}
				targets[id] = target
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var out []sheetRef
	err := o.walk("xl/workbook.xml", func(tok xml.Token) error {
		if t, ok := tok.(xml.StartElement); ok && t.Name.Local == "sheet" {
			var name, rid string
			for _, a := range t.Attr {
				switch {
				case a.Name.Local == "name":
					name = a.Value
				case a.Name.Local == "id" && strings.Contains(a.Name.Space, "relationships"):
					rid = a.Value
				}
			}
			part := targets[rid]
			if part == "" {
				part = fmt.Sprintf("xl/worksheets/sheet%d.xml", len(out)+1)
			}
			out = append(out, sheetRef{name: name, part: part})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sheetRows writes a sheet's non-empty rows, cells separated by tabs.
func (o *officeZip) sheetRows(part string, shared []string, b *textBuilder) error {
	if _, ok := o.files[part]; !ok {
		return nil // a chart sheet or a missing part: no cells
	}
	var row []string
	var cellType string
	var val strings.Builder
	inV, inT := false, false
	return o.walk(part, func(tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "row":
				row = row[:0]
			case "c":
				cellType = ""
				for _, a := range t.Attr {
					if a.Name.Local == "t" {
						cellType = a.Value
					}
				}
				val.Reset()
			case "v":
				inV = true
			case "t":
				inT = true
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "v":
				inV = false
			case "t":
				inT = false
			case "c":
				v := val.String()
				if cellType == "s" {
					i, err := strconv.Atoi(strings.TrimSpace(v))
					if err != nil || i < 0 || i >= len(shared) {
						return fmt.Errorf("%w: %s refers to shared string %q of %d", ErrCorrupt, part, v, len(shared))
					}
					v = shared[i]
				}
				row = append(row, strings.ReplaceAll(v, "\n", " "))
			case "row":
				line := strings.TrimRight(strings.Join(row, "\t"), "\t")
				if line != "" {
					b.add(line + "\n")
				}
				if b.full {
					return io.EOF
				}
			}
		case xml.CharData:
			if inV || (inT && cellType == "inlineStr") {
				val.Write(t)
			}
		}
		return nil
	})
}
