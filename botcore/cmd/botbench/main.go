// Command botbench is the chat load tool: N concurrent visitor conversations
// over the chat WebSocket, each playing a scripted dialog against a running
// server, closed loop (the next message goes as soon as the answer is in).
// It reports turns per second and turn latency percentiles, where a turn is
// "send a message → the last frame of its answer".
//
//	botbench -url http://localhost:8080 -bot sample -sessions 1000 -duration 30s
//
// A visitor session is made per conversation (POST /api/v1/sessions), so run
// the server with RATE_LIMIT=0 (or high): the gateway's limit is per client
// IP, and every simulated visitor comes from this machine.
//
// The script has one input per line: text is a user message (type 1);
// "/tool <name> [json args]" runs a tool directly (type 6). Empty lines and
// lines starting with # are skipped. When a conversation has played the
// whole script it ends and a new visitor starts over, so scripts that leave
// a bot's dialog (and would need an LLM) stay in it. The default script is
// the sample bot's repair booking, a wrong answer included, and two tools.
//
// Without an LLM the answer of a scripted turn is one message; a turn ends
// at the first complete message or error frame after the message was sent
// (-messages sets how many complete messages a turn has).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

const defaultScript = `# The sample bot's repair booking (start.bas), then its tool.
Book a repair
a few
2
rider@example.com
/tool opening-hours {"city":"Porto"}
/tool opening-hours
`

type step struct {
	content string
	kind    int // 1 user text, 6 tool
	args    json.RawMessage
}

func parseScript(src string) ([]step, error) {
	var out []step
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "/tool "); ok {
			name, args, _ := strings.Cut(strings.TrimSpace(rest), " ")
			s := step{content: name, kind: 6}
			if args = strings.TrimSpace(args); args != "" {
				if !json.Valid([]byte(args)) {
					return nil, fmt.Errorf("script line %d: tool arguments are not JSON: %s", n, args)
				}
				s.args = json.RawMessage(args)
			}
			out = append(out, s)
			continue
		}
		if len(line) > 4000 {
			return nil, fmt.Errorf("script line %d: longer than 4000 bytes", n)
		}
		out = append(out, step{content: line, kind: 1})
	}
	if len(out) == 0 {
		return nil, errors.New("the script has no input")
	}
	return out, sc.Err()
}

type config struct {
	base     *url.URL
	bot      string
	sessions int
	duration time.Duration
	warmup   time.Duration
	ramp     time.Duration
	think    time.Duration
	messages int
	timeout  time.Duration
	script   []step
}

// stats are shared by the workers; latencies are appended under mu.
type stats struct {
	measuring atomic.Bool
	turns     atomic.Int64
	errFrames atomic.Int64
	failures  atomic.Int64 // connection or protocol failures
	convs     atomic.Int64

	mu        sync.Mutex
	latencies []time.Duration
	lastErr   string
}

func (s *stats) fail(err error) {
	s.failures.Add(1)
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
}

func main() {
	var (
		rawURL     = flag.String("url", "http://localhost:8080", "base URL of the gateway")
		scriptFile = flag.String("script", "", "file of inputs, one per line (default: the sample bot's dialog)")
		c          config
	)
	flag.StringVar(&c.bot, "bot", "sample", "bot to talk to (a public bot)")
	flag.IntVar(&c.sessions, "sessions", 100, "concurrent conversations")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "how long to measure")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "run this long after every session is connected before measuring")
	flag.DurationVar(&c.ramp, "ramp", 5*time.Second, "spread the sessions' starts over this long")
	flag.DurationVar(&c.think, "think", 0, "pause between an answer and the next message")
	flag.IntVar(&c.messages, "messages", 1, "complete messages that end a turn")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "longest wait for an answer")
	flag.Parse()
	if err := c.setup(*rawURL, *scriptFile); err != nil {
		fmt.Fprintln(os.Stderr, "botbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "botbench:", err)
		os.Exit(1)
	}
}

func (c *config) setup(rawURL, scriptFile string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url must be an http(s) URL, got %q", rawURL)
	}
	c.base = u
	if c.sessions < 1 || c.sessions > 100000 {
		return errors.New("-sessions must be between 1 and 100000")
	}
	if c.duration <= 0 || c.messages < 1 || c.timeout <= 0 || c.ramp < 0 || c.warmup < 0 || c.think < 0 {
		return errors.New("-duration, -messages and -timeout must be positive; -ramp, -warmup and -think not negative")
	}
	src := defaultScript
	if scriptFile != "" {
		b, err := os.ReadFile(scriptFile)
		if err != nil {
			return err
		}
		src = string(b)
	}
	c.script, err = parseScript(src)
	return err
}

func run(ctx context.Context, c *config, out io.Writer) error {
	// One HTTP client for the session calls, with connections enough for
	// every worker; WebSockets dial their own.
	hc := &http.Client{Timeout: c.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: c.sessions, MaxConnsPerHost: 0}}
	st := &stats{}
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fmt.Fprintf(out, "botbench: %d sessions against %s (bot %s), script of %d turns, ramp %s, warm-up %s, measuring %s\n",
		c.sessions, c.base, c.bot, len(c.script), c.ramp, c.warmup, c.duration)
	for i := range c.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.ramp > 0 {
				select {
				case <-time.After(c.ramp * time.Duration(i) / time.Duration(c.sessions)):
				case <-wctx.Done():
					return
				}
			}
			worker(wctx, c, hc, st)
		}()
	}
	select {
	case <-time.After(c.ramp + c.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	st.measuring.Store(true)
	start, cpu0 := time.Now(), cpuTime()
	// Markers for scripts that sample the server while it is measured.
	fmt.Fprintln(out, "window: start")
	select {
	case <-time.After(c.duration):
	case <-ctx.Done():
	}
	st.measuring.Store(false)
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	fmt.Fprintln(out, "window: end")
	cancel()
	wg.Wait()
	report(out, c, st, elapsed, cpu)
	return nil
}

func report(out io.Writer, c *config, st *stats, elapsed, cpu time.Duration) {
	st.mu.Lock()
	lat := slices.Clone(st.latencies)
	lastErr := st.lastErr
	st.mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)-1))
		return lat[i]
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	mean := time.Duration(0)
	if len(lat) > 0 {
		mean = sum / time.Duration(len(lat))
	}
	turns := st.turns.Load()
	fmt.Fprintf(out, "turns:        %d in %.1fs = %.0f turns/s\n", turns, elapsed.Seconds(), float64(turns)/elapsed.Seconds())
	fmt.Fprintf(out, "latency:      mean %s  p50 %s  p95 %s  p99 %s  max %s\n",
		round(mean), round(pct(.50)), round(pct(.95)), round(pct(.99)), round(pct(1)))
	fmt.Fprintf(out, "error frames: %d   failures: %d   conversations started: %d\n", st.errFrames.Load(), st.failures.Load(), st.convs.Load())
	if turns > 0 {
		fmt.Fprintf(out, "botbench CPU:  %s per turn (%.2f cores)\n", round(cpu/time.Duration(turns)), cpu.Seconds()/elapsed.Seconds())
	}
	if lastErr != "" {
		fmt.Fprintf(out, "last failure: %s\n", lastErr)
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// worker plays the script in one conversation after another until ctx ends;
// a failure waits a little and starts a new conversation.
func worker(ctx context.Context, c *config, hc *http.Client, st *stats) {
	for ctx.Err() == nil {
		if err := conversation(ctx, c, hc, st); err != nil && ctx.Err() == nil {
			st.fail(err)
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
}

func conversation(ctx context.Context, c *config, hc *http.Client, st *stats) error {
	token, err := visitor(ctx, c, hc)
	if err != nil {
		return err
	}
	ws := *c.base
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[c.base.Scheme]
	ws.Path = strings.TrimSuffix(ws.Path, "/") + "/ws"
	ws.RawQuery = url.Values{"bot": {c.bot}, "token": {token}}.Encode()
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	conn, _, err := websocket.Dial(dctx, ws.String(), &websocket.DialOptions{HTTPClient: hc})
	cancel()
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	st.convs.Add(1)
	// The greeting (start.bas) answers the connection, not a message.
	if err := readTurn(ctx, c, conn, st); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	for i, s := range c.script {
		if c.think > 0 {
			select {
			case <-time.After(c.think):
			case <-ctx.Done():
				return nil
			}
		}
		frame := map[string]any{"type": "message", "content": s.content, "message_type": s.kind, "client_id": fmt.Sprintf("bench-%d", i)}
		if s.args != nil {
			frame["args"] = s.args
		}
		b, _ := json.Marshal(frame)
		start := time.Now()
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			return ignoreDone(ctx, fmt.Errorf("send: %w", err))
		}
		measured := st.measuring.Load()
		if err := readTurn(ctx, c, conn, st); err != nil {
			return ignoreDone(ctx, fmt.Errorf("turn %d (%q): %w", i+1, s.content, err))
		}
		if d := time.Since(start); measured && st.measuring.Load() {
			st.turns.Add(1)
			st.mu.Lock()
			st.latencies = append(st.latencies, d)
			st.mu.Unlock()
		}
	}
	conn.Close(websocket.StatusNormalClosure, "script done")
	return nil
}

func ignoreDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// readTurn reads frames until the turn's answer is complete.
func readTurn(ctx context.Context, c *config, conn *websocket.Conn, st *stats) error {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for done := 0; done < c.messages; {
		_, data, err := conn.Read(rctx)
		if err != nil {
			return err
		}
		var f struct {
			Type       string `json:"type"`
			IsComplete bool   `json:"is_complete"`
			Role       string `json:"role"`
			Code       string `json:"code"`
			Message    string `json:"message"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("a frame is not JSON: %w", err)
		}
		switch f.Type {
		case "message":
			if f.IsComplete && f.Role != "user" {
				done++
			}
		case "error":
			st.errFrames.Add(1)
			return nil // an answer too: the turn is over
		}
	}
	return nil
}

// visitor opens a visitor session and returns its token.
func visitor(ctx context.Context, c *config, hc *http.Client) (string, error) {
	body, _ := json.Marshal(map[string]string{"bot": c.bot})
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/sessions"
	req, err := http.NewRequestWithContext(ctx, "POST", u.String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("visitor session: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("visitor session: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Token == "" {
		return "", fmt.Errorf("visitor session: no token in %s", b)
	}
	return out.Token, nil
}
