package server

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botauto/bots"
	"github.com/botserver-go/botserver-go/botauto/runtime"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// triggered returns the live scripts declaring keyword with this argument
// (case-insensitive), in name order.
func (l *live) triggered(keyword, arg string) []*vm.Program {
	var out []*vm.Program
	for _, p := range l.programs {
		for _, t := range p.Triggers {
			if t.Keyword == keyword && len(t.Args) > 0 && strings.EqualFold(t.Args[0], arg) {
				out = append(out, p)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// detached runs a script outside any conversation (an event, a webhook):
// it cannot HEAR.
func (s *Server) detached(ctx context.Context, org, bot string, l *live, p *vm.Program, vars map[string]vm.Value, depth int32) *vm.Result {
	host := &runtime.Host{
		Turn:  runtime.Turn{Org: org, Bot: bot, Config: l.config, Tables: l.tables, Prompt: l.prompt, EventDepth: depth},
		Store: s.store, HTTP: s.http, Services: s.services,
	}
	res := vm.Run(ctx, p, vm.Options{Host: host, Limits: s.limits, Vars: merge(l.vars, vars)})
	if res.Status == vm.Waiting {
		return &vm.Result{Status: vm.Failed, Outputs: res.Outputs, Err: &vm.Error{Pos: res.Hear.Pos, Msg: p.Name + " waits for input (HEAR), which a script run by a trigger cannot do"}}
	}
	return res
}

// HandleEvent runs the bot's ON EVENT scripts for a PUBLISH EVENT. A
// script's own failure is logged, not retried: running it again would fail
// the same way.
func (s *Server) HandleEvent(ctx context.Context, ev *autov1.ScriptEvent) error {
	if !bots.ValidName(ev.Bot) {
		return nil
	}
	l, err := s.current(ctx, ev.OrgId, ev.Bot)
	if status.Code(err) == codes.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	data, err := vm.ParseJSON(ev.DataJson)
	if err != nil {
		data = vm.Str(ev.DataJson)
	}
	for _, p := range l.triggered("ON EVENT", ev.Name) {
		res := s.detached(ctx, ev.OrgId, ev.Bot, l, p, map[string]vm.Value{"event": data}, ev.Depth)
		if res.Status == vm.Failed {
			s.log.Warn("ON EVENT script failed", "org", ev.OrgId, "bot", ev.Bot, "event", ev.Name, "script", p.Name, "err", res.Err.Error())
		}
	}
	return nil
}

// MaxWebhookBody bounds a webhook's body.
const MaxWebhookBody = 1 << 20

// RunWebhook implements autov1.AutoServiceServer.
func (s *Server) RunWebhook(ctx context.Context, req *autov1.RunWebhookRequest) (*autov1.RunWebhookResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	if len(req.BodyJson) > MaxWebhookBody {
		return nil, status.Errorf(codes.InvalidArgument, "body is larger than %d bytes", MaxWebhookBody)
	}
	l, err := s.current(ctx, id.OrgID, req.Bot)
	if err != nil {
		return nil, err
	}
	progs := l.triggered("WEBHOOK", req.Endpoint)
	if len(progs) == 0 {
		return nil, status.Errorf(codes.NotFound, "bot %s has no webhook %q", req.Bot, req.Endpoint)
	}
	body := vm.Null
	if strings.TrimSpace(req.BodyJson) != "" {
		if body, err = vm.ParseJSON(req.BodyJson); err != nil {
			body = vm.Str(req.BodyJson)
		}
	}
	res := s.detached(ctx, id.OrgID, req.Bot, l, progs[0], map[string]vm.Value{"body": body}, 0)
	resp := &autov1.RunWebhookResponse{Outputs: outputs(res)}
	if res.Status == vm.Failed {
		resp.Error = res.Err.Error()
		return resp, nil
	}
	data, err := json.Marshal(res.Value.GoValue())
	if err != nil {
		return nil, status.Error(codes.Internal, errors.New("webhook result is not JSON").Error())
	}
	resp.ResultJson = string(data)
	return resp, nil
}
