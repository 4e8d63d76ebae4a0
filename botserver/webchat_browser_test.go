package botserver_test

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/botserver-go/botserver-go/botauth"
	"github.com/botserver-go/botserver-go/botauto"
	"github.com/botserver-go/botserver-go/botchat"
	authapi "github.com/botserver-go/botserver-go/botcore/api/auth"
	chatapi "github.com/botserver-go/botserver-go/botcore/api/chat"
	"github.com/botserver-go/botserver-go/botcore/api/webchat"
	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botllm"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
)

// webChatStack is chatStack plus the web chat's theme route. The gateway
// reads themes as a service, so the services share a known service key.
func webChatStack(t *testing.T) string {
	t.Helper()
	up := httptest.NewServer(&openAI{})
	t.Cleanup(up.Close)
	bots, err := filepath.Abs("../bots")
	if err != nil {
		t.Fatal(err)
	}
	seed := base64.RawURLEncoding.EncodeToString([]byte("web chat browser test seed 32by!"))
	addrs := apptest.Start(t, []string{"BOTS_DIR=" + bots, "BOTS_RELOAD_INTERVAL=0", "LLM_URL=" + up.URL, "LLM_MODEL=tiny-test",
		"AUTH_SERVICE_KEY=" + seed, "BOOTSTRAP_ADMIN_EMAIL=root@example.com", "BOOTSTRAP_ADMIN_PASSWORD=root password 123"},
		botauth.Service(), botllm.Service(), botauto.Service(), botchat.Service())
	key, err := authz.ParseServiceKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpcx.Dial(addrs.GRPC, 30*time.Second, authz.NewServiceTokens("botcore", "", key).DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	gw, err := gateway.New(gateway.Options{}) // the embedded web chat
	if err != nil {
		t.Fatal(err)
	}
	authapi.Register(gw, cc)
	chatapi.Register(gw, cc)
	webchat.Register(gw, cc)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}

// browser starts headless Debian chromium.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no chromium: run scripts/chromium.sh (make chromium), i.e. 'apt-get update && apt-get install -y chromium' as root")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(360, 740), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	// The first run starts the browser, which lives as long as that
	// context: no timeout on it, only on what follows.
	if err := chromedp.Do(bctx); err != nil {
		cancelB()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelC := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	return ctx
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			log, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("log").innerText + " | status: " + document.getElementById("status").innerText`))
			t.Fatalf("%s: not within 20s; page shows:\n%s", what, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// The browser test: the page loads with the bot's theme, a
// suggestion click sends it and the bot's reply appears, a tool suggestion
// runs the tool, and a streamed LLM answer renders progressively and
// completely; at phone width, with nothing wider than the screen.
func TestWebChatInBrowser(t *testing.T) {
	base := webChatStack(t)
	ctx := browser(t)

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateTouch), chromedp.Navigate(base+"/chat/sample")); err != nil {
		t.Fatal(err)
	}
	// Theme from config.csv (theme-title, theme-color1/2).
	waitJS(t, ctx, "theme title", `document.getElementById("title").textContent === "Acme Bikes" && document.title === "Acme Bikes"`)
	if c := evalJS[string](t, ctx, `getComputedStyle(document.documentElement).getPropertyValue("--c1").trim()`); c != "#0b6e4f" {
		t.Errorf("theme-color1: --c1 is %q", c)
	}
	if bg := evalJS[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(244, 244, 244)" {
		t.Errorf("theme-color2: body background %q", bg)
	}

	// The greeting and its menu as buttons.
	waitJS(t, ctx, "greeting", `[...document.querySelectorAll(".msg.bot")].some(e => e.textContent.startsWith("Hello! I am Acme"))`)
	waitJS(t, ctx, "menu", `[...document.querySelectorAll("#suggestions button")].map(b => b.textContent).join("|") === "Opening hours|Book a repair|Ask a question"`)
	if s := evalJS[string](t, ctx, `document.getElementById("status").textContent`); s != "Online" {
		t.Errorf("status %q", s)
	}

	// A suggestion click sends it: it shows as the visitor's message and the
	// script answers (HEAR took it).
	click := func(label string) {
		t.Helper()
		ok := evalJS[bool](t, ctx, `(() => { const b = [...document.querySelectorAll("#suggestions button")].find(b => b.textContent === `+jsString(label)+`);
			if (!b) return false; b.click(); return true })()`)
		if !ok {
			t.Fatalf("no suggestion %q", label)
		}
	}
	click("Opening hours")
	waitJS(t, ctx, "reply to the suggestion", `[...document.querySelectorAll(".msg.bot")].some(e => e.textContent === "Which city? We are in Lisbon and Porto.")`)
	if u := evalJS[string](t, ctx, `[...document.querySelectorAll(".msg.user")].map(e => e.textContent).join("|")`); u != "Opening hours" {
		t.Errorf("the visitor's messages: %q", u)
	}
	// A tool suggestion (ADD SUGGESTION TOOL) runs the tool.
	waitJS(t, ctx, "tool suggestion", `[...document.querySelectorAll("#suggestions button")].some(b => b.textContent === "Hours in Lisbon" && b.dataset.kind === "tool")`)
	click("Hours in Lisbon")
	waitJS(t, ctx, "tool result", `[...document.querySelectorAll(".msg.bot")].some(e => e.textContent === "Our Lisbon store is open 09:00 to 18:00, every day.")`)

	// A streamed LLM answer: record the last bubble on every change, then
	// ask for the story (30 chunks, 20 ms apart).
	evalJS[bool](t, ctx, `(() => { window.__seen = [];
		new MutationObserver(() => { const b = [...document.querySelectorAll(".msg.bot")].pop();
			window.__seen.push([b.textContent, b.dataset.complete]); }).observe(document.getElementById("log"), {subtree: true, childList: true, characterData: true});
		return true })()`)
	if err := chromedp.Do(ctx, chromedp.SendKeys("#input", "tell me a story"), chromedp.Click("#send")); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := 1; i <= storyChunks; i++ {
		want.WriteString("part" + strconv.Itoa(i) + " ")
	}
	waitJS(t, ctx, "the whole story", `(() => { const b = [...document.querySelectorAll(".msg.bot")].pop();
		return b.dataset.complete === "true" && b.textContent.trim() === `+jsString(strings.TrimSpace(want.String()))+` })()`)
	partial := evalJS[int](t, ctx, `new Set(window.__seen.filter(s => s[1] === "false" && s[0].startsWith("part1 ")).map(s => s[0])).size`)
	if partial < 3 {
		t.Errorf("the answer did not render progressively: %d partial states seen", partial)
	}
	if typing := evalJS[bool](t, ctx, `document.getElementById("typing").hidden`); !typing {
		t.Error("the typing indicator is still shown after the answer")
	}

	// Phone width: nothing scrolls sideways.
	if w := evalJS[int](t, ctx, `document.documentElement.scrollWidth`); w > 360 || evalJS[int](t, ctx, `window.innerWidth`) != 360 {
		t.Errorf("page is %d px wide at a 360 px screen", w)
	}

	// The renderer escapes before it formats.
	html := evalJS[string](t, ctx, `renderMarkdown("<img src=x onerror=alert(1)> **bold** _it_ `+"`<b>`"+` [bad](javascript:alert(1)) [ok](https://example.com/a_b_c)\n- one\n- two")`)
	for _, s := range []string{"&lt;img src=x onerror=alert(1)&gt;", "<strong>bold</strong>", "<em>it</em>", "<code>&lt;b&gt;</code>",
		"[bad](javascript:alert(1))", `<a href="https://example.com/a_b_c" target="_blank" rel="noopener noreferrer">ok</a>`, "<ul><li>one</li><li>two</li></ul>"} {
		if !strings.Contains(html, s) {
			t.Errorf("markdown lacks %q:\n%s", s, html)
		}
	}
	if strings.Contains(html, "<img") {
		t.Errorf("markdown let HTML through:\n%s", html)
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
