package botllm

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

// Shown when no model is configured; tests and clients may match the prefix.
const (
	noModelHeader  = "No language model is configured for this bot, so this answer is not generated: it is made of the most relevant passages retrieved from its knowledge base."
	noModelNothing = "No language model is configured for this bot, and no passage of its knowledge base matched the question."
	noModelHint    = "(An administrator can set llm-url in the bot's config.csv, or LLM_URL for the platform.)"
	fallbackTop    = 3
	fallbackChars  = 1200
)

// fallbackAnswer builds the reply of a bot without a model from the
// passages the caller retrieved: the top ones by score, each labelled with
// its source.
func fallbackAnswer(passages []*llmv1.Passage) string {
	ps := make([]*llmv1.Passage, 0, len(passages))
	for _, p := range passages {
		if strings.TrimSpace(p.GetText()) != "" {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return noModelNothing + "\n\n" + noModelHint
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].GetScore() > ps[j].GetScore() })
	if len(ps) > fallbackTop {
		ps = ps[:fallbackTop]
	}
	var b strings.Builder
	b.WriteString(noModelHeader)
	b.WriteString("\n\n")
	for i, p := range ps {
		text := strings.TrimSpace(p.GetText())
		if utf8.RuneCountInString(text) > fallbackChars {
			text = string([]rune(text)[:fallbackChars]) + "…"
		}
		fmt.Fprintf(&b, "[%d] %s\n", i+1, text)
		if src := strings.TrimSpace(p.GetSource()); src != "" {
			fmt.Fprintf(&b, "(source: %s)\n", src)
		}
		b.WriteString("\n")
	}
	b.WriteString(noModelHint)
	return b.String()
}

// emitChunks streams a finished text (a cached answer, the fallback) in
// word-sized pieces, so callers handle it exactly like a generated one.
func emitChunks(text string, emit func(string) error) error {
	const piece = 24
	for len(text) > 0 {
		n := min(piece, len(text))
		if i := strings.IndexAny(text[n:], " \n"); i >= 0 && i < 32 {
			n += i + 1
		} else if n < len(text) {
			for n < len(text) && !utf8.RuneStart(text[n]) {
				n++
			}
		}
		if err := emit(text[:n]); err != nil {
			return err
		}
		text = text[n:]
	}
	return nil
}

func jsonValid(s string) bool { return json.Valid([]byte(s)) }
