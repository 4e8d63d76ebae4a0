package chunk_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/botserver-go/botserver-go/botvectordb/chunk"
)

func TestSplitFollowsHeadingsAndParagraphs(t *testing.T) {
	doc := "Intro line before any heading.\n\n" +
		"# Install\n\nDownload the installer.\n\n## Linux\n\nRun the script as root.\nIt takes a minute.\n\n" +
		"## Windows\n\nDouble-click setup.exe.\n\n# Usage\n\n- first item\n- second item\n\n" +
		"Troubleshooting\n===============\n\nRestart the service."
	got, err := chunk.Split(doc, chunk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []chunk.Chunk{
		{0, "", "Intro line before any heading."},
		{1, "Install", "Download the installer."},
		{2, "Install > Linux", "Run the script as root. It takes a minute."},
		{3, "Install > Windows", "Double-click setup.exe."},
		{4, "Usage", "- first item\n\n- second item"},
		{5, "Troubleshooting", "Restart the service."},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d chunks: %#v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("chunk %d = %#v, want %#v", i, got[i], want[i])
		}
	}
	if e := chunk.EmbedText(got[2]); e != "Install > Linux\nRun the script as root. It takes a minute." {
		t.Errorf("embed text %q", e)
	}
}

func TestSplitSizesAndOverlap(t *testing.T) {
	var paras []string
	for i := 0; i < 40; i++ {
		paras = append(paras, strings.Repeat("word ", 20)+"sentence number "+string(rune('A'+i%26))+".")
	}
	// One giant paragraph without blank lines too.
	long := strings.Repeat("Alpha beta gamma delta. ", 200)
	doc := strings.Join(paras, "\n\n") + "\n\n" + long
	o := chunk.Options{Size: 400, Overlap: 60}
	got, err := chunk.Split(doc, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 15 {
		t.Fatalf("only %d chunks", len(got))
	}
	for i, c := range got {
		n := utf8.RuneCountInString(c.Text)
		if n > o.Size+o.Overlap || n == 0 {
			t.Fatalf("chunk %d has %d runes", i, n)
		}
		if c.Ordinal != i {
			t.Fatalf("ordinal %d at %d", c.Ordinal, i)
		}
		if i > 0 {
			// The start of each chunk repeats the end of the previous one.
			prev := got[i-1].Text
			head := c.Text[:min(20, len(c.Text))]
			if !strings.Contains(prev, head) {
				t.Fatalf("chunk %d does not overlap chunk %d:\n%q\n%q", i, i-1, prev, c.Text)
			}
		}
	}
	// Nothing is lost: every sentence marker appears.
	all := ""
	for _, c := range got {
		all += c.Text + "\n"
	}
	for i := 0; i < 26; i++ {
		if !strings.Contains(all, "sentence number "+string(rune('A'+i))+".") {
			t.Fatalf("lost paragraph %d", i)
		}
	}
	if strings.Count(all, "Alpha beta gamma delta.") < 200 {
		t.Fatal("lost part of the long paragraph")
	}
}

func TestSplitCleansAndLimits(t *testing.T) {
	got, err := chunk.Split("bad\x00bytes\xff and\ttabs\r\n\r\nnext\u200b para", chunk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Text != "badbytes and tabs\n\nnext\u200b para" {
		t.Fatalf("%#v", got)
	}
	if got, _ := chunk.Split(" \n\n\t ", chunk.Options{}); len(got) != 0 {
		t.Fatalf("blank text gave %#v", got)
	}
	_, err = chunk.Split(strings.Repeat("x y z. ", 10000), chunk.Options{Size: 100, Overlap: -1, MaxChunks: 10})
	if !errors.Is(err, chunk.ErrTooManyChunks) {
		t.Fatalf("err %v", err)
	}
	for _, bad := range []chunk.Options{{Size: 10}, {Size: 500, Overlap: 400}, {Size: 50000}} {
		if _, err := chunk.Split("x", bad); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}
