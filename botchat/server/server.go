// Package server implements botchat's gRPC API (ChatService): it accepts
// messages in order, runs their turns one at a time per conversation on
// whichever replica holds the conversation's lease, streams frames to
// clients through the live hub, and moves conversations between the bot and
// human attendants.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botchat/live"
	"github.com/botserver-go/botserver-go/botchat/pipeline"
	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Limits of what clients send.
const (
	MaxContent      = 64 << 10 // bytes of one message (botauto's MaxInput)
	MaxClientID     = 128
	MaxSwitchers    = 32
	MaxSwitcherID   = 64
	MaxQueueName    = 64
	DefaultPage     = 50
	MaxPage         = 500
	liveBuffer      = 4096
	snapshotTimeout = 2 * time.Second
)

var (
	botName   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	queueName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)
	toolName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Options configure a Server.
type Options struct {
	Store    *store.Store
	Hub      *live.Hub
	Pipeline *pipeline.Pipeline
	// Auth resolves bot names to ids for visitors (whose token names the
	// bot by id); nil refuses visitors.
	Auth authv1.AuthServiceClient
	Log  *slog.Logger
	// LeaseTTL is how long a replica holds a conversation without renewing.
	LeaseTTL time.Duration
	// SweepInterval is how often stranded conversations are looked for.
	SweepInterval time.Duration
}

// Server implements chatv1.ChatServiceServer.
type Server struct {
	chatv1.UnimplementedChatServiceServer
	store *store.Store
	hub   *live.Hub
	pipe  *pipeline.Pipeline
	auth  authv1.AuthServiceClient
	log   *slog.Logger
	ttl   time.Duration
	sweep time.Duration

	// base is the context turns run in: cancelled only when a stop's
	// deadline passes, so a stop lets running turns finish.
	base       context.Context
	cancelBase context.CancelFunc
	stopping   chan struct{}
	wg         sync.WaitGroup
	stopOnce   sync.Once

	botsMu sync.Mutex
	botIDs map[string]botID
}

type botID struct {
	id string
	at time.Time
}

// New returns a Server; Start runs its sweeper, Stop drains it.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 5 * time.Second
	}
	base, cancel := context.WithCancel(context.Background())
	return &Server{store: o.Store, hub: o.Hub, pipe: o.Pipeline, auth: o.Auth, log: o.Log, ttl: o.LeaseTTL,
		sweep: o.SweepInterval, base: base, cancelBase: cancel, stopping: make(chan struct{}), botIDs: map[string]botID{}}
}

var (
	anyCaller = []authz.Kind{authz.KindUser, authz.KindAPIKey, authz.KindService, authz.KindVisitor}
	staff     = []authz.Kind{authz.KindUser, authz.KindAPIKey, authz.KindService}
)

// Policy says who may call each method: chat:use for conversations
// (visitors included, limited to their own), chat:attend for attendants.
var Policy = authz.Policy{
	chatv1.ChatService_OpenConversation_FullMethodName: {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_Post_FullMethodName:             {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_Send_FullMethodName:             {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_Watch_FullMethodName:            {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_Cancel_FullMethodName:           {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_History_FullMethodName:          {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_Replay_FullMethodName:           {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_GetConversation_FullMethodName:  {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_RequestHandoff_FullMethodName:   {Permission: "chat:use", Kinds: anyCaller},
	chatv1.ChatService_ListHandoffs_FullMethodName:     {Permission: "chat:attend", Kinds: staff},
	chatv1.ChatService_ClaimHandoff_FullMethodName:     {Permission: "chat:attend", Kinds: staff},
	chatv1.ChatService_ReplyHandoff_FullMethodName:     {Permission: "chat:attend", Kinds: staff},
	chatv1.ChatService_ResolveHandoff_FullMethodName:   {Permission: "chat:attend", Kinds: staff},
	chatv1.ChatService_HandBack_FullMethodName:         {Permission: "chat:attend", Kinds: staff},
	chatv1.ChatService_WatchHandoffs_FullMethodName:    {Permission: "chat:attend", Kinds: staff},
}

func caller(ctx context.Context) (*authz.Identity, error) {
	id, ok := authz.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no verified caller")
	}
	if _, err := uuid.Parse(id.OrgID); err != nil {
		return nil, status.Error(codes.FailedPrecondition, "the caller acts in no organisation")
	}
	return id, nil
}

// attendant reports whether id may see every conversation of its org.
func attendant(id *authz.Identity) bool {
	return id.Kind == authz.KindService || (id.Kind != authz.KindVisitor && id.Can("chat:attend"))
}

// accessOf is who id may post as: to any conversation of its
// organisation (attendants, services), or only to those it opened.
func accessOf(id *authz.Identity) store.Access {
	return store.Access{Any: attendant(id), Kind: string(id.Kind), ID: id.Subject}
}

func notFound() error { return status.Error(codes.NotFound, "no such conversation") }

func parseConvID(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, "conversation_id must be a uuid")
	}
	return u.String(), nil
}

// conversation loads a conversation the caller may see; others' are
// NotFound, as is another organisation's.
func (s *Server) conversation(ctx context.Context, convID string) (*authz.Identity, *store.Conversation, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	cid, err := parseConvID(convID)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.store.Get(ctx, id.OrgID, cid)
	if err != nil {
		return nil, nil, s.dbErr(err)
	}
	if !accessOf(id).Allows(c) {
		return nil, nil, notFound()
	}
	return id, c, nil
}

func (s *Server) dbErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return notFound()
	case errors.Is(err, store.ErrState):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	s.log.Error("chat store", "err", err)
	return status.Error(codes.Internal, "internal error")
}

// visitorBot checks that a visitor's token is for the bot named bot.
func (s *Server) visitorBot(ctx context.Context, id *authz.Identity, bot string) error {
	if s.auth == nil {
		return status.Error(codes.FailedPrecondition, "visitors need botauth to be deployed (bot registry)")
	}
	key := id.OrgID + "/" + bot
	s.botsMu.Lock()
	b, ok := s.botIDs[key]
	s.botsMu.Unlock()
	if !ok || time.Since(b.at) > time.Minute {
		resp, err := s.auth.GetBot(authz.ForOrg(ctx, id.OrgID), &authv1.GetBotRequest{Name: bot})
		if status.Code(err) == codes.NotFound {
			return status.Errorf(codes.NotFound, "no bot %s", bot)
		}
		if err != nil {
			return status.Errorf(codes.Unavailable, "bot registry: %v", status.Convert(err).Message())
		}
		b = botID{id: resp.GetBot().GetId(), at: time.Now()}
		s.botsMu.Lock()
		if len(s.botIDs) > 10000 {
			s.botIDs = map[string]botID{}
		}
		s.botIDs[key] = b
		s.botsMu.Unlock()
	}
	if b.id != id.BotID {
		return status.Errorf(codes.NotFound, "no bot %s", bot)
	}
	return nil
}

// checkInbound validates a client's message.
func checkInbound(in *chatv1.Inbound) error {
	if in == nil {
		return status.Error(codes.InvalidArgument, "message is required")
	}
	if len(in.Content) > MaxContent {
		return status.Errorf(codes.InvalidArgument, "content is larger than %d bytes", MaxContent)
	}
	if !utf8.ValidString(in.Content) {
		return status.Error(codes.InvalidArgument, "content is not UTF-8")
	}
	if len(in.ClientId) > MaxClientID {
		return status.Errorf(codes.InvalidArgument, "client_id is longer than %d bytes", MaxClientID)
	}
	if len(in.ActiveSwitchers) > MaxSwitchers {
		return status.Errorf(codes.InvalidArgument, "at most %d active_switchers", MaxSwitchers)
	}
	for _, sw := range in.ActiveSwitchers {
		if sw == "" || len(sw) > MaxSwitcherID {
			return status.Errorf(codes.InvalidArgument, "a switcher id is 1 to %d bytes", MaxSwitcherID)
		}
	}
	switch in.MessageType {
	case chatv1.MessageType_MESSAGE_TYPE_UNSPECIFIED, chatv1.MessageType_MESSAGE_TYPE_USER:
		if in.Content == "" {
			return status.Error(codes.InvalidArgument, "content is empty")
		}
	case chatv1.MessageType_MESSAGE_TYPE_TOOL:
		if !toolName.MatchString(in.Content) {
			return status.Error(codes.InvalidArgument, "content must be the name of the tool to run")
		}
		if in.ArgsJson != "" {
			var obj map[string]any
			if len(in.ArgsJson) > MaxContent || json.Unmarshal([]byte(in.ArgsJson), &obj) != nil {
				return status.Error(codes.InvalidArgument, "args must be a JSON object")
			}
		}
	case chatv1.MessageType_MESSAGE_TYPE_SWITCHER, chatv1.MessageType_MESSAGE_TYPE_SYSTEM:
	default:
		return status.Errorf(codes.InvalidArgument, "message_type %d: use 1 (text), 6 (tool), 7 (system) or 8 (switcher)", in.MessageType)
	}
	return nil
}
