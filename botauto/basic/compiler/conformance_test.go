package compiler

import "testing"

// Conformance cases: script (+ HEAR answers) → transcript. Each group names
// the row of ../shared/reference/basic.md it pins.
var conformance = []struct {
	name   string
	src    string
	inputs []string
	want   string
}{
	// ---- Values ----
	{"number prints without .0", `TALK 2.0`, nil, "talk: 2"},
	{"float", `TALK 1.5 * 3`, nil, "talk: 4.5"},
	{"float rounding noise hidden", `TALK 0.1 + 0.2`, nil, "talk: 0.3"},
	{"division is float", `TALK 7 / 2`, nil, "talk: 3.5"},
	{"boolean", `TALK TRUE`, nil, "talk: true"},
	{"null prints empty", `x = NULL` + "\n" + `TALK "[" + x + "]"`, nil, "talk: []"},
	{"array literal and index", `a = [10, 20, 30]` + "\n" + `TALK a[1]`, nil, "talk: 20"},
	{"array paren index", `a = [10, 20, 30]` + "\n" + `TALK a(2)`, nil, "talk: 30"},
	{"array ubound lbound", `a = [1, 2, 3]` + "\n" + `TALK UBOUND(a) & LBOUND(a)`, nil, "talk: 20"},
	{"array prints as json", `TALK [1, "a", TRUE]`, nil, `talk: [1,"a",true]`},
	{"array element assignment", "a = [1, 2]\na[0] = 5\na(1) = 6\nTALK a", nil, "talk: [5,6]"},
	{"array append by index LEN", "a = [1]\na[LEN(a)] = 2\nTALK a", nil, "talk: [1,2]"},
	{"object member set and read", "o.name = \"Ana\"\no.age = 30\nTALK o.name + \" \" + o.age", nil, "talk: Ana 30"},
	{"object prints as json in order", "o.b = 1\no.a = 2\nTALK o", nil, `talk: {"b":1,"a":2}`},
	{"object index by key", "o.k = 1\nTALK o[\"k\"]", nil, "talk: 1"},
	{"member of null is null", "TALK ISNULL(nothing.x)", nil, "talk: true"},
	{"arrays are shared references", "a = [1]\nb = a\nb[0] = 9\nTALK a[0]", nil, "talk: 9"},
	{"set assignment", "SET x = 4\nTALK x", nil, "talk: 4"},
	{"case-insensitive variables", "Name = \"x\"\nTALK NAME", nil, "talk: x"},
	{"case-insensitive keywords", "talk \"a\"\nTalk \"b\"", nil, "talk: a\ntalk: b"},

	// ---- Operators ----
	{"precedence", `TALK 2 + 3 * 4 - 6 / 2`, nil, "talk: 11"},
	{"parentheses", `TALK (2 + 3) * 4`, nil, "talk: 20"},
	{"power right assoc", `TALK 2 ^ 3 ^ 2`, nil, "talk: 512"},
	{"unary minus and power", `TALK -2 ^ 2`, nil, "talk: -4"},
	{"mod", `TALK 17 MOD 5`, nil, "talk: 2"},
	{"mod precedence", `TALK 1 + 7 MOD 4`, nil, "talk: 4"},
	{"plus with string concatenates", `TALK "a" + 1 + 2`, nil, "talk: a12"},
	{"ampersand concatenates numbers", `TALK 1 & 2`, nil, "talk: 12"},
	{"numeric string arithmetic", `TALK "3" * 2`, nil, "talk: 6"},
	{"comparisons", `TALK (1 < 2) & (2 <= 2) & (3 > 4) & (4 >= 5) & (1 = 1) & (1 <> 1)`, nil, "talk: truetruefalsefalsetruefalse"},
	{"string comparison", `TALK "abc" < "abd"`, nil, "talk: true"},
	{"number equals numeric string", `TALK 5 = "5"`, nil, "talk: true"},
	{"and or not", `TALK (TRUE AND NOT FALSE) OR FALSE`, nil, "talk: true"},
	{"and short-circuits", "o = NULL\nIF NOT ISNULL(o) AND o.x = 1 THEN TALK \"y\" ELSE TALK \"n\"", nil, "talk: n"},
	{"or short-circuits", `TALK TRUE OR 1 / 0`, nil, "talk: true"},
	{"in array", `TALK 2 IN [1, 2, 3]`, nil, "talk: true"},
	{"not in array", `TALK 5 NOT IN [1, 2, 3]`, nil, "talk: true"},
	{"in string", `TALK "ell" IN "hello"`, nil, "talk: true"},
	{"division by zero", `TALK 1 / 0`, nil, "error: 1:8: division by zero"},
	{"arithmetic on text", `TALK "a" * 2`, nil, `error: 1:10: * needs numbers, found text "a"`},

	// ---- Strings ----
	{"escaped quote", `TALK "say ""hi"""`, nil, `talk: say "hi"`},
	{"interpolation", "n = 3\nTALK \"n=${n}, twice=${n * 2}\"", nil, "talk: n=3, twice=6"},
	{"interpolation with function and string", "TALK \"${UCASE(\"\"x\"\")}!\"", nil, "talk: X!"},
	{"dollar without brace is literal", `TALK "costs $5"`, nil, "talk: costs $5"},
	{"comments", "REM a comment\n' another\nTALK \"a\" ' trailing\n// slash comment\nTALK \"b\" // trailing", nil, "talk: a\ntalk: b"},
	{"colon separates statements", `TALK "a": TALK "b"`, nil, "talk: a\ntalk: b"},

	// ---- IF ----
	{"if then", "x = 5\nIF x > 3 THEN\n TALK \"big\"\nEND IF", nil, "talk: big"},
	{"if else", "x = 1\nIF x > 3 THEN\n TALK \"big\"\nELSE\n TALK \"small\"\nEND IF", nil, "talk: small"},
	{"elseif", "x = 2\nIF x = 1 THEN\n TALK 1\nELSEIF x = 2 THEN\n TALK 2\nELSE\n TALK 3\nEND IF", nil, "talk: 2"},
	{"else if two words", "x = 3\nIF x = 1 THEN\n TALK 1\nELSE IF x = 3 THEN\n TALK 3\nEND IF", nil, "talk: 3"},
	{"single-line if", "x = 1\nIF x = 1 THEN TALK \"one\"\nTALK \"after\"", nil, "talk: one\ntalk: after"},
	{"single-line if else", "x = 2\nIF x = 1 THEN TALK \"one\" ELSE TALK \"other\"", nil, "talk: other"},
	{"single-line if several statements", "IF TRUE THEN TALK \"a\": TALK \"b\"", nil, "talk: a\ntalk: b"},
	{"nested if", "a = 1\nb = 2\nIF a = 1 THEN\n IF b = 2 THEN\n  TALK \"both\"\n END IF\nEND IF", nil, "talk: both"},
	{"endif one word", "IF TRUE THEN\n TALK 1\nENDIF", nil, "talk: 1"},
	{"truthiness", "IF \"\" THEN TALK \"a\" ELSE TALK \"empty is false\"", nil, "talk: empty is false"},

	// ---- FOR ----
	{"for", "FOR i = 1 TO 3\n TALK i\nNEXT i", nil, "talk: 1\ntalk: 2\ntalk: 3"},
	{"for step", "FOR i = 0 TO 10 STEP 5\n TALK i\nNEXT", nil, "talk: 0\ntalk: 5\ntalk: 10"},
	{"for negative step", "FOR i = 3 TO 1 STEP -1\n TALK i\nNEXT", nil, "talk: 3\ntalk: 2\ntalk: 1"},
	{"for zero iterations", "FOR i = 5 TO 1\n TALK i\nNEXT\nTALK \"done\"", nil, "talk: done"},
	{"for variable after loop", "FOR i = 1 TO 3\nNEXT\nTALK i", nil, "talk: 4"},
	{"for fractional step", "FOR x = 0 TO 1 STEP 0.5\n TALK x\nNEXT", nil, "talk: 0\ntalk: 0.5\ntalk: 1"},
	{"for step zero fails", "FOR i = 1 TO 2 STEP 0\nNEXT", nil, "error: 1:1: FOR STEP 0 would loop forever"},
	{"exit for", "FOR i = 1 TO 10\n IF i = 3 THEN EXIT FOR\n TALK i\nNEXT", nil, "talk: 1\ntalk: 2"},
	{"nested for", "FOR i = 1 TO 2\n FOR j = 1 TO 2\n  TALK i & j\n NEXT j\nNEXT i", nil, "talk: 11\ntalk: 12\ntalk: 21\ntalk: 22"},
	{"for each", "FOR EACH c IN [\"a\", \"b\"]\n TALK c\nNEXT c", nil, "talk: a\ntalk: b"},
	{"for each over null", "FOR EACH c IN nothing\n TALK c\nNEXT\nTALK \"ok\"", nil, "talk: ok"},
	{"for each exit", "FOR EACH c IN [1, 2, 3]\n IF c = 2 THEN EXIT FOR\n TALK c\nNEXT", nil, "talk: 1"},
	{"for each needs array", "FOR EACH c IN 5\nNEXT", nil, "error: 1:1: FOR EACH needs an array, found number 5"},

	// ---- WHILE / DO ----
	{"while wend", "i = 0\nWHILE i < 3\n i = i + 1\nWEND\nTALK i", nil, "talk: 3"},
	{"exit while", "i = 0\nWHILE TRUE\n i = i + 1\n IF i = 4 THEN EXIT WHILE\nWEND\nTALK i", nil, "talk: 4"},
	{"do while", "i = 0\nDO WHILE i < 2\n i = i + 1\nLOOP\nTALK i", nil, "talk: 2"},
	{"do until", "i = 0\nDO UNTIL i = 5\n i = i + 1\nLOOP\nTALK i", nil, "talk: 5"},
	{"do loop while runs once", "i = 10\nDO\n i = i + 1\nLOOP WHILE i < 5\nTALK i", nil, "talk: 11"},
	{"do loop until", "i = 0\nDO\n i = i + 2\nLOOP UNTIL i >= 6\nTALK i", nil, "talk: 6"},
	{"do loop exit do", "i = 0\nDO\n i = i + 1\n IF i = 3 THEN EXIT DO\nLOOP\nTALK i", nil, "talk: 3"},

	// ---- SELECT CASE ----
	{"select case", "x = 2\nSELECT CASE x\nCASE 1\n TALK \"one\"\nCASE 2, 3\n TALK \"two or three\"\nCASE ELSE\n TALK \"other\"\nEND SELECT", nil, "talk: two or three"},
	{"select case else", "x = 9\nSELECT CASE x\nCASE 1\n TALK \"one\"\nCASE ELSE\n TALK \"other\"\nEND SELECT", nil, "talk: other"},
	{"select case strings", "c = \"b\"\nSELECT CASE c\nCASE \"a\"\n TALK 1\nCASE \"b\"\n TALK 2\nEND SELECT", nil, "talk: 2"},
	{"select case range", "x = 15\nSELECT CASE x\nCASE 1 TO 9\n TALK \"small\"\nCASE 10 TO 99\n TALK \"medium\"\nEND SELECT", nil, "talk: medium"},
	{"select no match", "SELECT CASE 5\nCASE 1\n TALK 1\nEND SELECT\nTALK \"end\"", nil, "talk: end"},

	// ---- Procedures ----
	{"function", "FUNCTION add(a, b)\n RETURN a + b\nEND FUNCTION\nTALK add(2, 3)", nil, "talk: 5"},
	{"function defined after use", "TALK twice(4)\nFUNCTION twice(n)\n RETURN n * 2\nEND FUNCTION", nil, "talk: 8"},
	{"recursion", "FUNCTION fact(n)\n IF n <= 1 THEN RETURN 1\n RETURN n * fact(n - 1)\nEND FUNCTION\nTALK fact(10)", nil, "talk: 3628800"},
	{"sub with call", "SUB greet(who)\n TALK \"Hi \" + who\nEND SUB\nCALL greet(\"Ana\")", nil, "talk: Hi Ana"},
	{"sub without call", "SUB greet(who)\n TALK \"Hi \" + who\nEND SUB\ngreet \"Bo\"\ngreet(\"Cy\")", nil, "talk: Hi Bo\ntalk: Hi Cy"},
	{"sub return early", "SUB s(x)\n IF x THEN RETURN\n TALK \"not returned\"\nEND SUB\nCALL s(TRUE)\nCALL s(FALSE)", nil, "talk: not returned"},
	{"exit function", "FUNCTION f()\n EXIT FUNCTION\n RETURN 1\nEND FUNCTION\nTALK ISNULL(f())", nil, "talk: true"},
	{"function without return is null", "FUNCTION f()\nEND FUNCTION\nTALK TYPEOF(f())", nil, "talk: null"},
	{"globals visible in procedures", "count = 0\nSUB bump()\n count = count + 1\nEND SUB\nbump\nbump\nTALK count", nil, "talk: 2"},
	{"parameters are local", "n = 1\nFUNCTION f(n)\n n = n + 10\n RETURN n\nEND FUNCTION\nTALK f(5) & \",\" & n", nil, "talk: 15,1"},
	{"top-level return ends script", "TALK \"a\"\nRETURN 42\nTALK \"b\"", nil, "talk: a\nreturn: 42"},

	// ---- WITH ----
	{"with builds object", "WITH p\n name = \"Ana\"\n age = 3\nEND WITH\nTALK p.name & p.age", nil, "talk: Ana3"},
	{"with updates object", "p.x = 1\nWITH p\n y = 2\nEND WITH\nTALK p", nil, `talk: {"x":1,"y":2}`},
	{"with dot syntax", "WITH p\n .a = 1\n .b = .a + 1\nEND WITH\nTALK p.b", nil, "talk: 2"},

	// ---- Errors ----
	{"on error resume next", "ON ERROR RESUME NEXT\nx = 1 / 0\nTALK \"continued: \" + ERR", nil, "talk: continued: division by zero"},
	{"error message alias", "ON ERROR RESUME NEXT\nTHROW \"boom\"\nTALK ERROR MESSAGE", nil, "talk: boom"},
	{"on error goto 0", "ON ERROR RESUME NEXT\nON ERROR GOTO 0\nTHROW \"stop\"\nTALK \"never\"", nil, "error: 3:1: stop"},
	{"throw uncaught", "TALK \"a\"\nTHROW \"bad input\"", nil, "talk: a\nerror: 2:1: bad input"},
	{"error in function caught by caller", "FUNCTION f()\n THROW \"inner\"\nEND FUNCTION\nON ERROR RESUME NEXT\nx = f()\nTALK \"after \" + ERR", nil, "talk: after inner"},
	{"resume next inside loop", "ON ERROR RESUME NEXT\nFOR i = 0 TO 2\n x = 6 / i\n TALK x\nNEXT", nil, "talk\ntalk: 6\ntalk: 3"},
	{"index out of range", "a = [1]\nTALK a[3]", nil, "error: 2:7: index 3 is out of range (the array has 1 elements, 0 to 0)"},

	// ---- Built-in strings ----
	{"len", `TALK LEN("héllo")`, nil, "talk: 5"},
	{"left right mid", `TALK LEFT("abcdef", 2) & RIGHT("abcdef", 2) & MID("abcdef", 3, 2) & MID("abcdef", 5)`, nil, "talk: abefcdef"},
	{"instr", `TALK INSTR("hello", "l") & INSTR("hello", "z") & INSTR(4, "hello", "l")`, nil, "talk: 304"},
	{"replace", `TALK REPLACE("a-b-c", "-", "+")`, nil, "talk: a+b+c"},
	{"trims", `TALK "[" & TRIM("  a  ") & LTRIM(" b ") & RTRIM(" c ") & "]"`, nil, "talk: [ab  c]"},
	{"ucase lcase", `TALK UCASE("aB") & LCASE("aB")`, nil, "talk: ABab"},
	{"split join", `TALK JOIN(SPLIT("a,b,c", ","), "-")`, nil, "talk: a-b-c"},
	{"split default whitespace", `TALK LEN(SPLIT("a  b c"))`, nil, "talk: 3"},
	{"str val", `TALK STR(5) + VAL("12abc") + 1`, nil, "talk: 5121"},
	{"val numbers", `TALK VAL("3.5") * 2`, nil, "talk: 7"},
	{"format number", `TALK FORMAT(1234.5, "#,##0.00")`, nil, "talk: 1,234.50"},
	{"format percent", `TALK FORMAT(0.256, "0.0%")`, nil, "talk: 25.6%"},
	{"format date", `TALK FORMAT("2025-03-14", "dd/MM/yyyy")`, nil, "talk: 14/03/2025"},
	{"first last word", `TALK FIRST("Ana Maria Silva") & "|" & LAST("Ana Maria Silva")`, nil, "talk: Ana|Silva"},

	// ---- Built-in math ----
	{"abs int sqr", `TALK ABS(-3) & INT(3.7) & INT(-3.2) & SQR(16)`, nil, "talk: 33-44"},
	{"round", `TALK ROUND(2.5) & " " & ROUND(3.14159, 2)`, nil, "talk: 3 3.14"},
	{"pow", `TALK POW(2, 10)`, nil, "talk: 1024"},
	{"min max", `TALK MIN(3, 1, 2) & MAX(3, 1, 2) & MAX([4, 9, 2])`, nil, "talk: 139"},
	{"mod function", `TALK MOD(10, 4)`, nil, "talk: 2"},
	{"rnd random deterministic source", `TALK RND() & " " & RANDOM(1, 10)`, nil, "talk: 0.5 6"},
	{"sqr negative", `TALK SQR(-1)`, nil, "error: 1:6: SQR: square root of a negative number"},

	// ---- Built-in dates ----
	{"now today", `TALK NOW() & " | " & TODAY`, nil, "talk: 2025-03-14 09:30:00 | 2025-03-14"},
	{"date parts", `d = "2025-03-14 09:30:00"` + "\n" + `TALK YEAR(d) & "-" & MONTH(d) & "-" & DAY(d) & " " & HOUR(d) & ":" & MINUTE(d) & " wd" & WEEKDAY(d)`, nil, "talk: 2025-3-14 9:30 wd6"},
	{"dateadd", `TALK DATEADD("2025-01-31", 1, "month") & " " & DATEADD("day", 2, "2025-03-14")`, nil, "talk: 2025-03-03 2025-03-16"},
	{"dateadd hours keeps time", `TALK DATEADD("2025-03-14 22:00:00", 3, "hour")`, nil, "talk: 2025-03-15 01:00:00"},
	{"datediff", `TALK DATEDIFF("2025-03-01", "2025-03-14") & " " & DATEDIFF("month", "2025-01-15", "2025-03-01")`, nil, "talk: 13 2"},
	{"dd/mm/yyyy input", `TALK YEAR("14/03/2025")`, nil, "talk: 2025"},

	// ---- Built-in arrays ----
	{"push pop", "a = [1]\nPUSH(a, 2)\nPUSH a, 3\nx = POP(a)\nTALK a & x", nil, "talk: [1,2]3"},
	{"push on unset", "a = PUSH(a, \"x\")\nTALK a", nil, `talk: ["x"]`},
	{"sort unique", `TALK SORT([3, 1, 2]) & SORT(["b", "a"], "desc") & UNIQUE([1, 1, 2, 1])`, nil, `talk: [1,2,3]["b","a"][1,2]`},
	{"sort leaves original", "a = [2, 1]\nb = SORT(a)\nTALK a & b", nil, "talk: [2,1][1,2]"},
	{"contains index_of", `TALK CONTAINS([1, 2], 2) & INDEX_OF([5, 6], 6) & INDEX_OF([5], 7) & INDEX_OF("hello", "l")`, nil, "talk: true1-12"},
	{"slice", `TALK SLICE([1, 2, 3, 4], 1, 3) & SLICE([1, 2, 3], -2) & SLICE("hello", 1, 3)`, nil, "talk: [2,3][2,3]el"},
	{"len of array and object", "o.a = 1\nTALK LEN([1, 2]) & LEN(o) & LEN(NULL)", nil, "talk: 210"},

	// ---- Built-in checks ----
	{"isnull isempty", `TALK ISNULL(NULL) & ISNULL("") & ISEMPTY("  ") & ISEMPTY([]) & ISEMPTY(0)`, nil, "talk: truefalsetruetruefalse"},
	{"isnumeric", `TALK ISNUMERIC("12.5") & ISNUMERIC("x") & ISNUMERIC(3)`, nil, "talk: truefalsetrue"},
	{"isdate", `TALK ISDATE("2025-02-28") & ISDATE("2025-02-30") & ISDATE("hello")`, nil, "talk: truefalsefalse"},
	{"typeof", `TALK TYPEOF(1) & TYPEOF("a") & TYPEOF(TRUE) & TYPEOF(NULL) & TYPEOF([]) & TYPEOF(FROMJSON("{}"))`, nil, "talk: numberstringbooleannullarrayobject"},
	{"iif nvl", `TALK IIF(1 > 2, "yes", "no") & NVL(NULL, "default") & NVL("v", "default")`, nil, "talk: nodefaultv"},

	// ---- JSON ----
	{"tojson", "o.a = [1, \"x\"]\nTALK TOJSON(o) & TOJSON(\"q\")", nil, `talk: {"a":[1,"x"]}"q"`},
	{"fromjson", `o = FROMJSON("{""name"":""Ana"",""tags"":[1,2]}")` + "\nTALK o.name & o.tags[1]", nil, "talk: Ana2"},
	{"fromjson invalid", `x = FROMJSON("{bad")`, nil, "error: 1:5: FROMJSON: not valid JSON: invalid character 'b'"},

	// ---- WAIT / PRINT ----
	{"print logs", `PRINT "debug", 1`, nil, "log: debug 1"},
	{"wait is an output", "TALK \"a\"\nWAIT 2\nTALK \"b\"", nil, "talk: a\nwait = 2\ntalk: b"},

	// ---- Conversation keywords ----
	{"begin talk", "name = \"Ana\"\nBEGIN TALK\n  Hello ${name},\n  welcome!\nEND TALK", nil, "talk: Hello Ana,\nwelcome!"},
	{"begin talk keeps relative indent", "BEGIN TALK\n  a\n    b\nEND TALK", nil, "talk: a\n  b"},
	{"suggestion plain", `ADD SUGGESTION "Help"`, nil, "suggestion(message): Help = Help"},
	{"suggestion context", `ADD SUGGESTION sales AS "Talk to sales"`, nil, "suggestion(context): Talk to sales = sales"},
	{"suggestion text", `ADD SUGGESTION TEXT "show my orders" AS "Orders"`, nil, "suggestion(text): Orders = show my orders"},
	{"suggestion tool", `ADD SUGGESTION TOOL "store_hours" AS "Hours"`, nil, "suggestion(tool): Hours = store_hours"},
	{"suggestions keep order and clear", "ADD SUGGESTION \"a\"\nADD SUGGESTION \"b\"\nCLEAR SUGGESTIONS", nil, "suggestion(message): a = a\nsuggestion(message): b = b\nclear_suggestions"},
	{"switcher", "ADD SWITCHER formal AS \"Formal\"\nCLEAR SWITCHERS", nil, "switcher(formal): Formal\nclear_switchers"},
	{"set context", `SET CONTEXT "tone" AS "Be brief."`, nil, "context(tone): Be brief."},
	{"kb and tools", "USE KB \"docs\"\nCLEAR KB \"docs\"\nCLEAR KB\nUSE TOOL \"t\"\nADD TOOL \"u\"\nCLEAR TOOLS", nil, "use_kb(docs)\nclear_kb(docs)\nclear_kb\nuse_tool(t)\nuse_tool(u)\nclear_tools"},
	{"transfer", `TRANSFER TO HUMAN "sales"`, nil, "transfer(sales)"},
	{"set user", `SET USER "u1"`, nil, "set_user = u1"},

	// ---- HEAR ----
	{"hear plain", "HEAR x\nTALK \"got \" + x", []string{"hello"}, "hear x\ntalk: got hello"},
	{"hear integer converts", "HEAR n AS INTEGER\nTALK n + 1", []string{"41"}, "hear n AS INTEGER\ntalk: 42"},
	{"hear integer re-asks", "HEAR n AS INTEGER\nTALK n", []string{"abc", "7"}, "hear n AS INTEGER\ntalk: Please enter a whole number.\nhear n AS INTEGER\ntalk: 7"},
	{"hear gives up after retries", "HEAR n AS INTEGER\nTALK ISNULL(n)", []string{"a", "b", "c"}, "hear n AS INTEGER\ntalk: Please enter a whole number.\nhear n AS INTEGER\ntalk: Please enter a whole number.\nhear n AS INTEGER\ntalk: true"},
	{"hear email", "HEAR e AS EMAIL\nTALK e", []string{"not-mail", "ana@example.com"}, "hear e AS EMAIL\ntalk: Please enter an e-mail address.\nhear e AS EMAIL\ntalk: ana@example.com"},
	{"hear boolean", "HEAR b AS BOOLEAN\nTALK b", []string{"Yes"}, "hear b AS BOOLEAN\ntalk: true"},
	{"hear date normalises", "HEAR d AS DATE\nTALK d", []string{"14/03/2025"}, "hear d AS DATE\ntalk: 2025-03-14"},
	{"hear money", "HEAR m AS MONEY\nTALK m", []string{"R$ 1.234,50"}, "hear m AS MONEY\ntalk: 1234.5"},
	{"hear hour", "HEAR h AS HOUR\nTALK h", []string{"9:05"}, "hear h AS HOUR\ntalk: 09:05"},
	{"hear mobile", "HEAR p AS MOBILE\nTALK p", []string{"+55 (21) 99999-1234"}, "hear p AS MOBILE\ntalk: +5521999991234"},
	{"hear url uuid zipcode name", "HEAR u AS URL\nHEAR i AS UUID\nHEAR z AS ZIPCODE\nHEAR n AS NAME\nTALK u & \" \" & i & \" \" & z & \" \" & n", []string{"https://x.org", "123E4567-E89B-12D3-A456-426614174000", "20040-002", "ana  silva"}, "hear u AS URL\nhear i AS UUID\nhear z AS ZIPCODE\nhear n AS NAME\ntalk: https://x.org 123e4567-e89b-12d3-a456-426614174000 20040-002 ana silva"},
	{"hear menu", "HEAR c AS \"Sales\", \"Support\"\nTALK c", []string{"support"}, "hear c [Sales, Support]\ntalk: Support"},
	{"hear menu by number", "HEAR c AS \"Sales\", \"Support\"\nTALK c", []string{"2"}, "hear c [Sales, Support]\ntalk: Support"},
	{"hear menu from array", "opts = [\"A\", \"B\"]\nHEAR c AS opts\nTALK c", []string{"x", "b"}, "hear c [A, B]\ntalk: Please choose one of: A, B\nhear c [A, B]\ntalk: B"},
	{"hear inside function keeps locals", "FUNCTION ask(q)\n TALK q\n HEAR a\n RETURN q + \"=\" + a\nEND FUNCTION\nTALK ask(\"name?\")", []string{"Ana"}, "talk: name?\nhear a\ntalk: name?=Ana"},
	{"hear inside loop", "FOR i = 1 TO 2\n HEAR x\n TALK i & x\nNEXT", []string{"a", "b"}, "hear x\ntalk: 1a\nhear x\ntalk: 2b"},

	// ---- Service keywords through the host ----
	{"llm value", `x = LLM "hello"` + "\nTALK x", nil, "talk: <LLM hello>"},
	{"keyword with parens", `TALK LLM("hi")`, nil, "talk: <LLM hi>"},
	{"multi-word keyword call inside an expression", `TALK NVL(GET BOT MEMORY("k"), 0) + "!"`, nil, "talk: <GET BOT MEMORY k>!"},
	{"keyword call arguments in parens", `TALK TRANSLATE("olá", "en") & "."`, nil, "talk: <TRANSLATE olá|en>."},
	{"multiword value keyword", `TALK GET BOT MEMORY("k")`, nil, "talk: <GET BOT MEMORY k>"},
	{"find then member", "hours = FIND \"stores\", \"city=Lisbon\"\nTALK hours.open", nil, "talk: 09:00"},
	{"alias reaches host by canonical name", `SEND EMAIL "a@b.c", "s", "b"` + "\nTALK \"sent\"", nil, "talk: sent"},
	{"statement keyword result discarded", "SET BOT MEMORY \"k\", 1\nTALK \"ok\"", nil, "talk: ok"},
	{"begin mail", "BEGIN MAIL \"a@b.c\"\n Hi ${1+1}\nEND MAIL\nTALK \"done\"", nil, "talk: done"},
	{"triggers do nothing at run time", "SET SCHEDULE \"0 9 * * *\"\nON EVENT \"x\"\nTALK \"ran\"", nil, "talk: ran"},
	{"params become variables", "PARAM city AS STRING\nTALK \"[\" & city & \"]\"", nil, "talk: []"},
	{"table declaration is not code", "TABLE orders\n id AS INTEGER\n name AS STRING(100)\nEND TABLE\nTALK \"ok\"", nil, "talk: ok"},
	{"reference example", "PARAM city AS STRING LIKE \"Lisbon\" DESCRIPTION \"City to look up\"\nDESCRIPTION \"Tells the opening hours of our store in a city\"\n\nhours = FIND \"stores\", \"city=\" + city\nIF ISEMPTY(hours) THEN\n    TALK \"We have no store in \" + city + \".\"\n    RETURN \"\"\nEND IF\nTALK \"Our \" + city + \" store opens at \" + hours.open\nRETURN hours", nil, "talk: Our  store opens at 09:00\nreturn: {\"open\":\"09:00\"}"},
}

func TestConformance(t *testing.T) {
	for _, tc := range conformance {
		t.Run(tc.name, func(t *testing.T) {
			got := transcript(t, tc.src, tc.inputs...)
			if got != tc.want {
				t.Errorf("script:\n%s\ngot:\n%s\nwant:\n%s", tc.src, got, tc.want)
			}
		})
	}
	t.Logf("%d conformance cases", len(conformance))
}
