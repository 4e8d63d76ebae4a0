package syntax

import (
	"sort"
	"strings"
)

// Keyword describes a table-driven keyword. Adding a keyword to the language
// is adding a row to Keywords; the parser, compiler and VM need no change for
// a service keyword, and a conversation keyword only needs its output mapping.
type Keyword struct {
	Phrase   string   // canonical words, upper case, one space apart
	Alias    string   // canonical phrase this one is an alias of ("" if none)
	Min, Max int      // positional arguments; Max < 0 means no limit
	Clauses  []string // named clauses after the arguments, e.g. AS, FROM, SUBJECT
	Required string   // a clause that must be present
	BareName bool     // a bare word as the first argument is a name, not a variable
	Value    bool     // yields a value: usable as `x = KEYWORD args`
	Service  string   // "" for conversation keywords the VM turns into outputs
	Trigger  bool     // declares a trigger when the package loads; a no-op at run time
}

// Name is the canonical phrase (the alias target for aliases).
func (k *Keyword) Name() string {
	if k.Alias != "" {
		return k.Alias
	}
	return k.Phrase
}

// Keywords is the keyword table. Services: the VM's Host routes calls by it and
// its default host answers "<service> is not available".
var Keywords = []*Keyword{
	// Conversation: outputs to the caller.
	{Phrase: "TALK", Min: 1, Max: 1},
	{Phrase: "SET USER", Min: 1, Max: 1},
	{Phrase: "ADD SUGGESTION", Min: 1, Max: 1, Clauses: []string{"AS"}, BareName: true},
	{Phrase: "ADD SUGGESTION TEXT", Min: 1, Max: 1, Clauses: []string{"AS"}, Required: "AS"},
	{Phrase: "ADD SUGGESTION TOOL", Min: 1, Max: 1, Clauses: []string{"AS"}, BareName: true},
	{Phrase: "CLEAR SUGGESTIONS"},
	{Phrase: "ADD SWITCHER", Min: 1, Max: 1, Clauses: []string{"AS"}, Required: "AS", BareName: true},
	{Phrase: "CLEAR SWITCHERS"},
	{Phrase: "SET CONTEXT", Min: 1, Max: 1, Clauses: []string{"AS"}, Required: "AS", BareName: true},
	{Phrase: "USE KB", Min: 1, Max: 1},
	{Phrase: "CLEAR KB", Min: 0, Max: 1},
	{Phrase: "USE TOOL", Min: 1, Max: 1},
	{Phrase: "ADD TOOL", Alias: "USE TOOL", Min: 1, Max: 1},
	{Phrase: "CLEAR TOOLS"},
	{Phrase: "TRANSFER TO HUMAN", Min: 0, Max: 1},
	{Phrase: "PRINT", Min: 0, Max: -1},
	{Phrase: "WAIT", Min: 1, Max: 1},

	// Services.
	{Phrase: "TALK TO", Min: 2, Max: 2, Service: "channels"},
	{Phrase: "SEND TO", Min: 2, Max: 2, Service: "channels"},
	{Phrase: "LLM", Min: 1, Max: 1, Value: true, Service: "llm"},
	{Phrase: "SUMMARIZE", Min: 1, Max: 1, Value: true, Service: "llm"},
	{Phrase: "TRANSLATE", Min: 2, Max: 2, Value: true, Service: "llm"},
	{Phrase: "CLASSIFY", Min: 2, Max: 2, Value: true, Service: "llm"},
	{Phrase: "SENTIMENT", Min: 1, Max: 1, Value: true, Service: "llm"},
	{Phrase: "THINK KB", Min: 1, Max: 1, Value: true, Service: "kb"},
	{Phrase: "SET BOT MEMORY", Min: 2, Max: 2, Service: "memory"},
	{Phrase: "GET BOT MEMORY", Min: 1, Max: 1, Value: true, Service: "memory"},
	{Phrase: "SET USER MEMORY", Min: 2, Max: 2, Service: "memory"},
	{Phrase: "GET USER MEMORY", Min: 1, Max: 1, Value: true, Service: "memory"},
	{Phrase: "REMEMBER", Min: 2, Max: 3, Service: "memory"},
	{Phrase: "RECALL", Min: 1, Max: 1, Value: true, Service: "memory"},
	{Phrase: "GET", Min: 1, Max: 1, Value: true, Service: "http"}, // the host routes drive paths to drive
	{Phrase: "POST", Min: 2, Max: 2, Value: true, Service: "http"},
	{Phrase: "PUT", Min: 2, Max: 2, Value: true, Service: "http"},
	{Phrase: "PATCH", Min: 2, Max: 2, Value: true, Service: "http"},
	{Phrase: "DELETE HTTP", Min: 1, Max: 1, Value: true, Service: "http"},
	{Phrase: "SET HEADER", Min: 2, Max: 2, Service: "http"},
	{Phrase: "CLEAR HEADERS", Service: "http"},
	{Phrase: "READ", Min: 1, Max: 1, Value: true, Service: "drive"},
	{Phrase: "WRITE", Min: 2, Max: 2, Service: "drive"},
	{Phrase: "LIST", Min: 1, Max: 1, Value: true, Service: "drive"},
	{Phrase: "COPY", Min: 2, Max: 2, Service: "drive"},
	{Phrase: "MOVE", Min: 2, Max: 2, Service: "drive"},
	{Phrase: "DELETE FILE", Min: 1, Max: 1, Service: "drive"},
	{Phrase: "SAVE", Min: 2, Max: -1, Value: true, Service: "tables"},
	{Phrase: "FIND", Min: 1, Max: 2, Value: true, Service: "tables"},     // the first matching row or null
	{Phrase: "FIND ALL", Min: 1, Max: 2, Value: true, Service: "tables"}, // every matching row, as an array
	{Phrase: "INSERT", Min: 2, Max: 2, Value: true, Service: "tables"},
	{Phrase: "UPDATE", Min: 3, Max: 3, Value: true, Service: "tables"},
	{Phrase: "DELETE", Min: 2, Max: 2, Value: true, Service: "tables"},
	{Phrase: "SEND MAIL", Min: 3, Max: 4, Service: "mail"},
	{Phrase: "SEND EMAIL", Alias: "SEND MAIL", Min: 3, Max: 4, Service: "mail"},
	{Phrase: "CREATE DRAFT", Min: 3, Max: 3, Service: "mail"},
	{Phrase: "CREATE TASK", Min: 3, Max: 4, Value: true, Service: "tasks"},
	{Phrase: "BOOK", Min: 4, Max: 4, Value: true, Service: "calendar"},
	{Phrase: "PUBLISH EVENT", Min: 2, Max: 2, Service: "events"},

	// Triggers: registered when the package loads.
	{Phrase: "SET SCHEDULE", Min: 1, Max: 1, Trigger: true},
	{Phrase: "ON EMAIL", Min: 1, Max: 1, Clauses: []string{"FROM", "SUBJECT"}, Trigger: true},
	{Phrase: "ON EVENT", Min: 1, Max: 1, Trigger: true},
	{Phrase: "WEBHOOK", Min: 1, Max: 1, Trigger: true},
}

// BeginMail is the keyword BEGIN MAIL compiles to (recipient, body).
var BeginMail = &Keyword{Phrase: "BEGIN MAIL", Min: 2, Max: 2, Service: "mail"}

// keywordsByFirst indexes Keywords by first word, longest phrase first so that
// ADD SUGGESTION TOOL wins over ADD SUGGESTION.
var keywordsByFirst = index(Keywords)

func index(ks []*Keyword) map[string][]*Keyword {
	m := map[string][]*Keyword{}
	for _, k := range ks {
		w := strings.Fields(k.Phrase)
		m[w[0]] = append(m[w[0]], k)
	}
	for _, l := range m {
		sort.SliceStable(l, func(i, j int) bool {
			return len(strings.Fields(l[i].Phrase)) > len(strings.Fields(l[j].Phrase))
		})
	}
	return m
}

// Register adds a keyword to the table (for services that bring their own
// keywords). Call it at init time, before parsing: the table is not locked.
func Register(k *Keyword) {
	k.Phrase = strings.Join(strings.Fields(strings.ToUpper(k.Phrase)), " ")
	Keywords = append(Keywords, k)
	keywordsByFirst = index(Keywords)
}

// LookupKeyword finds the exact phrase (any case); used by tests and tools.
func LookupKeyword(phrase string) *Keyword {
	up := strings.Join(strings.Fields(strings.ToUpper(phrase)), " ")
	for _, k := range Keywords {
		if k.Phrase == up {
			return k
		}
	}
	return nil
}

// HearTypes are the types HEAR var AS TYPE validates.
var HearTypes = map[string]bool{
	"STRING": true, "INTEGER": true, "NUMBER": true, "BOOLEAN": true, "DATE": true,
	"EMAIL": true, "MOBILE": true, "URL": true, "UUID": true, "ZIPCODE": true,
	"MONEY": true, "HOUR": true, "NAME": true,
}

// ParamTypes are the types a tool PARAM may have.
var ParamTypes = map[string]bool{
	"STRING": true, "INTEGER": true, "NUMBER": true, "FLOAT": true, "MONEY": true,
	"BOOLEAN": true, "DATE": true, "EMAIL": true, "MOBILE": true, "URL": true,
	"UUID": true, "ZIPCODE": true, "HOUR": true, "NAME": true,
}
