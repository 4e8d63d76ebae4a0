package runtime

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/botserver-go/botserver-go/botauto/basic/syntax"
	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botauto/store"
)

// Table is a declared bot table: its fields in order, with base types
// (STRING, INTEGER, NUMBER, BOOLEAN, DATE, ...) and STRING(n) lengths.
type Table struct {
	Name   string
	Fields []Field
}

// Field is one declared column.
type Field struct {
	Name   string
	Type   string
	MaxLen int
}

// TablesFrom collects the TABLE declarations of a package's programs; a
// table declared twice keeps its first declaration.
func TablesFrom(decls []*syntax.Table) map[string]*Table {
	out := map[string]*Table{}
	for _, d := range decls {
		name := strings.ToLower(d.Name)
		if _, dup := out[name]; dup {
			continue
		}
		t := &Table{Name: name}
		for _, f := range d.Fields {
			typ, n := strings.ToUpper(f.Type), 0
			if base, rest, ok := strings.Cut(typ, "("); ok {
				typ = strings.TrimSpace(base)
				n, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(rest, ")")))
			}
			t.Fields = append(t.Fields, Field{Name: strings.ToLower(f.Name), Type: typ, MaxLen: n})
		}
		out[name] = t
	}
	return out
}

func (t *Table) field(name string) (*Field, bool) {
	for i := range t.Fields {
		if t.Fields[i].Name == strings.ToLower(name) {
			return &t.Fields[i], true
		}
	}
	return nil, false
}

func (f *Field) numeric() bool {
	switch f.Type {
	case "INTEGER", "NUMBER", "FLOAT", "MONEY", "DOUBLE", "DECIMAL":
		return true
	}
	return false
}

// coerce checks a value against the field's type and returns what is stored.
func (f *Field) coerce(t string, v vm.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	switch {
	case f.numeric():
		n, ok := v.Number()
		if !ok {
			return nil, fmt.Errorf("%s.%s must be a number, found %q", t, f.Name, v.String())
		}
		if f.Type == "INTEGER" && n != float64(int64(n)) {
			return nil, fmt.Errorf("%s.%s must be a whole number, found %s", t, f.Name, v.String())
		}
		return n, nil
	case f.Type == "BOOLEAN":
		if v.Kind() == vm.BoolKind {
			return v.Truthy(), nil
		}
		switch strings.ToLower(v.String()) {
		case "true", "yes", "1":
			return true, nil
		case "false", "no", "0":
			return false, nil
		}
		return nil, fmt.Errorf("%s.%s must be true or false, found %q", t, f.Name, v.String())
	}
	s := v.String()
	if f.MaxLen > 0 && len([]rune(s)) > f.MaxLen {
		return nil, fmt.Errorf("%s.%s is longer than %d characters", t, f.Name, f.MaxLen)
	}
	return s, nil
}

// condPattern reads one condition: field op value.
var condPattern = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<>|>=|<=|=|<|>)\s*(.*?)\s*$`)

// andSplit separates conditions: "a=1 AND b=2" (any case).
var andSplit = regexp.MustCompile(`(?i)\s+and\s+`)

// Filter parses FIND's filter: conditions joined by AND; values may be
// quoted. An empty filter matches every row.
func (t *Table) Filter(s string) ([]store.Cond, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []store.Cond
	for _, part := range andSplit.Split(s, -1) {
		m := condPattern.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("filter %q: write conditions as field=value, joined by AND", s)
		}
		name, op, val := strings.ToLower(m[1]), m[2], m[3]
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		c := store.Cond{Field: name, Op: op, Value: val}
		if name == "id" {
			if _, err := strconv.ParseInt(val, 10, 64); err != nil {
				return nil, fmt.Errorf("filter %q: id must be a number", s)
			}
		} else {
			f, ok := t.field(name)
			if !ok {
				return nil, fmt.Errorf("table %s has no field %s", t.Name, name)
			}
			if c.Numeric = f.numeric(); c.Numeric {
				if _, err := strconv.ParseFloat(val, 64); err != nil {
					return nil, fmt.Errorf("filter %q: %s is a number", s, name)
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// record turns a script value (an object, or positional values in declared
// order) into a checked row.
func (t *Table) record(args []vm.Value, partial bool) (map[string]any, error) {
	out := map[string]any{}
	if len(args) == 1 && args[0].Kind() == vm.ObjectKind {
		o := args[0].Object()
		for _, k := range o.Keys() {
			if strings.EqualFold(k, "id") {
				continue // ids are the table's, never the script's
			}
			f, ok := t.field(k)
			if !ok {
				return nil, fmt.Errorf("table %s has no field %s", t.Name, k)
			}
			v, _ := o.Get(k)
			c, err := f.coerce(t.Name, v)
			if err != nil {
				return nil, err
			}
			out[f.Name] = c
		}
		return out, nil
	}
	if partial {
		return nil, fmt.Errorf("UPDATE %s needs an object of values (WITH ... END WITH)", t.Name)
	}
	if len(args) > len(t.Fields) {
		return nil, fmt.Errorf("table %s has %d fields, %d values given", t.Name, len(t.Fields), len(args))
	}
	for i, v := range args {
		c, err := t.Fields[i].coerce(t.Name, v)
		if err != nil {
			return nil, err
		}
		out[t.Fields[i].Name] = c
	}
	return out, nil
}

func (t *Table) Value(r store.Row) vm.Value {
	o := vm.NewObject()
	o.Object().Set("id", vm.Num(float64(r.ID)))
	for _, f := range t.Fields {
		o.Object().Set(f.Name, vm.FromGo(r.Data[f.Name]))
	}
	return o
}

func (h *Host) tables(ctx context.Context, c *vm.Call) (vm.Value, error) {
	if h.Store == nil {
		return vm.Null, errors.New("bot tables are not available")
	}
	name := strings.ToLower(strings.TrimSpace(c.Args[0].String()))
	if strings.Contains(name, ".") {
		return vm.Null, fmt.Errorf("%s to a file (%s) needs botdrive, which is not available", c.Keyword, name)
	}
	t, ok := h.Turn.Tables[name]
	if !ok {
		return vm.Null, fmt.Errorf("no table %q: declare it with TABLE %s ... END TABLE (in tables.bas)", name, name)
	}
	arg := func(i int) string {
		if i < len(c.Args) {
			return c.Args[i].String()
		}
		return ""
	}
	tu := h.Turn
	switch c.Keyword {
	case "SAVE", "INSERT":
		rec, err := t.record(c.Args[1:], false)
		if err != nil {
			return vm.Null, err
		}
		id, err := h.Store.InsertRow(ctx, tu.Org, tu.Bot, t.Name, rec)
		return vm.Num(float64(id)), err
	case "FIND", "FIND ALL":
		conds, err := t.Filter(arg(1))
		if err != nil {
			return vm.Null, err
		}
		limit := store.MaxRows
		if c.Keyword == "FIND" {
			limit = 1
		}
		rows, err := h.Store.FindRows(ctx, tu.Org, tu.Bot, t.Name, conds, limit)
		if err != nil {
			return vm.Null, err
		}
		if c.Keyword == "FIND" {
			if len(rows) == 0 {
				return vm.Null, nil
			}
			return t.Value(rows[0]), nil
		}
		items := make([]vm.Value, len(rows))
		for i, r := range rows {
			items[i] = t.Value(r)
		}
		return vm.NewArray(items...), nil
	case "UPDATE":
		conds, err := t.Filter(arg(1))
		if err != nil {
			return vm.Null, err
		}
		rec, err := t.record(c.Args[2:], true)
		if err != nil {
			return vm.Null, err
		}
		n, err := h.Store.UpdateRows(ctx, tu.Org, tu.Bot, t.Name, conds, rec)
		return vm.Num(float64(n)), err
	case "DELETE":
		conds, err := t.Filter(arg(1))
		if err != nil {
			return vm.Null, err
		}
		n, err := h.Store.DeleteRows(ctx, tu.Org, tu.Bot, t.Name, conds)
		return vm.Num(float64(n)), err
	}
	return vm.Null, fmt.Errorf("%s is not a table keyword", c.Keyword)
}
