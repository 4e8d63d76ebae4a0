// Package webchat is the small public API the web chat page needs besides
// the chat protocol: a bot's look.
//
//	GET /api/v1/bots/{bot}/theme   → {"bot","bot_name","title","color1","color2","logo","welcome_message"}
//
// The page is shown before anyone signs in, so the route is public. It asks
// botauto for the bot with this gateway's service identity in the default
// organisation (the one visitor sessions use when they name no org) and
// answers with the theme keys of config.csv only; no other setting, secret
// or not, ever leaves. Values the page would put into CSS or an <img> are
// checked here, so a bad config.csv cannot inject style or script.
package webchat

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botstate/authz"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// Theme is the JSON of the theme route.
type Theme struct {
	Bot            string `json:"bot"`
	BotName        string `json:"bot_name"`
	Title          string `json:"title"`
	Color1         string `json:"color1"`
	Color2         string `json:"color2"`
	Logo           string `json:"logo"`
	WelcomeMessage string `json:"welcome_message"`
}

// cacheFor is how long a theme is reused (here and by browsers): pages load
// often, config.csv changes rarely, and a minute of staleness is harmless.
const cacheFor = time.Minute

var (
	botRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`)
)

// Register mounts the routes on gw, calling botauto through cc (a
// connection of the app framework, which adds the service token).
func Register(gw *gateway.Gateway, cc grpc.ClientConnInterface) {
	a := &api{auto: autov1.NewAutoServiceClient(cc), now: time.Now, cache: map[string]cached{}}
	gw.HandleFunc("GET /api/v1/bots/{bot}/theme", a.theme)
}

type cached struct {
	t       Theme
	private bool
	exp     time.Time
}

type api struct {
	auto autov1.AutoServiceClient
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]cached // by bot; bounded by the number of loaded bots
}

func (a *api) theme(w http.ResponseWriter, r *http.Request) {
	bot := r.PathValue("bot")
	if !botRE.MatchString(bot) {
		gateway.WriteError(w, http.StatusBadRequest, gateway.CodeBadRequest, "bot must be a bot name ([a-z0-9][a-z0-9-]{0,62})")
		return
	}
	t, err := a.lookup(r.Context(), bot)
	if err != nil {
		code, name, msg := httpStatus(err)
		gateway.WriteError(w, code, name, msg)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	gateway.WriteJSON(w, http.StatusOK, t)
}

func (a *api) lookup(ctx context.Context, bot string) (Theme, error) {
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[bot]
	a.mu.Unlock()
	if ok && now.Before(c.exp) {
		if c.private {
			return Theme{}, errPrivate
		}
		return c.t, nil
	}
	ctx, cancel := context.WithTimeout(authz.ForOrg(ctx, authz.DefaultOrgID), 5*time.Second)
	defer cancel()
	resp, err := a.auto.GetBot(ctx, &autov1.GetBotRequest{Bot: bot})
	if err != nil {
		return Theme{}, err
	}
	cfg := resp.GetBot().GetConfig()
	t, private := FromConfig(bot, cfg), !Public(cfg)
	a.mu.Lock()
	if len(a.cache) > 10000 { // only loaded bots get here; bound it anyway
		clear(a.cache)
	}
	a.cache[bot] = cached{t: t, private: private, exp: now.Add(cacheFor)}
	a.mu.Unlock()
	if private {
		return Theme{}, errPrivate
	}
	return t, nil
}

// errPrivate answers for a bot visitors may not open as for one that does
// not exist: its look is not public either.
var errPrivate = status.Error(codes.NotFound, "no such bot")

// Public reports whether visitors may talk to the bot: unless config.csv
// says public,false (the rule botauto registers bots with).
func Public(cfg map[string]string) bool {
	return !strings.EqualFold(strings.TrimSpace(cfg["public"]), "false")
}

// FromConfig picks the theme keys of a bot's config.csv, dropping values
// that are not safe to use as they are.
func FromConfig(bot string, cfg map[string]string) Theme {
	t := Theme{
		Bot:            bot,
		BotName:        text(cfg["bot-name"], 100),
		Title:          text(cfg["theme-title"], 100),
		Color1:         color(cfg["theme-color1"]),
		Color2:         color(cfg["theme-color2"]),
		Logo:           logo(cfg["theme-logo"]),
		WelcomeMessage: text(cfg["welcome-message"], 2000),
	}
	if t.Title == "" {
		t.Title = t.BotName
	}
	if t.Title == "" {
		t.Title = bot
	}
	return t
}

// text trims and bounds a display string (the page escapes it).
func text(s string, max int) string {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

// color allows hex colours only: anything else could carry CSS.
func color(s string) string {
	s = strings.TrimSpace(s)
	if colorRE.MatchString(s) {
		return s
	}
	return ""
}

// logo allows a path on this site or an https URL (the page's CSP decides
// whether a foreign image loads; javascript:, data: and the like never do).
func logo(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2048 || strings.ContainsAny(s, " \t\r\n\"'<>\\") {
		return ""
	}
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") || strings.HasPrefix(s, "https://") {
		return s
	}
	return ""
}

func httpStatus(err error) (int, string, string) {
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound, codes.InvalidArgument:
		// A missing bot and a malformed one look alike to the public.
		return http.StatusNotFound, gateway.CodeNotFound, "no such bot"
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return http.StatusServiceUnavailable, gateway.CodeUnavailable, "botauto is unavailable"
	case codes.Unauthenticated, codes.PermissionDenied:
		// The gateway's own service identity was refused: a deployment error.
		return http.StatusServiceUnavailable, gateway.CodeUnavailable, "the gateway may not read bots: check AUTH_SERVICE_KEY"
	}
	return http.StatusInternalServerError, gateway.CodeInternal, "internal error"
}
