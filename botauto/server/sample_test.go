package server_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

var update = flag.Bool("update", false, "rewrite golden transcripts")

// TestSampleBotTranscripts runs the repository's sample bot through scripted
// conversations and compares the transcripts with testdata/*.golden
// (go test ./server -run Sample -update rewrites them).
func TestSampleBotTranscripts(t *testing.T) {
	dialogs := map[string][]string{
		"hours":  {"hello", "Opening hours"},
		"repair": {"hi", "Book a repair", "two", "2", "not-an-email", "ann@example.com"},
		"ask":    {"hey", "ask a question"},
		"wrong":  {"hey", "Pizza", "Book a repair", "1", "a@b.co"},
	}
	e := newEnv(t)
	e.dir = filepath.Join("..", "..", "bots")
	r := e.replica()
	ctx := as(orgA)
	for name, inputs := range dialogs {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			for _, in := range inputs {
				fmt.Fprintf(&b, "> %s\n", in)
				tr := r.say(t, ctx, "sample", "golden-"+name, in)
				for _, o := range tr.outs {
					fmt.Fprintf(&b, "< %s", o.Kind)
					for _, f := range []string{o.Name, o.Text, o.Value, strings.Join(o.Options, " | ")} {
						if f != "" {
							fmt.Fprintf(&b, " [%s]", f)
						}
					}
					b.WriteByte('\n')
				}
				fmt.Fprintf(&b, "= %s consumed=%v %s\n", strings.TrimPrefix(tr.end.Status.String(), "TURN_STATUS_"), tr.end.Consumed, tr.end.Error)
			}
			// The tool the menu offers, as the client would run it.
			if name == "hours" {
				res, err := r.client.RunTool(ctx, &autov1.RunToolRequest{Bot: "sample", Tool: "opening-hours", ArgsJson: `{"city":"Porto"}`})
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "tool opening-hours Porto -> %s %s\n", res.ResultJson, res.Error)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				_ = os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Fatalf("transcript differs from %s:\n--- got\n%s--- want\n%s", golden, b.String(), want)
			}
		})
	}
}
