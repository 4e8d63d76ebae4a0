package main

import (
	"strings"
	"testing"
)

func TestParseScript(t *testing.T) {
	s, err := parseScript(defaultScript)
	if err != nil || len(s) != 6 || s[0].content != "Book a repair" || s[0].kind != 1 ||
		s[4].content != "opening-hours" || s[4].kind != 6 || string(s[4].args) != `{"city":"Porto"}` || s[5].args != nil {
		t.Fatalf("default script: %+v %v", s, err)
	}
	for _, bad := range []string{"", "# only a comment\n\n", "/tool x {not json}", strings.Repeat("x", 4001)} {
		if _, err := parseScript(bad); err == nil {
			t.Errorf("script %.20q: no error", bad)
		}
	}
}
