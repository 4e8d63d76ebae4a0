// Package config loads typed settings from the environment and an optional
// YAML file, validates them at start and documents them in one table.
//
// A settings struct declares each setting once with struct tags:
//
//	DatabaseURL string `env:"DATABASE_URL" desc:"Postgres connection URL"`
//
// Precedence, highest first: environment, YAML file (CONFIG_FILE), envDefault.
// The YAML file is a flat map whose keys are the setting names, in upper or
// lower case (DATABASE_URL or database_url).
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
	"go.yaml.in/yaml/v3"
)

// FileVar names the environment variable that points at the optional YAML file.
const FileVar = "CONFIG_FILE"

// Validator is implemented by settings structs that check themselves after loading.
type Validator interface{ Validate() error }

// Load fills each target (pointers to settings structs) from the YAML file
// named by CONFIG_FILE, if any, overlaid by the process environment.
func Load(targets ...any) error {
	return LoadFrom(os.Environ(), targets...)
}

// LoadFrom is Load with an explicit environment ("KEY=value" entries).
func LoadFrom(environ []string, targets ...any) error {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if path := vars[FileVar]; path != "" {
		fileVars, err := readFile(path)
		if err != nil {
			return err
		}
		for k, v := range fileVars {
			if _, set := vars[k]; !set {
				vars[k] = v
			}
		}
	}
	var errs []error
	for _, t := range targets {
		if err := env.ParseWithOptions(t, env.Options{Environment: vars}); err != nil {
			errs = append(errs, nameVariables(t, err)...)
			continue
		}
		if v, ok := t.(Validator); ok {
			if err := v.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// nameVariables rewrites parse errors to name the variable a user sets
// rather than the Go field behind it.
func nameVariables(target any, err error) []error {
	agg, ok := err.(env.AggregateError)
	if !ok {
		return []error{err}
	}
	fields := map[string]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				fields[f.Name] = name
			} else if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(target))
	out := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && fields[pe.Name] != "" {
			e = fmt.Errorf("%s: %w", fields[pe.Name], pe.Err)
		}
		out = append(out, e)
	}
	return out
}

func readFile(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FileVar, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s %s: not a flat YAML map of settings: %w", FileVar, path, err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch val := v.(type) {
		case map[string]any:
			return nil, fmt.Errorf("%s %s: setting %q must be a scalar or a list, not a map", FileVar, path, k)
		case []any:
			parts := make([]string, len(val))
			for i, p := range val {
				parts[i] = fmt.Sprint(p)
			}
			out[strings.ToUpper(k)] = strings.Join(parts, ",")
		case nil:
			out[strings.ToUpper(k)] = ""
		default:
			out[strings.ToUpper(k)] = fmt.Sprint(val)
		}
	}
	return out, nil
}

// Setting describes one documented setting.
type Setting struct {
	Name, Default, Description string
	Required                   bool
}

// Describe lists the settings a struct declares, in field order.
func Describe(target any) []Setting {
	var out []Setting
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
			if name == "" {
				if f.Type.Kind() == reflect.Struct || (f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct) {
					walk(f.Type, prefix+f.Tag.Get("envPrefix"))
				}
				continue
			}
			out = append(out, Setting{
				Name:        prefix + name,
				Default:     f.Tag.Get("envDefault"),
				Description: f.Tag.Get("desc"),
				Required:    strings.Contains(opts, "required"),
			})
		}
	}
	walk(reflect.TypeOf(target), "")
	return out
}

// Markdown renders settings as a Markdown table.
func Markdown(groups ...[]Setting) string {
	var b strings.Builder
	b.WriteString("| setting | default | description |\n|---|---|---|\n")
	seen := map[string]bool{}
	for _, g := range groups {
		for _, s := range g {
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			def := "`" + s.Default + "`"
			if s.Default == "" {
				def = ""
			}
			if s.Required {
				def = "**required**"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, def, s.Description)
		}
	}
	return b.String()
}
