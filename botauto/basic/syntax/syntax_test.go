package syntax

import (
	"strings"
	"testing"
)

func TestLexPositions(t *testing.T) {
	toks, diags := Lex("x = \"a\"\"b\" ' c\n  TALK 1.5e2 <> y")
	if diags != nil {
		t.Fatal(diags)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, tk.Pos.String()+" "+tk.describe())
	}
	want := `1:1 "x"|1:3 "="|1:5 a string|1:15 end of line|2:3 "TALK"|2:8 number 1.5e2|2:14 "<>"|2:17 "y"|2:18 end of file`
	if strings.Join(got, "|") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, "|"), want)
	}
	if toks[2].Text != `a"b` || toks[5].Num != 150 {
		t.Fatalf("decoded %q %v", toks[2].Text, toks[5].Num)
	}
}

func TestInterpolationPositions(t *testing.T) {
	_, diags := Parse("t.bas", "TALK \"ab ${1 +} cd\"")
	if len(diags) != 1 || diags[0].Error() != "1:15: expected a value, found end of file" {
		t.Fatalf("got %v", diags)
	}
}

func TestKeywordTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keywords {
		if seen[k.Phrase] || k.Phrase != strings.ToUpper(k.Phrase) || strings.Join(strings.Fields(k.Phrase), " ") != k.Phrase {
			t.Errorf("bad or duplicate phrase %q", k.Phrase)
		}
		seen[k.Phrase] = true
		if k.Alias != "" && LookupKeyword(k.Alias) == nil {
			t.Errorf("%s is an alias of unknown %s", k.Phrase, k.Alias)
		}
	}
}

func TestLongestKeywordWins(t *testing.T) {
	f, diags := Parse("t.bas", "ADD SUGGESTION TOOL \"t\" AS \"x\"\nTALK TO \"u\", \"m\"\nDELETE HTTP \"u\"\nDELETE \"t\", \"f\"")
	if diags != nil {
		t.Fatal(diags)
	}
	var got []string
	for _, s := range f.Stmts {
		got = append(got, s.(*KeywordStmt).Keyword.Phrase)
	}
	if strings.Join(got, ",") != "ADD SUGGESTION TOOL,TALK TO,DELETE HTTP,DELETE" {
		t.Fatalf("got %v", got)
	}
}

func TestDiagnosticsAreCapped(t *testing.T) {
	_, diags := Parse("t.bas", strings.Repeat("x = = 1\n", 500))
	if len(diags) != MaxDiagnostics {
		t.Fatalf("got %d diagnostics", len(diags))
	}
}

func TestDeepNestingIsAnError(t *testing.T) {
	_, diags := Parse("t.bas", "x = "+strings.Repeat("(", 5000)+"1"+strings.Repeat(")", 5000))
	if len(diags) == 0 || !strings.Contains(diags[0].Msg, "nested too deeply") {
		t.Fatalf("got %v", diags)
	}
	_, diags = Parse("t.bas", strings.Repeat("IF x THEN\n", 1000))
	if len(diags) == 0 {
		t.Fatal("want diagnostics")
	}
}

// FuzzParse: any input gives a File and diagnostics, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"TALK \"hi ${name}\"\nHEAR x AS EMAIL",
		"IF a THEN\n b = 1\nELSEIF c THEN\n d\nELSE\nEND IF",
		"FOR EACH x IN [1,2]\nNEXT\nDO WHILE x: LOOP",
		"SELECT CASE x\nCASE 1 TO 2, 3\nCASE ELSE\nEND SELECT",
		"FUNCTION f(a)\n RETURN a\nEND FUNCTION\nWITH o\n .k = 1\nEND WITH",
		"BEGIN TALK\n ${a}\nEND TALK\nPARAM p AS STRING LIKE \"x\" OPTIONAL",
		"ON ERROR RESUME NEXT\nTHROW \"x\"\nx = LLM \"q\"\nADD SUGGESTION c AS \"l\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		file, diags := Parse("fuzz.bas", src)
		if file == nil {
			t.Fatal("nil file")
		}
		for _, d := range diags {
			if d.Pos.Line < 1 || d.Msg == "" {
				t.Fatalf("bad diagnostic %+v", d)
			}
		}
	})
}
