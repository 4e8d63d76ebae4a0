package vm

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Dates are text: "2006-01-02" for dates and "2006-01-02 15:04:05" for
// date-times. Text survives state serialisation and TALK without conversions.
const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02 15:04:05"
)

var dateLayouts = []string{dateTimeLayout, dateLayout, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04", "02/01/2006", "02/01/2006 15:04", "02/01/2006 15:04:05"}

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

type builtin struct {
	name     string
	min, max int // arguments; max < 0: any number
	fn       func(m *Machine, a []Value) (Value, error)
}

// builtins is append-only: compiled programs refer to entries by index (the
// program version hash includes the compiler version, so a reorder is safe
// but pointless).
var builtins []builtin

var builtinIndex = map[string]int{}

// LookupBuiltin finds a built-in function by name (any case) and returns its
// index and argument bounds (max < 0: any number).
func LookupBuiltin(name string) (idx, min, max int, ok bool) {
	i, ok := builtinIndex[strings.ToUpper(name)]
	if !ok {
		return 0, 0, 0, false
	}
	b := builtins[i]
	return i, b.min, b.max, true
}

// BuiltinNames lists the built-in functions (for docs and editors).
func BuiltinNames() []string {
	out := make([]string, len(builtins))
	for i, b := range builtins {
		out[i] = b.name
	}
	return out
}

func def(name string, min, max int, fn func(m *Machine, a []Value) (Value, error)) {
	builtinIndex[name] = len(builtins)
	builtins = append(builtins, builtin{name, min, max, fn})
}

func num(v Value, what string) (float64, error) {
	f, ok := v.Number()
	if !ok || v.k == ArrayKind || v.k == ObjectKind {
		return 0, fmt.Errorf("%s must be a number, found %s", what, describe(v))
	}
	return f, nil
}

func intArg(v Value, what string) (int, error) {
	f, err := num(v, what)
	if err != nil {
		return 0, err
	}
	if f > 1e9 || f < -1e9 {
		return 0, fmt.Errorf("%s is too large", what)
	}
	return int(f), nil
}

func (m *Machine) str(s string) (Value, error) {
	if err := m.alloc(int64(len(s))); err != nil {
		return Null, err
	}
	return Str(s), nil
}

func (m *Machine) arr(items []Value) (Value, error) {
	if err := m.alloc(int64(24 + 16*len(items))); err != nil {
		return Null, err
	}
	return NewArray(items...), nil
}

func (m *Machine) date(v Value) (time.Time, error) {
	t, ok := parseDate(v.String())
	if !ok {
		return t, fmt.Errorf("expected a date, found %s", describe(v))
	}
	return t, nil
}

func hasTime(v Value) bool { return len(strings.TrimSpace(v.String())) > 10 }

func init() {
	// ---- strings ----
	def("LEN", 1, 1, func(m *Machine, a []Value) (Value, error) {
		switch a[0].k {
		case ArrayKind:
			return Num(float64(len(a[0].a.Items))), nil
		case ObjectKind:
			return Num(float64(a[0].o.Len())), nil
		case NullKind:
			return Num(0), nil
		}
		return Num(float64(len([]rune(a[0].String())))), nil
	})
	def("LEFT", 2, 2, func(m *Machine, a []Value) (Value, error) {
		n, err := intArg(a[1], "the length")
		r := []rune(a[0].String())
		n = max(0, min(n, len(r)))
		return Str(string(r[:n])), err
	})
	def("RIGHT", 2, 2, func(m *Machine, a []Value) (Value, error) {
		n, err := intArg(a[1], "the length")
		r := []rune(a[0].String())
		n = max(0, min(n, len(r)))
		return Str(string(r[len(r)-n:])), err
	})
	def("MID", 2, 3, func(m *Machine, a []Value) (Value, error) {
		r := []rune(a[0].String())
		start, err := intArg(a[1], "the start")
		if err != nil {
			return Null, err
		}
		start = max(start, 1) - 1 // 1-based as in classic BASIC
		if start > len(r) {
			return Str(""), nil
		}
		end := len(r)
		if len(a) == 3 {
			n, err := intArg(a[2], "the length")
			if err != nil {
				return Null, err
			}
			end = min(len(r), start+max(n, 0))
		}
		return Str(string(r[start:end])), nil
	})
	def("INSTR", 2, 3, func(m *Machine, a []Value) (Value, error) {
		// INSTR(text, find) or INSTR(start, text, find); 1-based, 0 when absent
		start := 1
		if len(a) == 3 {
			var err error
			if start, err = intArg(a[0], "the start"); err != nil {
				return Null, err
			}
			a = a[1:]
		}
		r := []rune(a[0].String())
		if start < 1 || start > len(r)+1 {
			return Num(0), nil
		}
		i := strings.Index(string(r[start-1:]), a[1].String())
		if i < 0 {
			return Num(0), nil
		}
		return Num(float64(start + len([]rune(string(r[start-1:])[:i])))), nil
	})
	def("REPLACE", 3, 3, func(m *Machine, a []Value) (Value, error) {
		if a[1].String() == "" {
			return Str(a[0].String()), nil
		}
		return m.str(strings.ReplaceAll(a[0].String(), a[1].String(), a[2].String()))
	})
	def("TRIM", 1, 1, func(m *Machine, a []Value) (Value, error) { return Str(strings.TrimSpace(a[0].String())), nil })
	def("LTRIM", 1, 1, func(m *Machine, a []Value) (Value, error) {
		return Str(strings.TrimLeftFunc(a[0].String(), unicode.IsSpace)), nil
	})
	def("RTRIM", 1, 1, func(m *Machine, a []Value) (Value, error) {
		return Str(strings.TrimRightFunc(a[0].String(), unicode.IsSpace)), nil
	})
	def("UCASE", 1, 1, func(m *Machine, a []Value) (Value, error) { return m.str(strings.ToUpper(a[0].String())) })
	def("LCASE", 1, 1, func(m *Machine, a []Value) (Value, error) { return m.str(strings.ToLower(a[0].String())) })
	def("SPLIT", 1, 2, func(m *Machine, a []Value) (Value, error) {
		s := a[0].String()
		var parts []string
		if len(a) == 1 {
			parts = strings.Fields(s)
		} else if s != "" {
			parts = strings.Split(s, a[1].String())
		}
		items := make([]Value, len(parts))
		for i, p := range parts {
			items[i] = Str(p)
		}
		if err := m.alloc(int64(len(s))); err != nil {
			return Null, err
		}
		return m.arr(items)
	})
	def("JOIN", 1, 2, func(m *Machine, a []Value) (Value, error) {
		if a[0].k != ArrayKind {
			return Str(a[0].String()), nil
		}
		sep := " "
		if len(a) == 2 {
			sep = a[1].String()
		}
		parts := make([]string, len(a[0].a.Items))
		for i, x := range a[0].a.Items {
			parts[i] = x.String()
		}
		return m.str(strings.Join(parts, sep))
	})
	def("STR", 1, 1, func(m *Machine, a []Value) (Value, error) { return m.str(a[0].String()) })
	def("VAL", 1, 1, func(m *Machine, a []Value) (Value, error) {
		// the longest numeric prefix, as classic VAL: VAL("12abc") = 12
		s := strings.TrimSpace(a[0].String())
		for end := len(s); end > 0; end-- {
			if f, err := strconv.ParseFloat(s[:end], 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return Num(f), nil
			}
		}
		return Num(0), nil
	})
	def("FORMAT", 1, 2, func(m *Machine, a []Value) (Value, error) {
		pattern := ""
		if len(a) == 2 {
			pattern = a[1].String()
		}
		if a[0].k == NumberKind {
			return m.str(formatNumber(a[0].n, pattern))
		}
		if t, ok := parseDate(a[0].String()); ok {
			if pattern == "" {
				pattern = "yyyy-MM-dd"
			}
			return m.str(t.Format(dateFormat(pattern)))
		}
		if f, ok := a[0].Number(); ok && a[0].k == StringKind {
			return m.str(formatNumber(f, pattern))
		}
		return m.str(a[0].String())
	})
	def("FIRST", 1, 1, func(m *Machine, a []Value) (Value, error) {
		if a[0].k == ArrayKind {
			if len(a[0].a.Items) == 0 {
				return Null, nil
			}
			return a[0].a.Items[0], nil
		}
		w := strings.Fields(a[0].String())
		if len(w) == 0 {
			return Str(""), nil
		}
		return Str(w[0]), nil
	})
	def("LAST", 1, 1, func(m *Machine, a []Value) (Value, error) {
		if a[0].k == ArrayKind {
			if len(a[0].a.Items) == 0 {
				return Null, nil
			}
			return a[0].a.Items[len(a[0].a.Items)-1], nil
		}
		w := strings.Fields(a[0].String())
		if len(w) == 0 {
			return Str(""), nil
		}
		return Str(w[len(w)-1]), nil
	})

	// ---- math ----
	math1 := func(name string, f func(float64) (float64, error)) {
		def(name, 1, 1, func(m *Machine, a []Value) (Value, error) {
			x, err := num(a[0], "the value")
			if err != nil {
				return Null, err
			}
			r, err := f(x)
			return Num(r), err
		})
	}
	math1("ABS", func(x float64) (float64, error) { return math.Abs(x), nil })
	math1("INT", func(x float64) (float64, error) { return math.Floor(x), nil })
	math1("SQR", func(x float64) (float64, error) {
		if x < 0 {
			return 0, errors.New("square root of a negative number")
		}
		return math.Sqrt(x), nil
	})
	def("ROUND", 1, 2, func(m *Machine, a []Value) (Value, error) {
		x, err := num(a[0], "the value")
		if err != nil {
			return Null, err
		}
		d := 0
		if len(a) == 2 {
			if d, err = intArg(a[1], "the digits"); err != nil {
				return Null, err
			}
		}
		p := math.Pow(10, float64(max(min(d, 15), -15)))
		return Num(math.Round(x*p) / p), nil
	})
	def("POW", 2, 2, func(m *Machine, a []Value) (Value, error) {
		x, err1 := num(a[0], "the base")
		y, err2 := num(a[1], "the exponent")
		return Num(math.Pow(x, y)), errors.Join(err1, err2)
	})
	def("MOD", 2, 2, func(m *Machine, a []Value) (Value, error) { return m.binary(OpMod, a[0], a[1]) })
	minmax := func(name string, less bool) {
		def(name, 1, -1, func(m *Machine, a []Value) (Value, error) {
			if len(a) == 1 && a[0].k == ArrayKind {
				a = a[0].a.Items
			}
			if len(a) == 0 {
				return Null, nil
			}
			best := a[0]
			for _, x := range a[1:] {
				c, err := compare(x, best)
				if err != nil {
					return Null, err
				}
				if less && c < 0 || !less && c > 0 {
					best = x
				}
			}
			return best, nil
		})
	}
	minmax("MIN", true)
	minmax("MAX", false)
	def("RND", 0, 0, func(m *Machine, a []Value) (Value, error) { return Num(m.opts.Rand()), nil })
	def("RANDOM", 0, 2, func(m *Machine, a []Value) (Value, error) {
		// RANDOM() is RND(); RANDOM(hi) is 0..hi; RANDOM(lo, hi) a whole number in lo..hi
		if len(a) == 0 {
			return Num(m.opts.Rand()), nil
		}
		lo, hi := 0.0, 0.0
		var err error
		if len(a) == 1 {
			hi, err = num(a[0], "the upper bound")
		} else {
			lo, err = num(a[0], "the lower bound")
			if err == nil {
				hi, err = num(a[1], "the upper bound")
			}
		}
		if err != nil {
			return Null, err
		}
		lo, hi = math.Ceil(min(lo, hi)), math.Floor(max(lo, hi))
		return Num(lo + math.Floor(m.opts.Rand()*(hi-lo+1))), nil
	})

	// ---- dates ----
	def("NOW", 0, 0, func(m *Machine, a []Value) (Value, error) { return Str(m.opts.Now().Format(dateTimeLayout)), nil })
	def("TODAY", 0, 0, func(m *Machine, a []Value) (Value, error) { return Str(m.opts.Now().Format(dateLayout)), nil })
	part := func(name string, f func(t time.Time) int) {
		def(name, 1, 1, func(m *Machine, a []Value) (Value, error) {
			t, err := m.date(a[0])
			return Num(float64(f(t))), err
		})
	}
	part("YEAR", func(t time.Time) int { return t.Year() })
	part("MONTH", func(t time.Time) int { return int(t.Month()) })
	part("DAY", func(t time.Time) int { return t.Day() })
	part("HOUR", func(t time.Time) int { return t.Hour() })
	part("MINUTE", func(t time.Time) int { return t.Minute() })
	part("WEEKDAY", func(t time.Time) int { return int(t.Weekday()) + 1 }) // 1 = Sunday, as classic BASIC
	def("DATEADD", 3, 3, func(m *Machine, a []Value) (Value, error) {
		// DATEADD(date, n, unit) or the classic DATEADD(unit, n, date)
		d, n, u := a[0], a[1], a[2]
		if _, ok := unitOf(a[0].String()); ok {
			d, u = a[2], a[0]
		}
		t, err := m.date(d)
		if err != nil {
			return Null, err
		}
		k, err := intArg(n, "the amount")
		if err != nil {
			return Null, err
		}
		unit, ok := unitOf(u.String())
		if !ok {
			return Null, fmt.Errorf("unknown unit %q (use day, month, year, hour, minute, second, week)", u.String())
		}
		switch unit {
		case "year":
			t = t.AddDate(k, 0, 0)
		case "month":
			t = t.AddDate(0, k, 0)
		case "week":
			t = t.AddDate(0, 0, 7*k)
		case "day":
			t = t.AddDate(0, 0, k)
		case "hour":
			t = t.Add(time.Duration(k) * time.Hour)
		case "minute":
			t = t.Add(time.Duration(k) * time.Minute)
		case "second":
			t = t.Add(time.Duration(k) * time.Second)
		}
		if hasTime(d) || unit == "hour" || unit == "minute" || unit == "second" {
			return Str(t.Format(dateTimeLayout)), nil
		}
		return Str(t.Format(dateLayout)), nil
	})
	def("DATEDIFF", 2, 3, func(m *Machine, a []Value) (Value, error) {
		// DATEDIFF(d1, d2[, unit]) or DATEDIFF(unit, d1, d2): d2 - d1 in whole units (days by default)
		unit := "day"
		if len(a) == 3 {
			if u, ok := unitOf(a[0].String()); ok {
				unit, a = u, a[1:]
			} else if u, ok := unitOf(a[2].String()); ok {
				unit = u
			} else {
				return Null, fmt.Errorf("unknown unit %q", a[2].String())
			}
		}
		t1, err := m.date(a[0])
		if err != nil {
			return Null, err
		}
		t2, err := m.date(a[1])
		if err != nil {
			return Null, err
		}
		d := t2.Sub(t1)
		var r float64
		switch unit {
		case "year":
			r = float64(t2.Year() - t1.Year())
		case "month":
			r = float64((t2.Year()-t1.Year())*12 + int(t2.Month()) - int(t1.Month()))
		case "week":
			r = math.Trunc(d.Hours() / 24 / 7)
		case "day":
			r = math.Trunc(d.Hours() / 24)
		case "hour":
			r = math.Trunc(d.Hours())
		case "minute":
			r = math.Trunc(d.Minutes())
		case "second":
			r = math.Trunc(d.Seconds())
		}
		return Num(r), nil
	})

	// ---- arrays ----
	def("PUSH", 2, -1, func(m *Machine, a []Value) (Value, error) {
		// PUSH(list, x...) appends in place and returns the list; PUSH on an
		// unset variable returns a new list, so `a = PUSH(a, x)` always works.
		list := a[0]
		switch list.k {
		case NullKind:
			list = NewArray()
		case ArrayKind:
		default:
			return Null, fmt.Errorf("expected an array, found %s", describe(list))
		}
		if err := m.alloc(int64(16 * (len(a) - 1))); err != nil {
			return Null, err
		}
		list.a.Items = append(list.a.Items, a[1:]...)
		return list, nil
	})
	def("POP", 1, 1, func(m *Machine, a []Value) (Value, error) {
		if a[0].k != ArrayKind || len(a[0].a.Items) == 0 {
			return Null, nil
		}
		it := a[0].a.Items
		v := it[len(it)-1]
		a[0].a.Items = it[:len(it)-1]
		return v, nil
	})
	def("SORT", 1, 2, func(m *Machine, a []Value) (Value, error) {
		if a[0].k != ArrayKind {
			return Null, fmt.Errorf("expected an array, found %s", describe(a[0]))
		}
		items := append([]Value(nil), a[0].a.Items...)
		desc := len(a) == 2 && strings.EqualFold(a[1].String(), "desc")
		var err error
		sort.SliceStable(items, func(i, j int) bool {
			c, e := compare(items[i], items[j])
			if e != nil {
				err = e
			}
			if desc {
				return c > 0
			}
			return c < 0
		})
		if err != nil {
			return Null, err
		}
		return m.arr(items)
	})
	def("UNIQUE", 1, 1, func(m *Machine, a []Value) (Value, error) {
		if a[0].k != ArrayKind {
			return Null, fmt.Errorf("expected an array, found %s", describe(a[0]))
		}
		var out []Value
	next:
		for _, x := range a[0].a.Items {
			for _, y := range out {
				if equal(x, y) {
					continue next
				}
			}
			out = append(out, x)
		}
		return m.arr(out)
	})
	def("CONTAINS", 2, 2, func(m *Machine, a []Value) (Value, error) {
		r, err := contains(a[0], a[1])
		return Bool(r), err
	})
	def("INDEX_OF", 2, 2, func(m *Machine, a []Value) (Value, error) {
		// 0-based like arrays; -1 when absent
		switch a[0].k {
		case ArrayKind:
			for i, x := range a[0].a.Items {
				if equal(x, a[1]) {
					return Num(float64(i)), nil
				}
			}
			return Num(-1), nil
		case StringKind:
			i := strings.Index(a[0].s, a[1].String())
			if i < 0 {
				return Num(-1), nil
			}
			return Num(float64(len([]rune(a[0].s[:i])))), nil
		}
		return Num(-1), nil
	})
	def("SLICE", 2, 3, func(m *Machine, a []Value) (Value, error) {
		// SLICE(x, start[, end]): end excluded; negative counts from the end
		var n int
		var runes []rune
		switch a[0].k {
		case ArrayKind:
			n = len(a[0].a.Items)
		default:
			runes = []rune(a[0].String())
			n = len(runes)
		}
		bound := func(v Value) (int, error) {
			i, err := intArg(v, "the position")
			if i < 0 {
				i += n
			}
			return max(0, min(i, n)), err
		}
		s, err := bound(a[1])
		if err != nil {
			return Null, err
		}
		e := n
		if len(a) == 3 {
			if e, err = bound(a[2]); err != nil {
				return Null, err
			}
		}
		e = max(e, s)
		if a[0].k == ArrayKind {
			return m.arr(append([]Value(nil), a[0].a.Items[s:e]...))
		}
		return Str(string(runes[s:e])), nil
	})
	def("UBOUND", 1, 1, func(m *Machine, a []Value) (Value, error) {
		if a[0].k != ArrayKind {
			return Num(-1), nil
		}
		return Num(float64(len(a[0].a.Items) - 1)), nil
	})
	def("LBOUND", 1, 1, func(m *Machine, a []Value) (Value, error) { return Num(0), nil })

	// ---- checks ----
	def("ISNULL", 1, 1, func(m *Machine, a []Value) (Value, error) { return Bool(a[0].k == NullKind), nil })
	def("ISEMPTY", 1, 1, func(m *Machine, a []Value) (Value, error) {
		switch a[0].k {
		case NullKind:
			return Bool(true), nil
		case StringKind:
			return Bool(strings.TrimSpace(a[0].s) == ""), nil
		case ArrayKind:
			return Bool(len(a[0].a.Items) == 0), nil
		case ObjectKind:
			return Bool(a[0].o.Len() == 0), nil
		}
		return Bool(false), nil
	})
	def("ISNUMERIC", 1, 1, func(m *Machine, a []Value) (Value, error) {
		if a[0].k == NumberKind {
			return Bool(true), nil
		}
		if a[0].k != StringKind || strings.TrimSpace(a[0].s) == "" {
			return Bool(false), nil
		}
		_, ok := a[0].Number()
		return Bool(ok), nil
	})
	def("ISDATE", 1, 1, func(m *Machine, a []Value) (Value, error) {
		_, ok := parseDate(a[0].String())
		return Bool(ok && a[0].k == StringKind), nil
	})
	def("TYPEOF", 1, 1, func(m *Machine, a []Value) (Value, error) { return Str(a[0].k.String()), nil })
	def("IIF", 3, 3, func(m *Machine, a []Value) (Value, error) {
		if a[0].Truthy() {
			return a[1], nil
		}
		return a[2], nil
	})
	def("NVL", 2, 2, func(m *Machine, a []Value) (Value, error) {
		if a[0].k == NullKind {
			return a[1], nil
		}
		return a[0], nil
	})

	// ---- JSON ----
	def("TOJSON", 1, 1, func(m *Machine, a []Value) (Value, error) {
		if a[0].k == StringKind || a[0].k == NumberKind || a[0].k == BoolKind || a[0].k == NullKind {
			return m.str(jsonScalar(a[0]))
		}
		return m.str(a[0].String())
	})
	def("FROMJSON", 1, 1, func(m *Machine, a []Value) (Value, error) {
		s := a[0].String()
		if err := m.alloc(int64(len(s)) * 4); err != nil {
			return Null, err
		}
		v, err := ParseJSON(s)
		if err != nil {
			return Null, fmt.Errorf("not valid JSON: %v", err)
		}
		return v, nil
	})
}

func jsonScalar(v Value) string {
	switch v.k {
	case StringKind:
		return strconv.Quote(v.s) // Go quoting equals JSON for valid UTF-8 text
	case NullKind:
		return "null"
	}
	return v.String()
}

func unitOf(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "d", "day", "days":
		return "day", true
	case "m", "month", "months":
		return "month", true
	case "y", "yyyy", "year", "years":
		return "year", true
	case "h", "hour", "hours":
		return "hour", true
	case "n", "mi", "minute", "minutes":
		return "minute", true
	case "s", "second", "seconds":
		return "second", true
	case "w", "ww", "week", "weeks":
		return "week", true
	}
	return "", false
}

// formatNumber applies a pattern like "0", "0.00", "#,##0.00" or "0%".
func formatNumber(f float64, pattern string) string {
	if pattern == "" {
		return FormatNumber(f)
	}
	pct := strings.HasSuffix(pattern, "%")
	if pct {
		f *= 100
		pattern = strings.TrimSuffix(pattern, "%")
	}
	dec := 0
	if i := strings.IndexByte(pattern, '.'); i >= 0 {
		dec = len(strings.TrimLeft(pattern[i+1:], "")) // count of 0/# after the point
	}
	s := strconv.FormatFloat(math.Abs(f), 'f', dec, 64)
	if strings.Contains(pattern, ",") {
		intPart, frac := s, ""
		if i := strings.IndexByte(s, '.'); i >= 0 {
			intPart, frac = s[:i], s[i:]
		}
		var b strings.Builder
		for i, c := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		s = b.String() + frac
	}
	if f < 0 && strings.Trim(s, "0.,") != "" {
		s = "-" + s
	}
	if pct {
		s += "%"
	}
	return s
}

// dateFormat turns yyyy-MM-dd HH:mm:ss style patterns into a Go layout.
func dateFormat(p string) string {
	return strings.NewReplacer("yyyy", "2006", "yy", "06", "MM", "01", "dd", "02", "HH", "15", "hh", "03", "mm", "04", "ss", "05", "tt", "PM").Replace(p)
}
