// Package tools derives an LLM tool definition from a compiled script's
// PARAM and DESCRIPTION lines: a JSON schema in the OpenAI function format,
// and the conversion of the LLM's JSON arguments into script variables.
package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/botserver-go/botserver-go/botauto/basic/syntax"
	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

// Tool is a script callable by the LLM.
type Tool struct {
	Name        string
	Description string
	Params      []*syntax.Param
}

// FromProgram returns the tool a program declares, or false when it has no
// PARAM or DESCRIPTION line (then it is not a tool). The name is the file
// name without directories and ".bas".
func FromProgram(p *vm.Program) (*Tool, bool) {
	if len(p.Params) == 0 && p.Description == "" {
		return nil, false
	}
	name := strings.TrimSuffix(path.Base(strings.ReplaceAll(p.Name, "\\", "/")), ".bas")
	return &Tool{Name: name, Description: p.Description, Params: p.Params}, true
}

// jsonType maps PARAM types to JSON schema types and formats.
func jsonType(t string) (typ, format string) {
	switch t {
	case "INTEGER":
		return "integer", ""
	case "NUMBER", "FLOAT", "MONEY":
		return "number", ""
	case "BOOLEAN":
		return "boolean", ""
	case "DATE":
		return "string", "date"
	case "EMAIL":
		return "string", "email"
	case "URL":
		return "string", "uri"
	case "UUID":
		return "string", "uuid"
	}
	return "string", ""
}

// MarshalJSON writes {"type":"function","function":{name, description,
// parameters}} with properties in PARAM order (Go maps would sort them).
func (t *Tool) MarshalJSON() ([]byte, error) {
	var props bytes.Buffer
	props.WriteByte('{')
	required := []string{}
	for i, p := range t.Params {
		typ, format := jsonType(p.Type)
		prop := struct {
			Type        string   `json:"type"`
			Format      string   `json:"format,omitempty"`
			Description string   `json:"description,omitempty"`
			Enum        []string `json:"enum,omitempty"`
			Examples    []any    `json:"examples,omitempty"`
		}{Type: typ, Format: format, Description: p.Description, Enum: p.Enum}
		switch l := p.Like.(type) {
		case *syntax.StringLit:
			prop.Examples = []any{l.Value}
		case *syntax.NumberLit:
			prop.Examples = []any{l.Value}
		case *syntax.BoolLit:
			prop.Examples = []any{l.Value}
		}
		if i > 0 {
			props.WriteByte(',')
		}
		k, _ := json.Marshal(p.Name)
		v, err := json.Marshal(prop)
		if err != nil {
			return nil, err
		}
		props.Write(k)
		props.WriteByte(':')
		props.Write(v)
		if !p.Optional {
			required = append(required, p.Name)
		}
	}
	props.WriteByte('}')
	return json.Marshal(map[string]any{
		"type": "function",
		"function": map[string]any{
			"name":        t.Name,
			"description": t.Description,
			"parameters": map[string]any{
				"type":       "object",
				"properties": json.RawMessage(props.Bytes()),
				"required":   required,
			},
		},
	})
}

// Args turns the LLM's JSON arguments into script variables (vm.Options.Vars),
// checking required parameters and basic types. Missing optional parameters
// are null.
func (t *Tool) Args(argsJSON []byte) (map[string]vm.Value, error) {
	obj := map[string]any{}
	if len(bytes.TrimSpace(argsJSON)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(argsJSON))
		if err := dec.Decode(&obj); err != nil {
			return nil, fmt.Errorf("tool %s: arguments are not a JSON object: %v", t.Name, err)
		}
	}
	vars := map[string]vm.Value{}
	for _, p := range t.Params {
		var raw any
		found := false
		for k, v := range obj {
			if strings.EqualFold(k, p.Name) {
				raw, found = v, true
			}
		}
		if !found || raw == nil {
			if !p.Optional {
				return nil, fmt.Errorf("tool %s: missing required argument %s", t.Name, p.Name)
			}
			vars[p.Name] = vm.Null
			continue
		}
		typ, _ := jsonType(p.Type)
		ok := true
		switch typ {
		case "integer":
			f, isNum := raw.(float64)
			ok = isNum && f == float64(int64(f))
		case "number":
			_, ok = raw.(float64)
		case "boolean":
			_, ok = raw.(bool)
		case "string":
			_, ok = raw.(string)
		}
		if !ok {
			return nil, fmt.Errorf("tool %s: argument %s must be %s", t.Name, p.Name, typ)
		}
		if len(p.Enum) > 0 {
			in := false
			for _, e := range p.Enum {
				in = in || e == raw
			}
			if !in {
				return nil, fmt.Errorf("tool %s: argument %s must be one of %s", t.Name, p.Name, strings.Join(p.Enum, ", "))
			}
		}
		vars[p.Name] = vm.FromGo(raw)
	}
	return vars, nil
}
