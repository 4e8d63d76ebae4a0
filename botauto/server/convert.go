package server

import (
	"encoding/json"
	"sort"

	"github.com/botserver-go/botserver-go/botauto/basic/tools"
	"github.com/botserver-go/botserver-go/botauto/bots"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

func toolProto(t *tools.Tool) *autov1.Tool {
	fn, _ := json.Marshal(t)
	// MarshalJSON wraps the function as {"type":"function","function":{...}};
	// callers want the function itself.
	var wrapped struct {
		Function json.RawMessage `json:"function"`
	}
	if json.Unmarshal(fn, &wrapped) == nil && wrapped.Function != nil {
		fn = wrapped.Function
	}
	return &autov1.Tool{Name: t.Name, Description: t.Description, FunctionJson: string(fn)}
}

func diagProtos(ds []bots.Diagnostic) []*autov1.Diagnostic {
	out := make([]*autov1.Diagnostic, len(ds))
	for i, d := range ds {
		out[i] = &autov1.Diagnostic{File: d.File, Line: int32(d.Line), Column: int32(d.Column), Message: d.Message}
	}
	return out
}

// botProto describes a live package; secrets only go to services.
func botProto(name string, l *live, withSecrets bool) *autov1.Bot {
	b := &autov1.Bot{Name: name, Version: l.version, Prompt: l.prompt, Config: map[string]string{}, Diagnostics: diagProtos(l.diags)}
	for k, v := range l.config {
		if bots.Secret(k) && !withSecrets {
			continue
		}
		b.Config[k] = v
	}
	for n, v := range l.scripts {
		b.Scripts = append(b.Scripts, &autov1.Script{Name: n, Version: v, Ok: l.ok[n]})
	}
	for n, ok := range l.ok {
		if _, live := l.scripts[n]; !live && !ok {
			b.Scripts = append(b.Scripts, &autov1.Script{Name: n, Ok: false})
		}
	}
	sort.Slice(b.Scripts, func(i, j int) bool { return b.Scripts[i].Name < b.Scripts[j].Name })
	for n, p := range l.programs {
		for _, tr := range p.Triggers {
			b.Triggers = append(b.Triggers, &autov1.Trigger{Script: n, Keyword: tr.Keyword, Args: tr.Args, Clauses: tr.Clauses, Line: int32(tr.Pos.Line)})
		}
	}
	sort.Slice(b.Triggers, func(i, j int) bool {
		x, y := b.Triggers[i], b.Triggers[j]
		return x.Script < y.Script || x.Script == y.Script && x.Line < y.Line
	})
	for n := range l.tools {
		b.Tools = append(b.Tools, n)
	}
	sort.Strings(b.Tools)
	return b
}
