package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/botserver-go/botserver-go/botauto/basic/syntax"
	"github.com/botserver-go/botserver-go/botauto/basic/tools"
	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botauto/bots"
	"github.com/botserver-go/botserver-go/botauto/runtime"
	"github.com/botserver-go/botserver-go/botauto/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

// live is a bot package as this replica runs it: the programs that are live
// (last good version of each script) at one package version.
type live struct {
	version  string
	config   map[string]string
	prompt   string
	programs map[string]*vm.Program // script name -> live program
	tools    map[string]*tools.Tool
	scripts  map[string]string // script name -> live program version
	ok       map[string]bool   // script name -> newest source compiled
	diags    []bots.Diagnostic
	vars     map[string]vm.Value
	tables   map[string]*runtime.Table
}

func (l *live) hearTimeout() time.Duration {
	v, ok := l.config["hear-timeout-secs"]
	if !ok {
		return time.Hour
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return time.Hour
	}
	return time.Duration(n) * time.Second
}

type liveKey struct{ org, bot string }

type progKey struct{ org, bot, name, version string }

// load reads a package from the source, keeps the last good version of
// scripts that no longer compile, stores it and makes it live here. Other
// replicas pick the new version up from the database on their next turn.
func (s *Server) load(ctx context.Context, org, bot string) (*live, error) {
	if !bots.ValidName(bot) {
		return nil, bots.ErrNotFound
	}
	files, err := s.source.Files(ctx, org, bot)
	if errors.Is(err, bots.ErrNotFound) {
		if derr := s.store.DeleteBot(ctx, org, bot); derr != nil {
			return nil, derr
		}
		s.forget(org, bot)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	version := bots.Version(bot, files)
	s.mu.Lock()
	cached := s.lives[liveKey{org, bot}]
	s.mu.Unlock()
	if cached != nil && cached.version == version {
		return cached, nil // unchanged: no compile, no write
	}
	pkg, err := bots.Build(bot, files)
	if err != nil {
		return nil, err
	}
	prev, err := s.store.GetBot(ctx, org, bot)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if prev != nil && prev.Version == pkg.Version {
		// Stored already (an earlier start, or another replica, whose
		// registration may have failed): make sure botauth knows it too.
		s.register(ctx, org, bot, pkg.Config)
		return s.live(ctx, org, bot, prev.Version)
	}
	row := store.Bot{Bot: bot, Version: pkg.Version, Config: pkg.Config, Prompt: pkg.Prompt, Scripts: map[string]string{}}
	var programs []store.Program
	for name, sc := range pkg.Scripts {
		switch {
		case sc.Program != nil:
			row.Scripts[name] = sc.Program.Version
			programs = append(programs, store.Program{Name: name, Version: sc.Program.Version, Source: sc.Source})
		case prev != nil && prev.Scripts[name] != "":
			// Keep running the last good version; the diagnostics say why.
			row.Scripts[name] = prev.Scripts[name]
		}
	}
	var before *live // the version being replaced, to clear triggers it had
	if prev != nil {
		before, _ = s.live(ctx, org, bot, prev.Version)
	}
	diags := append(pkg.Diagnostics, s.registerTriggers(ctx, org, bot, pkg, before)...)
	if diags == nil {
		diags = []bots.Diagnostic{}
	}
	row.Diagnostics, _ = json.Marshal(struct {
		Diagnostics []bots.Diagnostic `json:"diagnostics"`
		Failed      []string          `json:"failed"`
	}{diags, failedScripts(pkg)})
	if err := s.store.SaveBot(ctx, org, row, programs); err != nil {
		return nil, err
	}
	for _, d := range diags {
		s.log.Warn("bot package problem", "org", org, "bot", bot, "problem", d.String())
	}
	s.confirmVersion(org, bot, pkg.Version)
	s.log.Info("bot package loaded", "org", org, "bot", bot, "version", pkg.Version, "scripts", len(pkg.Scripts))
	s.register(ctx, org, bot, pkg.Config)
	return s.live(ctx, org, bot, pkg.Version)
}

func failedScripts(pkg *bots.Package) []string {
	out := []string{}
	for name, sc := range pkg.Scripts {
		if sc.Program == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) forget(org, bot string) {
	s.mu.Lock()
	delete(s.lives, liveKey{org, bot})
	delete(s.unregistered, liveKey{org, bot})
	delete(s.versions, liveKey{org, bot})
	s.mu.Unlock()
}

// live returns the package at version, from memory or rebuilt from the
// database (another replica loaded it).
func (s *Server) live(ctx context.Context, org, bot, version string) (*live, error) {
	k := liveKey{org, bot}
	s.mu.Lock()
	l := s.lives[k]
	s.mu.Unlock()
	if l != nil && l.version == version {
		return l, nil
	}
	row, err := s.store.GetBot(ctx, org, bot)
	if err != nil {
		return nil, err
	}
	srcs, err := s.store.Programs(ctx, org, bot, row.Scripts)
	if err != nil {
		return nil, err
	}
	l = &live{version: row.Version, config: row.Config, prompt: row.Prompt, scripts: row.Scripts,
		programs: map[string]*vm.Program{}, tools: map[string]*tools.Tool{}, ok: map[string]bool{}}
	var d struct {
		Diagnostics []bots.Diagnostic `json:"diagnostics"`
		Failed      []string          `json:"failed"`
	}
	_ = json.Unmarshal(row.Diagnostics, &d)
	l.diags = d.Diagnostics
	failed := map[string]bool{}
	for _, f := range d.Failed {
		failed[f] = true
	}
	for name, version := range row.Scripts {
		p, err := s.compileVersion(org, bot, name, version, srcs[name])
		if err != nil {
			return nil, err
		}
		l.programs[name] = p
		l.ok[name] = !failed[name]
		if t, ok := tools.FromProgram(p); ok {
			l.tools[t.Name] = t
		}
	}
	for f := range failed {
		if _, ok := l.ok[f]; !ok {
			l.ok[f] = false
		}
	}
	l.vars = (&bots.Package{Config: l.config}).Vars()
	var decls []*syntax.Table
	names := make([]string, 0, len(l.programs))
	for n := range l.programs {
		names = append(names, n)
	}
	sort.Strings(names) // tables.bas before the others would be nicer; name order is stable
	for _, n := range names {
		decls = append(decls, l.programs[n].Tables...)
	}
	l.tables = runtime.TablesFrom(decls)
	if l.config == nil {
		l.config = map[string]string{}
	}
	s.mu.Lock()
	s.lives[k] = l
	s.mu.Unlock()
	return l, nil
}

// ErrVersionGone means a saved state's program version cannot be run any more.
var ErrVersionGone = errors.New("the script version this conversation was waiting in is gone")

// compileVersion compiles a stored source and checks it is the version
// asked for: a different compiler build would give another version, and a
// state saved by one program must never resume in another.
func (s *Server) compileVersion(org, bot, name, version, src string) (*vm.Program, error) {
	k := progKey{org, bot, name, version}
	s.mu.Lock()
	p := s.programs[k]
	s.mu.Unlock()
	if p != nil {
		return p, nil
	}
	if src == "" {
		return nil, fmt.Errorf("%w (%s version %s is not stored)", ErrVersionGone, name, version)
	}
	sc, _ := bots.Compile(name, src)
	if sc.Program == nil || sc.Program.Version != version {
		return nil, fmt.Errorf("%w (%s version %s no longer compiles to itself)", ErrVersionGone, name, version)
	}
	s.mu.Lock()
	if len(s.programs) > 10000 { // a crude bound; programs are small and rebuilt on demand
		clear(s.programs)
	}
	s.programs[k] = sc.Program
	s.mu.Unlock()
	return sc.Program, nil
}

// program returns the program a waiting conversation needs: the live one
// when versions match, else the stored old version.
func (s *Server) program(ctx context.Context, org, bot string, l *live, name, version string) (*vm.Program, error) {
	if p := l.programs[name]; p != nil && p.Version == version {
		return p, nil
	}
	src, err := s.store.ProgramSource(ctx, org, bot, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w (%s version %s)", ErrVersionGone, name, version)
	}
	if err != nil {
		return nil, err
	}
	return s.compileVersion(org, bot, name, version, src)
}

// Reload loads packages that changed and drops bots whose package is gone.
func (s *Server) Reload(ctx context.Context, org string) error {
	names, err := s.source.Bots(ctx, org)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, b := range names {
		present[b] = true
		if _, err := s.load(ctx, org, b); err != nil {
			s.log.Error("bot package not loaded", "org", org, "bot", b, "err", err)
		}
	}
	s.mu.Lock()
	var gone []string
	for k := range s.lives {
		if k.org == org && !present[k.bot] {
			gone = append(gone, k.bot)
		}
	}
	s.mu.Unlock()
	for _, b := range gone {
		if _, err := s.load(ctx, org, b); err != nil && !errors.Is(err, bots.ErrNotFound) {
			return err
		}
	}
	return nil
}

// register makes sure botauth knows the bot: packages deployed to storage
// are bots of their organisation, public unless config.csv says
// public,false. A failure is logged and kept for RetryRegistrations (in a
// split deployment botauth may start after botauto); the package stays
// loaded.
func (s *Server) register(ctx context.Context, org, bot string, config map[string]string) {
	if s.auth == nil {
		return
	}
	title := config["bot-name"]
	if title == "" {
		title = bot
	}
	public := !strings.EqualFold(strings.TrimSpace(config["public"]), "false")
	_, err := s.auth.EnsureBot(authz.ForOrg(ctx, org), &authv1.EnsureBotRequest{OrgId: org, Name: bot, Title: title, Public: public})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.log.Warn("bot not registered with botauth; will retry", "org", org, "bot", bot, "err", err)
		s.unregistered[liveKey{org, bot}] = config
		return
	}
	delete(s.unregistered, liveKey{org, bot})
}

// RetryRegistrations registers again the bots botauth did not confirm.
func (s *Server) RetryRegistrations(ctx context.Context) error {
	s.mu.Lock()
	pending := make(map[liveKey]map[string]string, len(s.unregistered))
	for k, c := range s.unregistered {
		pending[k] = c
	}
	s.mu.Unlock()
	for k, config := range pending {
		s.register(ctx, k.org, k.bot, config)
	}
	return nil
}

// FileChanged reloads the bot when one of the files botauto reads changed
// or disappeared in storage (botdrive's events).
func (s *Server) FileChanged(ctx context.Context, org, bot, path string) error {
	if !bots.ValidName(bot) || !bots.Relevant(bot, path) {
		return nil
	}
	_, err := s.load(ctx, org, bot)
	if errors.Is(err, bots.ErrNotFound) {
		return nil
	}
	return err
}
