package syntax

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"TALK \"hello ${name}\"\nHEAR x AS INTEGER\n",
	"IF a THEN\nTALK 1\nELSE IF b THEN\nTALK 2\nEND IF\n",
	"FOR i = 1 TO 10 STEP 2\nNEXT i\nFOR EACH x IN [1, 2]\nNEXT\n",
	"SELECT CASE x\nCASE 1, 2\nCASE ELSE\nEND SELECT\n",
	"FUNCTION f(a, b)\nRETURN a + b\nEND FUNCTION\nSUB s(a)\nEND SUB\nCALL s(1)\n",
	"WITH o\nkey = \"v\"\nEND WITH\nBEGIN TALK\nline ${o.key}\nEND TALK\n",
	"PARAM city AS STRING LIKE \"x\" DESCRIPTION \"d\" ENUM [\"a\"] OPTIONAL\nDESCRIPTION \"t\"\n",
	"TABLE t\nname AS STRING\nEND TABLE\n",
	"ON ERROR RESUME NEXT\nTHROW \"x\"\nTALK ERR\n",
	"x = \"unterminated\n' comment\nREM rem\n// slash\n",
	"a = [1, [2, 3], {}]\nb = a(0) ^ -2 MOD 3\n",
}

// FuzzLex: any input lexes without panicking, and every diagnostic has a
// position inside the source.
func FuzzLex(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_, diags := Lex(src)
		lines := strings.Count(src, "\n") + 1
		for _, d := range diags {
			if d.Pos.Line < 1 || d.Pos.Line > lines+1 || d.Pos.Col < 1 {
				t.Fatalf("diagnostic outside the source: %v", d)
			}
		}
	})
}
