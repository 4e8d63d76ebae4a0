// Package bots reads bot packages (<bot>.gbai folders) from storage and
// compiles them: config.csv, PROMPT.md and every .bas of <bot>.gbdialog.
// It knows nothing of databases or RPCs; the service stores what it returns.
package bots

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/botserver-go/botserver-go/botauto/basic/compiler"
	"github.com/botserver-go/botserver-go/botauto/basic/syntax"
	"github.com/botserver-go/botserver-go/botauto/basic/tools"
	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

// NamePattern is a bot's name: a slug, also its package folder <name>.gbai.
var NamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidName reports whether s is a bot name.
func ValidName(s string) bool { return NamePattern.MatchString(s) }

// ErrNotFound is returned for a bot that storage does not have.
var ErrNotFound = errors.New("bot package not found")

// Limits on what a package may hold, so a hostile package cannot exhaust
// memory in the loader.
const (
	MaxScripts     = 500
	MaxScriptBytes = 1 << 20
	MaxConfigBytes = 256 << 10
	MaxPromptBytes = 256 << 10
)

// Source is where packages come from: a local folder or botdrive.
type Source interface {
	// Bots lists the bot names the org has packages for.
	Bots(ctx context.Context, org string) ([]string, error)
	// Files returns the files botauto needs from one package, keyed by path
	// relative to the package root ("<bot>.gbdialog/start.bas",
	// "<bot>.gbot/config.csv", "<bot>.gbot/PROMPT.md"). ErrNotFound when the
	// bot has no package.
	Files(ctx context.Context, org, bot string) (map[string][]byte, error)
}

// Relevant reports whether a path inside a package (relative to its root)
// is one botauto reads, so change events for other files can be ignored.
func Relevant(bot, p string) bool {
	dir, file := path.Split(p)
	switch dir {
	case bot + ".gbdialog/":
		return strings.HasSuffix(strings.ToLower(file), ".bas")
	case bot + ".gbot/":
		return file == "config.csv" || file == "PROMPT.md"
	}
	return false
}

// Diagnostic is a problem in one file of a package.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (d Diagnostic) String() string {
	if d.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Column, d.Message)
	}
	return d.File + ": " + d.Message
}

// Script is one .bas of a package: its source and, when it compiled, its
// program.
type Script struct {
	Name    string // file name without directories, e.g. "start.bas"
	Source  string
	Program *vm.Program // nil when the source does not compile
	Tool    *tools.Tool // set for scripts with PARAM/DESCRIPTION
}

// Package is a compiled bot package.
type Package struct {
	Bot         string
	Version     string // hash of every file botauto reads
	Config      map[string]string
	Prompt      string
	Scripts     map[string]*Script
	Diagnostics []Diagnostic
}

// Read loads and compiles a package from a source.
func Read(ctx context.Context, src Source, org, bot string) (*Package, error) {
	if !ValidName(bot) {
		return nil, fmt.Errorf("bot name %q: use lower-case letters, digits and -", bot)
	}
	files, err := src.Files(ctx, org, bot)
	if err != nil {
		return nil, err
	}
	return Build(bot, files)
}

// Build compiles a package from its files (paths relative to the package
// root). Scripts that do not compile are kept with their diagnostics and no
// program; the caller decides whether an older version stays live.
func Build(bot string, files map[string][]byte) (*Package, error) {
	p := &Package{Bot: bot, Config: map[string]string{}, Scripts: map[string]*Script{}}
	scripts := 0
	for _, name := range relevant(bot, files) {
		data := files[name]
		file := path.Base(name)
		switch {
		case file == "config.csv":
			if len(data) > MaxConfigBytes {
				p.Diagnostics = append(p.Diagnostics, Diagnostic{File: name, Message: fmt.Sprintf("larger than %d bytes; ignored", MaxConfigBytes)})
				continue
			}
			var diags []Diagnostic
			p.Config, diags = ParseConfig(name, data)
			p.Diagnostics = append(p.Diagnostics, diags...)
		case file == "PROMPT.md":
			if len(data) > MaxPromptBytes {
				p.Diagnostics = append(p.Diagnostics, Diagnostic{File: name, Message: fmt.Sprintf("larger than %d bytes; ignored", MaxPromptBytes)})
				continue
			}
			p.Prompt = string(data)
		default:
			scripts++
			if scripts > MaxScripts {
				return nil, fmt.Errorf("package %s has more than %d scripts", bot, MaxScripts)
			}
			if len(data) > MaxScriptBytes {
				p.Diagnostics = append(p.Diagnostics, Diagnostic{File: name, Message: fmt.Sprintf("larger than %d bytes; not compiled", MaxScriptBytes)})
				p.Scripts[strings.ToLower(file)] = &Script{Name: strings.ToLower(file)}
				continue
			}
			p.Scripts[strings.ToLower(file)] = compile(name, strings.ToLower(file), string(data), &p.Diagnostics)
		}
	}
	p.Version = Version(bot, files)
	return p, nil
}

func relevant(bot string, files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		if Relevant(bot, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// Version is the hash of the files botauto reads from a package: equal
// versions need no recompilation.
func Version(bot string, files map[string][]byte) string {
	h := sha256.New()
	for _, name := range relevant(bot, files) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(files[name]))
		h.Write(files[name])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Compile compiles one script source; diagnostics name the file.
func Compile(name, src string) (*Script, []Diagnostic) {
	var diags []Diagnostic
	s := compile(name, strings.ToLower(path.Base(name)), src, &diags)
	return s, diags
}

func compile(file, name, src string, diags *[]Diagnostic) *Script {
	s := &Script{Name: name, Source: src}
	prog, ds := compiler.Compile(name, src)
	for _, d := range ds {
		*diags = append(*diags, fromSyntax(file, d))
	}
	if prog == nil || hasErrors(ds) {
		return s
	}
	s.Program = prog
	if t, ok := tools.FromProgram(prog); ok {
		s.Tool = t
	}
	return s
}

func hasErrors(ds []syntax.Diagnostic) bool { return len(ds) > 0 }

func fromSyntax(file string, d syntax.Diagnostic) Diagnostic {
	return Diagnostic{File: file, Line: d.Pos.Line, Column: d.Pos.Col, Message: d.Msg}
}

// Tools returns the package's tools by name, in name order.
func (p *Package) Tools() []*tools.Tool {
	var out []*tools.Tool
	for _, s := range p.Scripts {
		if s.Tool != nil {
			out = append(out, s.Tool)
		}
	}
	slices.SortFunc(out, func(a, b *tools.Tool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Triggers returns the SET SCHEDULE / ON ... declarations of compiled scripts.
func (p *Package) Triggers() map[string][]vm.Trigger {
	out := map[string][]vm.Trigger{}
	for name, s := range p.Scripts {
		if s.Program != nil && len(s.Program.Triggers) > 0 {
			out[name] = s.Program.Triggers
		}
	}
	return out
}

// ParseConfig reads config.csv: two columns name,value; '#' comments; an
// optional "name,value" header; names are case-insensitive (stored lower).
func ParseConfig(file string, data []byte) (map[string]string, []Diagnostic) {
	out := map[string]string{}
	var diags []Diagnostic
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			diags = append(diags, Diagnostic{File: file, Line: line, Column: 1, Message: err.Error()})
			break
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) < 2 {
			diags = append(diags, Diagnostic{File: file, Line: line, Column: 1, Message: "expected name,value"})
			continue
		}
		name := strings.ToLower(strings.TrimSpace(rec[0]))
		value := strings.TrimSpace(strings.Join(rec[1:], ","))
		if name == "name" && strings.EqualFold(value, "value") {
			continue
		}
		if name == "" {
			diags = append(diags, Diagnostic{File: file, Line: line, Column: 1, Message: "empty name"})
			continue
		}
		out[name] = value
	}
	return out, diags
}

// Secret reports whether a config key holds a secret that is never returned
// to users (keys, passwords, tokens).
func Secret(key string) bool {
	for _, s := range []string{"-key", "-pass", "-password", "-token", "-secret"} {
		if strings.HasSuffix(key, s) {
			return true
		}
	}
	return false
}

// Vars returns the param-* config keys as script variables
// (param-max-items → max_items).
func (p *Package) Vars() map[string]vm.Value {
	out := map[string]vm.Value{}
	for k, v := range p.Config {
		if name, ok := strings.CutPrefix(k, "param-"); ok && name != "" {
			out[strings.ReplaceAll(name, "-", "_")] = vm.Str(v)
		}
	}
	return out
}
