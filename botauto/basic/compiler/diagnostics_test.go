package compiler

import (
	"strings"
	"testing"
)

// Bad scripts → every diagnostic, exactly, in source order: one compile
// reports several errors, each with line:column.
var diagnosticCases = []struct {
	name string
	src  string
	want []string
}{
	{"missing THEN, open string, bad operator, unknown function",
		"IF x > 1\n  TALK \"a\"\nEND IF\nTALK \"unclosed\nx = 3 +* 2\ny = FOO(1)\n",
		[]string{
			"1:9: expected THEN after the IF condition, found end of line",
			`4:6: string is not closed: add " before the end of the line`,
			`5:8: expected a value, found "*"`,
			"6:5: unknown function FOO",
		}},
	{"keyword called like a function with the wrong arguments",
		"x = TRANSLATE(\"olá\")\ny = NVL(GET BOT MEMORY(\"a\", \"b\"), 0)\n",
		[]string{
			"1:5: TRANSLATE takes 2 arguments, found 1",
			"2:9: GET BOT MEMORY takes 1 argument, found 2",
		}},
	{"mismatched blocks",
		"FOR i = 1 TO 3\n  TALK i\nNEXT j\nWHILE TRUE\nLOOP\nEND IF\n",
		[]string{
			"3:6: NEXT j does not match FOR i at 1:5",
			"4:1: WHILE has no matching WEND (reached the end of the file)",
			"5:1: LOOP without DO",
			"6:1: END IF without IF",
		}},
	{"unclosed IF inside FUNCTION, wrong argument count",
		"FUNCTION f(a)\n  IF a THEN\n    RETURN 1\nEND FUNCTION\nTALK f(1, 2)\n",
		[]string{
			"2:3: IF has no matching END IF (reached END FUNCTION at 4:1)",
			"5:6: f takes 1 argument, found 2",
		}},
	{"select case shape",
		"SELECT CASE x\nTALK 1\nCASE 1\n TALK 2\n",
		[]string{
			"1:1: SELECT CASE has no matching END SELECT (reached the end of the file)",
			"2:1: statements after SELECT CASE must be inside a CASE",
		}},
	{"keywords and built-ins",
		"EXIT FOR\nTALK LEFT(\"a\")\nHEAR x AS CPF\nSET CONTEXT \"a\"\nTALK\nSEND MAIL \"a\", \"b\"\nTALK \"${}\"\nTALK \"${x\"\n",
		[]string{
			"1:1: EXIT FOR outside a FOR loop",
			"2:6: LEFT takes 2 arguments, found 1",
			"3:11: unknown HEAR type CPF (use STRING, INTEGER, NUMBER, BOOLEAN, DATE, EMAIL, MOBILE, URL, UUID, ZIPCODE, MONEY, HOUR, NAME, or a menu)",
			`4:1: SET CONTEXT needs AS, as in: SET CONTEXT name AS "text"`,
			"5:1: TALK takes 1 argument, found 0",
			"6:1: SEND MAIL takes 3 to 4 arguments, found 2",
			"7:7: ${} is empty: put an expression inside",
			"8:7: ${ is not closed with }",
		}},
	{"brackets, trailing tokens, BEGIN TALK",
		"x = (1 + 2\na = [1, 2\nTALK 1 2\nDO\nLOOP WHILE\nBEGIN TALK\nhi\n",
		[]string{
			`1:11: expected ")" to close "(" at 1:5, found end of line`,
			`2:10: expected "]" to close "[" at 2:5, found end of line`,
			"3:8: unexpected number 2 after the statement",
			"5:11: expected a value, found end of line",
			"6:1: BEGIN TALK has no matching END TALK",
		}},
	{"tool declarations",
		"PARAM x AS BLOB\nPARAM y AS STRING LIKE z\nDESCRIPTION 5\nRETURN 1 +\nFUNCTION IF()\nEND FUNCTION\n@\n",
		[]string{
			"1:12: unknown PARAM type BLOB (use STRING, INTEGER, NUMBER, BOOLEAN, DATE, EMAIL, URL, ...)",
			`2:24: LIKE needs a literal example such as "Lisbon" or 42`,
			"3:13: expected the description text in quotes after DESCRIPTION, found number 5",
			"4:11: expected a value, found end of line",
			"5:10: IF is a reserved word and cannot be used as a name",
			"7:1: unexpected character '@'",
		}},
	{"procedures and triggers",
		"SUB s()\n RETURN 5\nEND SUB\nx = s()\nFUNCTION left(a)\nEND FUNCTION\nSET SCHEDULE x\nfoo 1, 2\n",
		[]string{
			"2:2: a SUB cannot return a value; use FUNCTION",
			"4:5: s is a SUB and has no value; make it a FUNCTION",
			"5:1: LEFT is a built-in function; choose another name",
			"7:14: SET SCHEDULE needs text in quotes, so it can be registered when the bot loads",
			"8:1: unknown statement or procedure foo",
		}},
	{"orphans",
		"ELSE\nNEXT\nWEND\nCASE 1\nEND SELECT\nEND SUB\nEND WITH\nEND TALK\nEND\n",
		[]string{
			"1:1: ELSE without IF",
			"2:1: NEXT without FOR",
			"3:1: WEND without WHILE",
			"4:1: CASE outside SELECT CASE",
			"5:1: END SELECT without SELECT CASE",
			"6:1: END SUB without SUB",
			"7:1: END WITH without WITH",
			"8:1: END TALK without BEGIN TALK",
			"9:1: END must be followed by IF, FUNCTION, SUB, SELECT, WITH, TABLE, TALK or MAIL",
		}},
	{"nested procedure and DO with two conditions",
		"IF TRUE THEN\nFUNCTION g()\nEND FUNCTION\nEND IF\nDO WHILE TRUE\nLOOP UNTIL FALSE\n",
		[]string{
			"2:1: FUNCTION must be at the top level of the file, not inside IF",
			"6:1: a DO loop has a condition after DO or after LOOP, not both",
		}},
}

func TestDiagnostics(t *testing.T) {
	for _, tc := range diagnosticCases {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := Compile("t.bas", tc.src)
			if p != nil {
				t.Fatalf("compiled, want errors")
			}
			got := make([]string, len(diags))
			for i, d := range diags {
				got[i] = d.Error()
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
