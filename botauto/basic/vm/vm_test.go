package vm

import (
	"math"
	"testing"
)

func TestFormatNumber(t *testing.T) {
	for f, want := range map[float64]string{
		2: "2", -3: "-3", 2.5: "2.5", 0.1 + 0.2: "0.3", 1e15: "1000000000000000", 1e21: "1000000000000000000000",
		1.0 / 3: "0.333333333333333", math.NaN(): "NaN", math.Inf(-1): "-Infinity",
	} {
		if got := FormatNumber(f); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		typ, in string
		ok      bool
		want    string
	}{
		{"", "  any text ", true, "  any text "},
		{"INTEGER", "12", true, "12"}, {"INTEGER", "1.5", false, ""}, {"INTEGER", "x", false, ""},
		{"NUMBER", "1,5", true, "1.5"}, {"NUMBER", "abc", false, ""},
		{"BOOLEAN", "Sim", true, "true"}, {"BOOLEAN", "no", true, "false"}, {"BOOLEAN", "maybe", false, ""},
		{"DATE", "2025-12-31", true, "2025-12-31"}, {"DATE", "31/12/2025", true, "2025-12-31"}, {"DATE", "31/02/2025", false, ""},
		{"EMAIL", "a@b.co", true, "a@b.co"}, {"EMAIL", "Ana <a@b.co>", false, ""}, {"EMAIL", "a@localhost", false, ""},
		{"MOBILE", "21 99999-1234", true, "21999991234"}, {"MOBILE", "123", false, ""},
		{"URL", "https://example.com/x", true, "https://example.com/x"}, {"URL", "ftp://x", false, ""}, {"URL", "example.com", false, ""},
		{"UUID", "123e4567-e89b-12d3-a456-426614174000", true, "123e4567-e89b-12d3-a456-426614174000"}, {"UUID", "123", false, ""},
		{"ZIPCODE", "94103", true, "94103"}, {"ZIPCODE", "SW1A 1AA", true, "SW1A 1AA"}, {"ZIPCODE", "hello", false, ""},
		{"MONEY", "$1,234.56", true, "1234.56"}, {"MONEY", "1.234,56 €", true, "1234.56"}, {"MONEY", "ten", false, ""},
		{"HOUR", "23:59", true, "23:59"}, {"HOUR", "7h30", true, "07:30"}, {"HOUR", "24:00", false, ""},
		{"NAME", "Ana  O'Neil", true, "Ana O'Neil"}, {"NAME", "R2D2", false, ""}, {"NAME", "A", false, ""},
	}
	for _, c := range cases {
		v, ok := validate(c.typ, nil, c.in)
		if ok != c.ok || ok && v.String() != c.want {
			t.Errorf("validate(%s, %q) = %q, %v; want %q, %v", c.typ, c.in, v.String(), ok, c.want, c.ok)
		}
	}
	if v, ok := validate("", []string{"Sales", "Support"}, " SUPPORT "); !ok || v.String() != "Support" {
		t.Errorf("menu: %v %v", v, ok)
	}
	if _, ok := validate("", []string{"a"}, "3"); ok {
		t.Error("menu accepted an out-of-range number")
	}
}

func TestJSONKeepsOrder(t *testing.T) {
	v, err := ParseJSON(`{"z":1,"a":[true,null,"x"],"m":{"k":2.5}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); got != `{"z":1,"a":[true,null,"x"],"m":{"k":2.5}}` {
		t.Fatalf("got %s", got)
	}
	if _, err := ParseJSON(`{} {}`); err == nil {
		t.Fatal("want error for trailing data")
	}
}

func TestSelfContainingArrayPrints(t *testing.T) {
	a := NewArray()
	a.a.Items = append(a.a.Items, a)
	if s := a.String(); len(s) == 0 {
		t.Fatal("empty")
	}
}

func TestStateRoundTripOfSpecialValues(t *testing.T) {
	p := &Program{Name: "x", Version: "v", Globals: []string{"a", "b", "c"}, Procs: []*Proc{{}}}
	m := newMachine(t.Context(), p, Options{})
	o := NewObject()
	o.o.Set("nan", Num(math.NaN()))
	o.o.Set("inf", Num(math.Inf(1)))
	m.globals = []Value{o, o, Str("s")}
	m.frames = []frame{{}}
	b, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	m2 := newMachine(t.Context(), p, Options{})
	if err := m2.decode(b); err != nil {
		t.Fatal(err)
	}
	g := m2.globals
	if g[0].o != g[1].o || !math.IsNaN(g[0].o.m["nan"].n) || !math.IsInf(g[0].o.m["inf"].n, 1) || g[2].s != "s" {
		t.Fatalf("round trip lost data: %s", b)
	}
}
