// Package server implements botauto's gRPC API: conversations that run
// scripts turn by turn with their state in Postgres, tools, compilation and
// bot packages.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botauto/bots"
	"github.com/botserver-go/botserver-go/botauto/runtime"
	"github.com/botserver-go/botserver-go/botauto/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// Options configure a Server.
type Options struct {
	Store    *store.Store
	Source   bots.Source
	Log      *slog.Logger
	HTTP     *runtime.HTTP // nil: HTTP keywords are not available
	Limits   vm.Limits
	Services *runtime.Services // keywords of other services; nil: not available
	// Auth registers bots found in storage in botauth's registry (so
	// visitors can open sessions with public ones); nil skips it.
	Auth authv1.AuthServiceClient
	// VersionFresh is how long a bot's version, once read, is believed for
	// turns that run from memory (see convCache); 0 means a second. A
	// package loaded on another replica reaches those turns within it.
	VersionFresh time.Duration
}

// Server implements autov1.AutoServiceServer.
type Server struct {
	autov1.UnimplementedAutoServiceServer
	store    *store.Store
	source   bots.Source
	log      *slog.Logger
	http     *runtime.HTTP
	limits   vm.Limits
	services *runtime.Services
	auth     authv1.AuthServiceClient

	mu       sync.Mutex
	lives    map[liveKey]*live
	programs map[progKey]*vm.Program
	// unregistered are bots botauth has not confirmed (it was down or
	// starting): RetryRegistrations tries them again.
	unregistered map[liveKey]map[string]string
	// versions are the bots' live versions as last read or loaded here;
	// convs the script states this replica saved last (see convCache).
	versions     map[liveKey]confirmedVersion
	versionFresh time.Duration
	convs        convCache
}

// New returns a Server.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Server{store: o.Store, source: o.Source, log: o.Log, http: o.HTTP, limits: o.Limits,
		services: o.Services, auth: o.Auth, lives: map[liveKey]*live{}, programs: map[progKey]*vm.Program{},
		unregistered: map[liveKey]map[string]string{}, versions: map[liveKey]confirmedVersion{}, versionFresh: o.VersionFresh}
}

// Policy says who may call each method.
var Policy = authz.Policy{
	autov1.AutoService_Converse_FullMethodName:     {Permission: "chat:use", Kinds: []authz.Kind{authz.KindService, authz.KindUser, authz.KindAPIKey}},
	autov1.AutoService_RunTool_FullMethodName:      {Permission: "chat:use", Kinds: []authz.Kind{authz.KindService, authz.KindUser, authz.KindAPIKey}},
	autov1.AutoService_ListTools_FullMethodName:    {Permission: "bots:read"},
	autov1.AutoService_GetBot_FullMethodName:       {Permission: "bots:read"},
	autov1.AutoService_Compile_FullMethodName:      {Permission: "bots:write"},
	autov1.AutoService_LoadBot_FullMethodName:      {Permission: "bots:write"},
	autov1.AutoService_ListMemories_FullMethodName: {Permission: "bots:read"},
	autov1.AutoService_SetMemory_FullMethodName:    {Permission: "bots:write"},
	autov1.AutoService_ListTables_FullMethodName:   {Permission: "bots:read"},
	autov1.AutoService_QueryTable_FullMethodName:   {Permission: "bots:read"},
	autov1.AutoService_RunWebhook_FullMethodName:   {Permission: "bots:write"},
}

var conversationID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// MaxInput bounds one user message a script reads.
const MaxInput = 64 << 10

func caller(ctx context.Context) (*authz.Identity, error) {
	id, ok := authz.FromContext(ctx)
	if !ok || id.OrgID == "" {
		return nil, status.Error(codes.Unauthenticated, "no verified caller")
	}
	return id, nil
}

// botCaller is caller for a request naming a bot: the verified identity,
// and the bot name checked.
func botCaller(ctx context.Context, bot string) (*authz.Identity, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return id, checkBot(bot)
}

func checkBot(bot string) error {
	if !bots.ValidName(bot) {
		return status.Errorf(codes.InvalidArgument, "bot %q: use lower-case letters, digits and -", bot)
	}
	return nil
}

// livePackage returns the bot's live package, loading it from storage the
// first time anyone asks for it.
func (s *Server) livePackage(ctx context.Context, org, bot, version string) (*live, error) {
	var (
		l   *live
		err error
	)
	if version == "" {
		l, err = s.load(ctx, org, bot)
	} else {
		l, err = s.live(ctx, org, bot, version)
	}
	if errors.Is(err, bots.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "bot %s has no package", bot)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "bot %s: %v", bot, err)
	}
	return l, nil
}

// Converse implements autov1.AutoServiceServer.
func (s *Server) Converse(req *autov1.ConverseRequest, stream autov1.AutoService_ConverseServer) error {
	ctx := stream.Context()
	id, err := caller(ctx)
	if err != nil {
		return err
	}
	if err := checkBot(req.Bot); err != nil {
		return err
	}
	if !conversationID.MatchString(req.ConversationId) {
		return status.Error(codes.InvalidArgument, "conversation_id: 1 to 128 letters, digits or ._:-")
	}
	if len(req.Input) > MaxInput {
		return status.Errorf(codes.InvalidArgument, "input is larger than %d bytes", MaxInput)
	}
	outs, end, err := s.turn(ctx, id.OrgID, req)
	if err != nil {
		return err
	}
	for i := range outs {
		if err := stream.Send(&autov1.ConverseResponse{Event: &autov1.ConverseResponse_Output{Output: outs[i]}}); err != nil {
			return err
		}
	}
	return stream.Send(&autov1.ConverseResponse{Event: &autov1.ConverseResponse_End{End: end}})
}

// turn runs one turn and saves the conversation. The VM runs outside any
// transaction (a script may call slow services); a concurrent turn of the
// same conversation is caught when saving.
func (s *Server) turn(ctx context.Context, org string, req *autov1.ConverseRequest) ([]*autov1.Output, *autov1.TurnEnd, error) {
	version, conv, err := s.turnState(ctx, org, req)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "conversation: %v", err)
	}
	if conv != nil && conv.Bot != req.Bot {
		return nil, nil, status.Errorf(codes.InvalidArgument, "conversation %s belongs to another bot", req.ConversationId)
	}
	l, err := s.livePackage(ctx, org, req.Bot, version)
	if err != nil {
		return nil, nil, err
	}
	var outs []*autov1.Output
	end := &autov1.TurnEnd{Status: autov1.TurnStatus_TURN_STATUS_DONE}
	isNew := conv == nil
	prevTurn := int64(0)
	if conv == nil {
		conv = &store.Conversation{ID: req.ConversationId, Bot: req.Bot}
	} else {
		prevTurn = conv.Turn
	}
	changed := isNew
	if conv.State != nil && conv.ExpiresAt != nil && time.Now().After(*conv.ExpiresAt) {
		outs = append(outs, &autov1.Output{Kind: "hear_expired", Name: conv.Script})
		conv.State, conv.ExpiresAt, changed = nil, nil, true
	}
	host := &runtime.Host{
		Turn:  runtime.Turn{Org: org, Bot: req.Bot, User: req.UserId, Conversation: req.ConversationId, Config: l.config, Tables: l.tables, Prompt: l.prompt},
		Store: s.store, HTTP: s.http, Services: s.services,
	}
	opts := vm.Options{Host: host, Limits: s.limits, Log: func(line string) {
		s.log.Info("script print", "bot", req.Bot, "conversation", req.ConversationId, "line", line)
	}}
	var res *vm.Result
	var prog *vm.Program
	switch {
	case conv.State != nil:
		prog, err = s.program(ctx, org, req.Bot, l, conv.Script, conv.ProgramVersion)
		if err != nil {
			s.log.Warn("conversation cannot resume", "bot", req.Bot, "conversation", req.ConversationId, "err", err)
			conv.State, conv.ExpiresAt = nil, nil
			end.Status, end.Error = autov1.TurnStatus_TURN_STATUS_FAILED, err.Error()
			changed = true
			break
		}
		opts.Vars = l.vars
		res = vm.Resume(ctx, prog, conv.State, req.Input, opts)
		end.Consumed = true
	case req.Tool != "":
		t, ok := l.tools[strings.ToLower(req.Tool)]
		if !ok {
			return nil, nil, status.Errorf(codes.NotFound, "bot %s has no tool %s", req.Bot, req.Tool)
		}
		args, err := t.Args([]byte(req.ArgsJson))
		if err != nil {
			return nil, nil, status.Error(codes.InvalidArgument, err.Error())
		}
		prog = l.programs[t.Name+".bas"]
		opts.Vars = merge(l.vars, args)
		res = vm.Run(ctx, prog, opts)
		end.Consumed = true
	case isNew && l.programs["start.bas"] != nil:
		prog = l.programs["start.bas"]
		opts.Vars = l.vars
		res = vm.Run(ctx, prog, opts)
	}
	if res != nil {
		changed = true
		conv.Script, conv.ProgramVersion = prog.Name, prog.Version
		end.ProgramVersion, end.Steps = prog.Version, res.Steps
		outs = append(outs, outputs(res)...)
		conv.State, conv.ExpiresAt = nil, nil
		switch res.Status {
		case vm.Waiting:
			end.Status, end.Consumed = autov1.TurnStatus_TURN_STATUS_WAITING, true
			conv.State = res.State
			if d := l.hearTimeout(); d > 0 {
				t := time.Now().Add(d)
				conv.ExpiresAt = &t
			}
		case vm.Failed:
			end.Status, end.Error = autov1.TurnStatus_TURN_STATUS_FAILED, res.Err.Error()
			s.log.Warn("script failed", "bot", req.Bot, "conversation", req.ConversationId, "script", prog.Name, "err", res.Err.Error(), "limit", res.Err.Limit)
		}
	}
	if conv.Script == "" {
		conv.Script = "start.bas"
	}
	if changed {
		if err := s.store.SaveConversation(ctx, org, conv, prevTurn, isNew); errors.Is(err, store.ErrConflict) {
			s.convs.drop(org, conv.ID)
			return nil, nil, status.Error(codes.Aborted, "another message of this conversation was processed at the same time; send it again")
		} else if err != nil {
			s.convs.drop(org, conv.ID)
			return nil, nil, status.Errorf(codes.Internal, "conversation: %v", err)
		}
		conv.Turn = prevTurn + 1
	}
	s.convs.put(org, conv)
	end.Turn = conv.Turn
	return outs, end, nil
}

// turnState returns the bot's live version and the conversation (nil when
// new): from memory when this replica saved the conversation's state at
// req.KnownTurn and read the bot's version within Options.VersionFresh, otherwise
// in one read.
func (s *Server) turnState(ctx context.Context, org string, req *autov1.ConverseRequest) (string, *store.Conversation, error) {
	if req.KnownTurn > 0 {
		if c, ok := s.convs.get(org, req.ConversationId, req.KnownTurn); ok {
			if v, ok := s.freshVersion(org, req.Bot); ok {
				return v, c, nil
			}
		}
	}
	version, conv, err := s.store.Turn(ctx, org, req.Bot, req.ConversationId)
	if err == nil {
		s.confirmVersion(org, req.Bot, version)
	}
	return version, conv, err
}

func merge(a, b map[string]vm.Value) map[string]vm.Value {
	out := make(map[string]vm.Value, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// outputs converts a run's outputs; a HEAR adds a closing "hear" output.
func outputs(res *vm.Result) []*autov1.Output {
	out := make([]*autov1.Output, 0, len(res.Outputs)+1)
	for _, o := range res.Outputs {
		out = append(out, &autov1.Output{Kind: o.Kind, Name: o.Name, Text: o.Text, Value: o.Value})
	}
	if res.Status == vm.Waiting && res.Hear != nil {
		out = append(out, &autov1.Output{Kind: "hear", Name: res.Hear.Var, Value: res.Hear.Type, Options: res.Hear.Options})
	}
	return out
}

// RunTool implements autov1.AutoServiceServer.
func (s *Server) RunTool(ctx context.Context, req *autov1.RunToolRequest) (*autov1.RunToolResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	if req.ConversationId != "" && !conversationID.MatchString(req.ConversationId) {
		return nil, status.Error(codes.InvalidArgument, "conversation_id: 1 to 128 letters, digits or ._:-")
	}
	l, err := s.current(ctx, id.OrgID, req.Bot)
	if err != nil {
		return nil, err
	}
	t, ok := l.tools[strings.ToLower(req.Tool)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "bot %s has no tool %s", req.Bot, req.Tool)
	}
	args, err := t.Args([]byte(req.ArgsJson))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	host := &runtime.Host{
		Turn:  runtime.Turn{Org: id.OrgID, Bot: req.Bot, User: req.UserId, Conversation: req.ConversationId, Config: l.config, Tables: l.tables, Prompt: l.prompt},
		Store: s.store, HTTP: s.http, Services: s.services,
	}
	res := vm.Run(ctx, l.programs[t.Name+".bas"], vm.Options{Host: host, Limits: s.limits, Vars: merge(l.vars, args)})
	resp := &autov1.RunToolResponse{Outputs: outputs(res)}
	switch res.Status {
	case vm.Waiting:
		resp.Error = "tool " + t.Name + " waits for input (HEAR); a tool called by the model cannot ask questions"
		resp.Outputs = resp.Outputs[:len(resp.Outputs)-1]
	case vm.Failed:
		resp.Error = res.Err.Error()
	default:
		data, err := json.Marshal(res.Value.GoValue())
		if err != nil {
			return nil, status.Errorf(codes.Internal, "tool result: %v", err)
		}
		resp.ResultJson = string(data)
	}
	return resp, nil
}

// current returns the bot's live package as stored now.
func (s *Server) current(ctx context.Context, org, bot string) (*live, error) {
	row, err := s.store.GetBot(ctx, org, bot)
	if errors.Is(err, store.ErrNotFound) {
		return s.livePackage(ctx, org, bot, "")
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "bot %s: %v", bot, err)
	}
	return s.livePackage(ctx, org, bot, row.Version)
}

// ListTools implements autov1.AutoServiceServer.
func (s *Server) ListTools(ctx context.Context, req *autov1.ListToolsRequest) (*autov1.ListToolsResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	l, err := s.current(ctx, id.OrgID, req.Bot)
	if err != nil {
		return nil, err
	}
	names := req.Names
	if len(names) == 0 {
		for n := range l.tools {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	resp := &autov1.ListToolsResponse{}
	for _, n := range names {
		// Tools a conversation activated but the package no longer has are
		// left out rather than failing the conversation's LLM answer.
		if t, ok := l.tools[strings.ToLower(n)]; ok {
			resp.Tools = append(resp.Tools, toolProto(t))
		}
	}
	return resp, nil
}

// Compile implements autov1.AutoServiceServer.
func (s *Server) Compile(ctx context.Context, req *autov1.CompileRequest) (*autov1.CompileResponse, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	if len(req.Source) > bots.MaxScriptBytes {
		return nil, status.Errorf(codes.InvalidArgument, "source is larger than %d bytes", bots.MaxScriptBytes)
	}
	name := req.Name
	if name == "" {
		name = "script.bas"
	}
	sc, diags := bots.Compile(name, req.Source)
	resp := &autov1.CompileResponse{Ok: sc.Program != nil, Diagnostics: diagProtos(diags)}
	if sc.Program != nil {
		resp.ProgramVersion = sc.Program.Version
	}
	if sc.Tool != nil {
		resp.Tool = toolProto(sc.Tool)
	}
	return resp, nil
}

// LoadBot implements autov1.AutoServiceServer.
func (s *Server) LoadBot(ctx context.Context, req *autov1.LoadBotRequest) (*autov1.LoadBotResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	l, err := s.livePackage(ctx, id.OrgID, req.Bot, "")
	if err != nil {
		return nil, err
	}
	return &autov1.LoadBotResponse{Bot: botProto(req.Bot, l, id.Kind == authz.KindService)}, nil
}

// GetBot implements autov1.AutoServiceServer.
func (s *Server) GetBot(ctx context.Context, req *autov1.GetBotRequest) (*autov1.GetBotResponse, error) {
	id, err := botCaller(ctx, req.Bot)
	if err != nil {
		return nil, err
	}
	l, err := s.current(ctx, id.OrgID, req.Bot)
	if err != nil {
		return nil, err
	}
	return &autov1.GetBotResponse{Bot: botProto(req.Bot, l, id.Kind == authz.KindService)}, nil
}
