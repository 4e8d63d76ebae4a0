package vm

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// Value kinds. Numbers are float64: integers are exact up to 2^53, which is
// what a bot script needs, and one numeric kind keeps arithmetic simple.
const (
	NullKind Kind = iota
	BoolKind
	NumberKind
	StringKind
	ArrayKind
	ObjectKind
)

func (k Kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// Value is a script value. Arrays and objects are references: assigning one
// to another variable shares it (as in JavaScript), and state serialisation
// preserves that sharing.
type Value struct {
	k Kind
	n float64
	s string
	a *Array
	o *Object
}

// Array is a 0-based list.
type Array struct{ Items []Value }

// Object is a map that keeps insertion order (for stable output and JSON).
type Object struct {
	keys []string
	m    map[string]Value
}

// Null is the null value.
var Null = Value{}

// Num makes a number.
func Num(f float64) Value { return Value{k: NumberKind, n: f} }

// Str makes a string.
func Str(s string) Value { return Value{k: StringKind, s: s} }

// Bool makes a boolean.
func Bool(b bool) Value {
	if b {
		return Value{k: BoolKind, n: 1}
	}
	return Value{k: BoolKind}
}

// NewArray makes an array holding items (not copied).
func NewArray(items ...Value) Value { return Value{k: ArrayKind, a: &Array{Items: items}} }

// NewObject makes an empty object.
func NewObject() Value { return Value{k: ObjectKind, o: &Object{m: map[string]Value{}}} }

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.k }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.k == NullKind }

// Array returns the array of an array value, or nil.
func (v Value) Array() *Array { return v.a }

// Object returns the object of an object value, or nil.
func (v Value) Object() *Object { return v.o }

// Keys lists the object's keys in insertion order.
func (o *Object) Keys() []string { return o.keys }

// Len is the number of keys.
func (o *Object) Len() int { return len(o.keys) }

// Get reads a key; an exact match wins, then a case-insensitive one
// (script identifiers are case-insensitive, JSON keys are not).
func (o *Object) Get(k string) (Value, bool) {
	if v, ok := o.m[k]; ok {
		return v, true
	}
	for _, key := range o.keys {
		if strings.EqualFold(key, k) {
			return o.m[key], true
		}
	}
	return Null, false
}

// Set writes a key, updating a case-insensitively equal existing key.
func (o *Object) Set(k string, v Value) {
	if _, ok := o.m[k]; !ok {
		for _, key := range o.keys {
			if strings.EqualFold(key, k) {
				k = key
				break
			}
		}
	}
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

// Truthy is the value's meaning as a condition: false, null, 0, "" and empty
// arrays are false.
func (v Value) Truthy() bool {
	switch v.k {
	case BoolKind, NumberKind:
		return v.n != 0
	case StringKind:
		return v.s != ""
	case ArrayKind:
		return len(v.a.Items) > 0
	case ObjectKind:
		return true
	}
	return false
}

// Number converts to a number: numeric strings convert, null is 0.
func (v Value) Number() (float64, bool) {
	switch v.k {
	case NumberKind, BoolKind:
		return v.n, true
	case NullKind:
		return 0, true
	case StringKind:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
		return f, err == nil
	}
	return 0, false
}

// String is the text a TALK of the value shows. Whole numbers print without
// ".0", null prints as "", arrays and objects as JSON.
func (v Value) String() string {
	switch v.k {
	case NullKind:
		return ""
	case BoolKind:
		if v.n != 0 {
			return "true"
		}
		return "false"
	case NumberKind:
		return FormatNumber(v.n)
	case StringKind:
		return v.s
	}
	b, _ := json.Marshal(v.GoValue())
	return string(b)
}

// FormatNumber prints a number the way scripts show it: 15 significant
// digits (so 0.1+0.2 shows 0.3), no exponent, no trailing ".0".
func FormatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// GoValue converts to plain Go values (nil, bool, float64, string, []any,
// map[string]any) for JSON and hosts.
func (v Value) GoValue() any { return v.goValue(0) }

// maxDepth stops printing self-containing arrays (PUSH(a, a)) forever.
const maxDepth = 64

func (v Value) goValue(depth int) any {
	if depth > maxDepth {
		return "…"
	}
	switch v.k {
	case BoolKind:
		return v.n != 0
	case NumberKind:
		if math.IsNaN(v.n) || math.IsInf(v.n, 0) {
			return nil
		}
		return v.n
	case StringKind:
		return v.s
	case ArrayKind:
		out := make([]any, len(v.a.Items))
		for i, x := range v.a.Items {
			out[i] = x.goValue(depth + 1)
		}
		return out
	case ObjectKind:
		return orderedMap{v.o, depth}
	}
	return nil
}

// orderedMap marshals an Object with its keys in insertion order.
type orderedMap struct {
	o     *Object
	depth int
}

func (om orderedMap) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range om.o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(om.o.m[k].goValue(om.depth + 1))
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// FromGo converts plain Go values (as produced by encoding/json) to a Value.
// Map keys are sorted because Go maps have no order.
func FromGo(x any) Value {
	switch t := x.(type) {
	case nil:
		return Null
	case Value:
		return t
	case bool:
		return Bool(t)
	case float64:
		return Num(t)
	case float32:
		return Num(float64(t))
	case int:
		return Num(float64(t))
	case int64:
		return Num(float64(t))
	case int32:
		return Num(float64(t))
	case json.Number:
		f, _ := t.Float64()
		return Num(f)
	case string:
		return Str(t)
	case []string:
		items := make([]Value, len(t))
		for i, s := range t {
			items[i] = Str(s)
		}
		return NewArray(items...)
	case []any:
		items := make([]Value, len(t))
		for i, e := range t {
			items[i] = FromGo(e)
		}
		return NewArray(items...)
	case map[string]any:
		o := NewObject()
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			o.o.Set(k, FromGo(t[k]))
		}
		return o
	}
	return Str(fmt.Sprint(x))
}

// ParseJSON decodes JSON text into a Value, keeping object key order.
func ParseJSON(s string) (Value, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := decodeJSON(dec)
	if err != nil {
		return Null, err
	}
	if dec.More() {
		return Null, fmt.Errorf("extra data after the JSON value")
	}
	return v, nil
}

func decodeJSON(dec *json.Decoder) (Value, error) {
	t, err := dec.Token()
	if err != nil {
		return Null, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '[':
			var items []Value
			for dec.More() {
				v, err := decodeJSON(dec)
				if err != nil {
					return Null, err
				}
				items = append(items, v)
			}
			_, err := dec.Token()
			return NewArray(items...), err
		case '{':
			o := NewObject()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return Null, err
				}
				v, err := decodeJSON(dec)
				if err != nil {
					return Null, err
				}
				o.o.Set(kt.(string), v)
			}
			_, err := dec.Token()
			return o, err
		}
	}
	return FromGo(t), nil
}

// equal is script equality: numbers compare numerically, also against a
// numeric string (HEAR answers are text); other kinds compare by identity or text.
func equal(a, b Value) bool {
	if a.k == b.k {
		switch a.k {
		case NullKind:
			return true
		case BoolKind, NumberKind:
			return a.n == b.n
		case StringKind:
			return a.s == b.s
		case ArrayKind:
			return a.a == b.a
		case ObjectKind:
			return a.o == b.o
		}
	}
	if a.k == NullKind || b.k == NullKind {
		return false
	}
	if a.k == NumberKind && b.k == StringKind || a.k == StringKind && b.k == NumberKind {
		x, ok1 := a.Number()
		y, ok2 := b.Number()
		return ok1 && ok2 && x == y
	}
	return false
}

// compare orders two values: numbers numerically (numeric strings too),
// otherwise by text.
func compare(a, b Value) (int, error) {
	if a.k == NumberKind || b.k == NumberKind {
		x, ok1 := a.Number()
		y, ok2 := b.Number()
		if ok1 && ok2 {
			switch {
			case x < y:
				return -1, nil
			case x > y:
				return 1, nil
			}
			return 0, nil
		}
	}
	if a.k == ArrayKind || a.k == ObjectKind || b.k == ArrayKind || b.k == ObjectKind {
		return 0, fmt.Errorf("cannot compare %s with %s", a.k, b.k)
	}
	return strings.Compare(a.String(), b.String()), nil
}

// size approximates the bytes a value holds, for the memory budget.
func size(v Value) int64 { return sizeAt(v, 0) }

func sizeAt(v Value, depth int) int64 {
	if depth > maxDepth {
		return 0
	}
	switch v.k {
	case StringKind:
		return int64(len(v.s)) + 16
	case ArrayKind:
		n := int64(24)
		for _, x := range v.a.Items {
			n += 16 + sizeAt(x, depth+1)
		}
		return n
	case ObjectKind:
		n := int64(48)
		for _, k := range v.o.keys {
			n += int64(len(k)) + 32 + sizeAt(v.o.m[k], depth+1)
		}
		return n
	}
	return 16
}
