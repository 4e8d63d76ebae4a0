package botllm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botllm/internal/gguftiny"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

// llamaServerBinary finds llama-server: $LLAMA_SERVER, else the newest
// build cached by scripts/llama-server.sh (make llama-server).
func llamaServerBinary(t testing.TB) string {
	if p := os.Getenv("LLAMA_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("LLAMA_SERVER=%s: %v", p, err)
		}
		return p
	}
	home, _ := os.UserHomeDir()
	found, _ := filepath.Glob(filepath.Join(home, ".cache", "botserver-go", "llama", "*", "bin", "llama-server"))
	if len(found) == 0 {
		t.Skip("llama-server is not built: run `make llama-server` (scripts/llama-server.sh builds it from the npm package node-llama-cpp; needs npm, git, a C++ compiler and cmake) or set LLAMA_SERVER")
	}
	sort.Strings(found)
	return found[len(found)-1]
}

// startLlama runs llama-server on a tiny random model and returns its base URL.
func startLlama(t testing.TB) string {
	bin := llamaServerBinary(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	if err := gguftiny.WriteFile(model, gguftiny.Config{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	logFile, err := os.Create(filepath.Join(dir, "llama.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-m", model, "--host", host, "--port", port, "-c", "512", "-np", "1", "-t", "1", "--no-webui")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
	exited := make(chan struct{})
	go func() { _, _ = cmd.Process.Wait(); close(exited) }()
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("llama-server exited while loading the tiny model:\n%s", tail(string(log), 3000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("llama-server not healthy after 60s:\n%s", tail(string(log), 3000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// directClient opens a connection per request: llama-server sometimes
// drops a kept-alive connection that a POST then fails on (botllm's
// provider retries that case; the direct reader here has no retries).
var directClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// directDeltas streams the same request straight from llama-server.
func directDeltas(t testing.TB, url string, body map[string]any) []string {
	raw, _ := json.Marshal(body)
	resp, err := directClient.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("direct request: %s", resp.Status)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			out = append(out, c.Choices[0].Delta.Content)
		}
	}
	return out
}

// Tokens from a real llama-server reach the gRPC caller one message per
// streamed token, exactly as llama-server sends them, while it generates.
func TestLlamaServerStreamsTokenByToken(t *testing.T) {
	url := startLlama(t)
	e := start(t)
	const maxTokens = 300
	req := ask("tiny", "hello world", map[string]string{"llm-url": url, "llm-cache": "off"})
	req.Params = &llmv1.Params{Temperature: ptr(0.0), MaxTokens: maxTokens}

	ctx, cancel := context.WithTimeout(e.user("llm:use"), 2*time.Minute)
	defer cancel()
	started := time.Now()
	st, err := e.llm.Chat(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	var arrivals []time.Time
	var last *llmv1.ChatResponse
	for {
		m, err := st.Recv()
		if err != nil {
			if last == nil {
				t.Fatalf("stream: %v", err)
			}
			break
		}
		if m.GetFinishReason() != llmv1.FinishReason_FINISH_REASON_UNSPECIFIED {
			last = m
			arrivals = append(arrivals, time.Now())
			continue
		}
		deltas = append(deltas, m.GetDelta())
		arrivals = append(arrivals, time.Now())
	}
	if len(deltas) < maxTokens/2 {
		t.Fatalf("%d deltas for %d tokens: %q", len(deltas), maxTokens, deltas)
	}
	if last.GetFinishReason() != llmv1.FinishReason_FINISH_REASON_LENGTH || last.GetUsage().GetEstimated() ||
		last.GetUsage().GetCompletionTokens() != maxTokens || last.GetUsage().GetPromptTokens() == 0 {
		t.Fatalf("last = %v", last)
	}
	direct := directDeltas(t, url, map[string]any{"messages": []map[string]string{
		{"role": "system", "content": req.Messages[0].Content}, {"role": "user", "content": "hello world"},
	}, "stream": true, "temperature": 0, "max_tokens": maxTokens})
	if fmt.Sprintf("%q", deltas) != fmt.Sprintf("%q", direct) {
		t.Fatalf("botllm deltas differ from llama-server's own stream:\nbotllm %q\ndirect %q", deltas, direct)
	}
	first, end := arrivals[0].Sub(started), arrivals[len(arrivals)-1].Sub(started)
	// Relayed as generated, the first token arrives long before the 300th
	// is produced; a reply buffered anywhere would arrive all at once.
	if first > end/2 {
		t.Fatalf("first token after %v of %v: the reply was not streamed as generated", first, end)
	}
	t.Logf("%d tokens through botllm: first after %v, last after %v: %.60q…", len(deltas), first, end, strings.Join(deltas, ""))
}

// BenchmarkLlamaStream compares a 64-token reply of the tiny model read
// directly from llama-server with the same reply through botllm.
func BenchmarkLlamaStream(b *testing.B) {
	url := startLlama(b)
	const tokens = 64
	body := map[string]any{"messages": []map[string]string{{"role": "user", "content": "hello world"}},
		"stream": true, "temperature": 0, "max_tokens": tokens}
	b.Run("direct", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if n := len(directDeltas(b, url, body)); n < tokens/2 {
				b.Fatalf("%d deltas", n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "ns/token")
	})
	b.Run("botllm", func(b *testing.B) {
		e := startB(b)
		ctx := e.user("llm:use")
		req := &llmv1.ChatRequest{Bot: "tiny", Config: map[string]string{"llm-url": url, "llm-cache": "off"},
			Messages: []*llmv1.Message{{Role: llmv1.Role_ROLE_USER, Content: "hello world"}},
			Params:   &llmv1.Params{Temperature: ptr(0.0), MaxTokens: tokens}}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if last := drain(b, e, ctx, req); last.GetUsage().GetCompletionTokens() != tokens {
				b.Fatalf("last = %v", last)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "ns/token")
	})
}
