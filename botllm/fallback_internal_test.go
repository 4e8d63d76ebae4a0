package botllm

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Pieces of a replayed answer are valid UTF-8 and join back to the text.
func TestEmitChunks(t *testing.T) {
	for _, text := range []string{
		"",
		"short",
		strings.Repeat("ação às três horas e meia ", 20),
		strings.Repeat("日本語のテキスト", 30),
		strings.Repeat("x", 100) + " end",
	} {
		var pieces []string
		if err := emitChunks(text, func(s string) error { pieces = append(pieces, s); return nil }); err != nil {
			t.Fatal(err)
		}
		if strings.Join(pieces, "") != text {
			t.Fatalf("pieces do not join back to %q", text)
		}
		for _, p := range pieces {
			if p == "" || !utf8.ValidString(p) || len(p) > 24+32+utf8.UTFMax {
				t.Fatalf("bad piece %q of %q", p, text)
			}
		}
		if len(text) > 100 && len(pieces) < 3 {
			t.Fatalf("%d pieces for %d bytes", len(pieces), len(text))
		}
	}
}
