package extract

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/ledongthuc/pdf"
)

func pdfText(ctx context.Context, data []byte, lim Limits) (Result, error) {
	r, err := pdf.NewReader(deadlineReaderAt{ctx, bytes.NewReader(data)}, int64(len(data)))
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return Result{}, fmt.Errorf("%w: PDF: %v", ErrCorrupt, err)
	}
	n := r.NumPage()
	res := Result{}
	if n > lim.MaxPages {
		n, res.Truncated = lim.MaxPages, true
	}
	b := &textBuilder{max: lim.MaxText}
	for i := 1; i <= n && !b.full; i++ {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		// Fonts are not shared between pages: two pages may give the same
		// resource name (F1) to different fonts.
		t, err := p.GetPlainText(nil)
		if err != nil {
			return Result{}, fmt.Errorf("%w: PDF page %d: %v", ErrCorrupt, i, err)
		}
		res.Pages++
		if t = strings.TrimSpace(t); t != "" {
			b.add(t)
			b.add("\n\n")
		}
	}
	res.Text = strings.TrimSpace(b.String())
	res.Truncated = res.Truncated || b.full
	return res, nil
}
