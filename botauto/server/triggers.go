package server

import (
	"context"
	"fmt"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botauto/bots"
	"github.com/botserver-go/botserver-go/botstate/authz"
	mailv1 "github.com/botserver-go/botserver-go/proto/bot/mail/v1"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
)

// registerTriggers hands a package's SET SCHEDULE and ON EMAIL triggers to
// the services that fire them (replacing the bot's previous set, so removed
// triggers stop). ON EVENT and WEBHOOK are fired by botauto itself. A
// trigger that cannot be registered becomes a diagnostic of its script.
// Bots that have none and had none (before, the replaced version, may be
// nil) call nobody.
func (s *Server) registerTriggers(ctx context.Context, org, bot string, pkg *bots.Package, before *live) []bots.Diagnostic {
	var (
		schedules []*tasksv1.Schedule
		mails     []*mailv1.EmailTrigger
		lines     = map[string]int{}
	)
	names := make([]string, 0, len(pkg.Scripts))
	for n := range pkg.Scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		sc := pkg.Scripts[name]
		if sc.Program == nil {
			continue
		}
		for _, t := range sc.Program.Triggers {
			switch t.Keyword {
			case "SET SCHEDULE":
				schedules = append(schedules, &tasksv1.Schedule{Script: name, Cron: first(t.Args)})
				lines["tasks:"+name] = t.Pos.Line
			case "ON EMAIL":
				mails = append(mails, &mailv1.EmailTrigger{Script: name, Address: first(t.Args), From: t.Clauses["FROM"], Subject: t.Clauses["SUBJECT"]})
				lines["mail:"+name] = t.Pos.Line
			}
		}
	}
	var diags []bots.Diagnostic
	problem := func(kind, keyword, svc string, err error) {
		msg := fmt.Sprintf("%s is not registered: %s is not available", keyword, svc)
		if c := status.Code(err); err != nil && c != codes.Unavailable && c != codes.Unimplemented {
			msg = fmt.Sprintf("%s is not registered: %s", keyword, status.Convert(err).Message())
		}
		for k, line := range lines {
			if len(k) > len(kind) && k[:len(kind)+1] == kind+":" {
				diags = append(diags, bots.Diagnostic{File: bot + ".gbdialog/" + k[len(kind)+1:], Line: line, Column: 1, Message: msg})
			}
		}
	}
	callCtx := authz.ForOrg(ctx, org)
	svcs := s.services
	switch {
	case svcs == nil || svcs.Tasks == nil:
		if len(schedules) > 0 {
			problem("tasks", "SET SCHEDULE", "bottasks", nil)
		}
	case len(schedules) > 0 || before.has("SET SCHEDULE"):
		if _, err := svcs.Tasks.SetSchedules(callCtx, &tasksv1.SetSchedulesRequest{Bot: bot, Schedules: schedules}); err != nil && len(schedules) > 0 {
			problem("tasks", "SET SCHEDULE", "bottasks", err)
		}
	}
	switch {
	case svcs == nil || svcs.Mail == nil:
		if len(mails) > 0 {
			problem("mail", "ON EMAIL", "botmail", nil)
		}
	case len(mails) > 0 || before.has("ON EMAIL"):
		if _, err := svcs.Mail.SetEmailTriggers(callCtx, &mailv1.SetEmailTriggersRequest{Bot: bot, Triggers: mails}); err != nil && len(mails) > 0 {
			problem("mail", "ON EMAIL", "botmail", err)
		}
	}
	sort.Slice(diags, func(i, j int) bool { return diags[i].File < diags[j].File })
	return diags
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// has reports whether the package declares a trigger keyword (false for nil).
func (l *live) has(keyword string) bool {
	if l == nil {
		return false
	}
	for _, p := range l.programs {
		for _, t := range p.Triggers {
			if t.Keyword == keyword {
				return true
			}
		}
	}
	return false
}
