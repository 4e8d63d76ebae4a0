package channels

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Poster accepts a message into a conversation in order (botchat's Post).
type Poster interface {
	Post(ctx context.Context, req *chatv1.PostRequest) (*chatv1.PostResponse, error)
}

// Options configure a Service.
type Options struct {
	DB   *pgxpool.Pool
	Chat Poster
	// Auto gives bot configs with secrets (botchat calls it as a service);
	// nil: every webhook answers 503.
	Auto autov1.AutoServiceClient
	Log  *slog.Logger
	// HTTP sends to the channels; nil: a client with SendTimeout.
	HTTP *http.Client

	WhatsAppGraphURL string        // default https://graph.facebook.com/v21.0
	TelegramAPIURL   string        // default https://api.telegram.org
	Rate             float64       // sends per second per bot and channel; default 20
	MaxAttempts      int           // default 8
	RetryBase        time.Duration // first back-off; default 2s
	RetryMax         time.Duration // longest back-off; default 10m
	Poll             time.Duration // how often due sends are looked for; default 500ms
	SendTimeout      time.Duration // one HTTP send; default 15s
	Workers          int           // sends in flight per replica; default 8
	ConfigTTL        time.Duration // how long a bot's config is reused; default 5s
}

// Service implements chatv1.ChannelServiceServer and runs the sender.
type Service struct {
	chatv1.UnimplementedChannelServiceServer
	o        Options
	store    *store.Store
	outbox   *Outbox
	adapters map[string]adapter
	log      *slog.Logger

	mu      sync.Mutex
	configs map[string]cachedConfig

	base       context.Context
	cancelBase context.CancelFunc
	stopping   chan struct{}
	stopOnce   sync.Once
	wg         sync.WaitGroup
	slots      chan struct{}
}

type cachedConfig struct {
	cfg Config
	at  time.Time
}

// Policy: the webhook is public (requests prove themselves with the bot's
// channel secrets).
var Policy = map[string]authz.Rule{
	chatv1.ChannelService_Webhook_FullMethodName: {Public: true},
}

// New returns a Service; Start runs its sender, Stop drains it.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.WhatsAppGraphURL == "" {
		o.WhatsAppGraphURL = "https://graph.facebook.com/v21.0"
	}
	if o.TelegramAPIURL == "" {
		o.TelegramAPIURL = "https://api.telegram.org"
	}
	if o.Rate <= 0 {
		o.Rate = 20
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.RetryMax < o.RetryBase {
		o.RetryMax = max(10*time.Minute, o.RetryBase)
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 15 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.ConfigTTL < 0 {
		o.ConfigTTL = 0
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: o.SendTimeout}
	}
	base, cancel := context.WithCancel(context.Background())
	return &Service{o: o, store: store.New(o.DB), outbox: NewOutbox(o.DB), log: o.Log, configs: map[string]cachedConfig{},
		adapters: map[string]adapter{
			WhatsApp: whatsApp{graph: o.WhatsAppGraphURL},
			Telegram: telegram{api: o.TelegramAPIURL},
			Webhook:  generic{},
		},
		base: base, cancelBase: cancel, stopping: make(chan struct{}), slots: make(chan struct{}, o.Workers)}
}

// Outbox is the service's send queue (tests and operators read it).
func (s *Service) Outbox() *Outbox { return s.outbox }

var botName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Webhook implements chatv1.ChannelServiceServer.
func (s *Service) Webhook(ctx context.Context, req *chatv1.WebhookRequest) (*chatv1.WebhookResponse, error) {
	ad, ok := s.adapters[req.Channel]
	if !ok {
		return nil, status.Error(codes.NotFound, "channel must be whatsapp, telegram or webhook")
	}
	if !botName.MatchString(req.Bot) {
		return nil, status.Error(codes.NotFound, "no such bot")
	}
	org := req.OrgId
	if org == "" {
		org = authz.DefaultOrgID
	}
	u, err := uuid.Parse(org)
	if err != nil {
		return nil, status.Error(codes.NotFound, "no such bot")
	}
	org = u.String()
	if len(req.Body) > MaxBody {
		return nil, status.Errorf(codes.InvalidArgument, "the body is larger than %d bytes", MaxBody)
	}
	req.Method = strings.ToUpper(req.Method)
	cfg, err := s.config(ctx, org, req.Bot)
	if err != nil {
		return nil, err
	}
	msgs, resp, err := ad.inbound(req, cfg)
	switch {
	case errors.Is(err, errNotConfigured):
		return nil, status.Errorf(codes.NotFound, "bot %s does not take %s messages", req.Bot, req.Channel)
	case errors.Is(err, errBadSignature):
		// Only where and what: never the headers, the body or the secret.
		s.log.Warn("channel webhook refused: bad signature or secret", "channel", req.Channel, "bot", req.Bot, "org", org)
		if req.Method == http.MethodGet {
			return nil, status.Error(codes.PermissionDenied, "the verify token does not match")
		}
		return nil, status.Error(codes.Unauthenticated, "the signature or secret token does not match")
	case err != nil:
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if len(msgs) > MaxMessagesPerRequest {
		return nil, status.Errorf(codes.InvalidArgument, "at most %d messages per request", MaxMessagesPerRequest)
	}
	var last *delivered
	for _, m := range msgs {
		d, err := s.deliver(ctx, org, req.Bot, req.Channel, m)
		if status.Code(err) == codes.InvalidArgument {
			// Delivering it again would not help: drop this one message.
			s.log.Warn("channel message dropped", "channel", req.Channel, "bot", req.Bot, "org", org, "err", status.Convert(err).Message())
			if req.Channel == Webhook {
				return nil, err // the caller is told what was wrong
			}
			continue
		}
		if err != nil {
			// The channel delivers again (client ids make that safe).
			return nil, err
		}
		last = d
	}
	if req.Channel == Webhook && last != nil {
		resp.ContentType = "application/json"
		resp.Body, _ = json.Marshal(last)
	}
	return resp, nil
}

// delivered is what the generic webhook answers.
type delivered struct {
	ConversationID string `json:"conversation_id"`
	MessageID      string `json:"message_id"`
	Duplicate      bool   `json:"duplicate"`
}

// deliver posts one inbound message to the conversation of its sender.
func (s *Service) deliver(ctx context.Context, org, bot, channel string, m Inbound) (*delivered, error) {
	if m.From == "" || len(m.From) > maxAddress || !utf8.ValidString(m.From) {
		return nil, status.Errorf(codes.InvalidArgument, "the sender's address must be 1 to %d bytes of UTF-8", maxAddress)
	}
	c, _, err := s.store.Open(ctx, org, &store.Conversation{ID: uuid.NewString(), Bot: bot, UserID: m.From, UserKind: channel,
		Channel: channel, ChannelAddress: m.From})
	if err != nil {
		s.log.Error("channel conversation", "channel", channel, "bot", bot, "err", err)
		return nil, status.Error(codes.Unavailable, "the conversation could not be opened; deliver again")
	}
	in := &chatv1.Inbound{ConversationId: c.ID, MessageType: chatv1.MessageType_MESSAGE_TYPE_USER, Content: m.Text}
	if sg, ok := s.choice(ctx, org, c.ID, m); ok {
		switch {
		case sg.Kind == "tool" && sg.Value != "":
			in.MessageType, in.Content = chatv1.MessageType_MESSAGE_TYPE_TOOL, sg.Value
		case sg.Value != "":
			in.Content = sg.Value
		case sg.Text != "":
			in.Content = sg.Text
		}
	}
	if in.Content == "" {
		return nil, status.Error(codes.InvalidArgument, "the message has no text")
	}
	if len(in.Content) > 64<<10 {
		in.Content = in.Content[:byteIndexOfRune(in.Content, 16<<10)]
	}
	if m.ID != "" {
		in.ClientId = clientID(channel, m.ID)
	}
	actx := authz.WithIdentity(ctx, &authz.Identity{Kind: authz.KindService, Subject: "botchat-channels", OrgID: org})
	r, err := s.o.Chat.Post(actx, &chatv1.PostRequest{Message: in})
	if err != nil {
		return nil, err
	}
	return &delivered{ConversationID: c.ID, MessageID: r.MessageId, Duplicate: r.Duplicate}, nil
}

// choice says which button a message stands for: the id of a WhatsApp
// reply, or else a text equal to a button of the last message sent.
func (s *Service) choice(ctx context.Context, org, convID string, m Inbound) (store.Suggestion, bool) {
	if sg, ok := parseChoice(m.Choice); ok {
		return sg, true
	}
	last, err := s.outbox.LastSuggestions(ctx, org, convID)
	if err != nil {
		s.log.Warn("last buttons of a channel conversation", "conversation", convID, "err", err)
		return store.Suggestion{}, false
	}
	if i, ok := strings.CutPrefix(m.Choice, "i:"); ok {
		if n, err := strconv.Atoi(i); err == nil && n >= 0 && n < len(last) {
			return last[n], true
		}
	}
	for _, sg := range last {
		if sg.Text == m.Text || truncate(sg.Text, waButtonTitle) == m.Text || truncate(sg.Text, waRowTitle) == m.Text {
			return sg, true
		}
	}
	return store.Suggestion{}, false
}

// clientID is the message's dedupe key in botchat (at most 128 bytes).
func clientID(channel, id string) string {
	k := channel + ":" + id
	if len(k) > 120 {
		h := sha256.Sum256([]byte(id))
		k = channel + ":h:" + hex.EncodeToString(h[:])
	}
	return k
}

// config returns a bot's config with secrets, cached for ConfigTTL.
func (s *Service) config(ctx context.Context, org, bot string) (Config, error) {
	key := org + "/" + bot
	s.mu.Lock()
	c, ok := s.configs[key]
	s.mu.Unlock()
	if ok && time.Since(c.at) < s.o.ConfigTTL {
		return c.cfg, nil
	}
	if s.o.Auto == nil {
		return nil, status.Error(codes.Unavailable, "botauto is not deployed: channel bots have no config")
	}
	resp, err := s.o.Auto.GetBot(authz.ForOrg(ctx, org), &autov1.GetBotRequest{Bot: bot})
	if status.Code(err) == codes.NotFound || status.Code(err) == codes.InvalidArgument {
		return nil, status.Error(codes.NotFound, "no such bot")
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "bot config: %s", status.Convert(err).Message())
	}
	cfg := Config(resp.GetBot().GetConfig())
	s.mu.Lock()
	if len(s.configs) > 10000 {
		s.configs = map[string]cachedConfig{}
	}
	s.configs[key] = cachedConfig{cfg: cfg, at: time.Now()}
	s.mu.Unlock()
	return cfg, nil
}
