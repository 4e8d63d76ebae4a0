package botllm

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/botserver-go/botserver-go/botllm/internal/provider"
	"github.com/botserver-go/botserver-go/botstate/embed"
)

// Settings are botllm's platform defaults; a bot's config.csv values
// (passed by the caller in each request) override them.
type Settings struct {
	URL         string        `env:"LLM_URL" desc:"Default LLM endpoint, OpenAI-compatible (OpenAI, Groq, vLLM, Ollama, llama.cpp llama-server; e.g. http://127.0.0.1:8080 or https://api.openai.com/v1) or Anthropic (https://api.anthropic.com). Empty: no generation, answers come from the retrieved knowledge passages. A bot's llm-url overrides it."`
	Key         string        `env:"LLM_KEY" desc:"API key for LLM_URL (sent only to LLM_URL, never to a bot's own llm-url). Secret."`
	Model       string        `env:"LLM_MODEL" desc:"Default model name sent to LLM_URL."`
	Provider    string        `env:"LLM_PROVIDER" desc:"Wire protocol of LLM_URL: openai or anthropic. Empty: anthropic for *.anthropic.com, openai otherwise. A bot's llm-provider overrides it for its own llm-url."`
	Timeout     time.Duration `env:"LLM_TIMEOUT" envDefault:"5m" desc:"Deadline of one generation, retries included."`
	IdleTimeout time.Duration `env:"LLM_IDLE_TIMEOUT" envDefault:"60s" desc:"Longest wait for the LLM server's response headers and then between two pieces of its stream."`
	MaxRetries  int           `env:"LLM_MAX_RETRIES" envDefault:"3" desc:"Retries of a request that failed with 429, 5xx or a connection error before any text reached the caller (back-off from 500ms, Retry-After honoured up to 30s)."`
	CacheTTL    time.Duration `env:"LLM_CACHE_TTL" envDefault:"1h" desc:"Default lifetime of cached answers (a bot's llm-cache-ttl, in seconds, overrides it)."`
	UsageFlush  time.Duration `env:"LLM_USAGE_FLUSH" envDefault:"2s" desc:"How often token usage counted in memory is written to Postgres."`

	Embedding embed.Settings
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	var errs []error
	if s.URL != "" {
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("LLM_URL must be an http(s) URL, got %q", provider.Redact(s.URL)))
		}
	}
	switch provider.Kind(s.Provider) {
	case "", provider.KindOpenAI, provider.KindAnthropic:
	default:
		errs = append(errs, fmt.Errorf("LLM_PROVIDER must be openai or anthropic, got %q", s.Provider))
	}
	if s.Timeout <= 0 || s.IdleTimeout <= 0 {
		errs = append(errs, errors.New("LLM_TIMEOUT and LLM_IDLE_TIMEOUT must be > 0"))
	}
	if s.MaxRetries < 0 || s.MaxRetries > 10 {
		errs = append(errs, fmt.Errorf("LLM_MAX_RETRIES must be between 0 and 10, got %d", s.MaxRetries))
	}
	if s.CacheTTL <= 0 || s.UsageFlush <= 0 {
		errs = append(errs, errors.New("LLM_CACHE_TTL and LLM_USAGE_FLUSH must be > 0"))
	}
	if err := s.Embedding.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
