package botllm

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/botserver-go/botserver-go/botllm/internal/provider"
	"github.com/botserver-go/botserver-go/botstate/embed"
)

// botConfig is what one request runs with: the bot's config.csv values over
// the platform settings.
type botConfig struct {
	url, key, model string
	kind            provider.Kind
	temperature     *float64
	maxTokens       int

	cache     bool
	cacheTTL  time.Duration
	semantic  bool
	threshold float64

	embedding embed.Settings
}

// Defaults of the per-bot cache keys (docs/reference: llm-cache on,
// llm-cache-threshold 0.95, semantic off).
const (
	defaultThreshold = 0.95
	maxCacheTTL      = 30 * 24 * time.Hour
)

// resolve merges a bot's config over the settings. A bot that names its own
// llm-url gets only its own llm-key: the platform's key is never sent to
// an endpoint a bot editor chose.
func resolve(s *Settings, cfg map[string]string) (*botConfig, error) {
	get := func(k string) string { return strings.TrimSpace(cfg[k]) }
	c := &botConfig{url: s.URL, key: s.Key, model: s.Model, kind: provider.Kind(s.Provider),
		cache: true, cacheTTL: s.CacheTTL, threshold: defaultThreshold, embedding: s.Embedding}
	if u := get("llm-url"); u != "" {
		same := strings.TrimRight(u, "/") == strings.TrimRight(s.URL, "/")
		if k := get("llm-key"); k != "" || !same {
			c.key = k
		}
		if m := get("llm-model"); m != "" || !same {
			c.model = m
		}
		if !same {
			c.url, c.kind = u, ""
		}
	} else if m := get("llm-model"); m != "" {
		c.model = m
	}
	if k := get("llm-provider"); k != "" {
		switch provider.Kind(strings.ToLower(k)) {
		case provider.KindOpenAI, provider.KindAnthropic:
			c.kind = provider.Kind(strings.ToLower(k))
		default:
			return nil, fmt.Errorf("llm-provider must be openai or anthropic, got %q", k)
		}
	}
	if v := get("llm-temperature"); v != "" {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil || t < 0 || t > 2 {
			return nil, fmt.Errorf("llm-temperature must be a number from 0 to 2, got %q", v)
		}
		c.temperature = &t
	}
	if v := get("llm-max-tokens"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTokensLimit {
			return nil, fmt.Errorf("llm-max-tokens must be a whole number from 1 to %d, got %q", maxTokensLimit, v)
		}
		c.maxTokens = n
	}
	var err error
	if c.cache, err = boolKey(cfg, "llm-cache", true); err != nil {
		return nil, err
	}
	if c.semantic, err = boolKey(cfg, "llm-cache-semantic", false); err != nil {
		return nil, err
	}
	if v := get("llm-cache-ttl"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || time.Duration(n)*time.Second > maxCacheTTL {
			return nil, fmt.Errorf("llm-cache-ttl must be seconds from 1 to %d, got %q", int(maxCacheTTL.Seconds()), v)
		}
		c.cacheTTL = time.Duration(n) * time.Second
	}
	if v := get("llm-cache-threshold"); v != "" {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil || t <= 0 || t > 1 {
			return nil, fmt.Errorf("llm-cache-threshold must be a number above 0 and at most 1, got %q", v)
		}
		c.threshold = t
	}
	if c.embedding, err = embeddingConfig(s.Embedding, cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// embeddingConfig applies a bot's embedding-* keys; as with the LLM, a bot
// with its own embedding-url does not get the platform's key.
func embeddingConfig(base embed.Settings, cfg map[string]string) (embed.Settings, error) {
	get := func(k string) string { return strings.TrimSpace(cfg[k]) }
	e := base
	if u := get("embedding-url"); u != "" {
		e.URL, e.Key, e.Model, e.Dimensions = u, get("embedding-key"), get("embedding-model"), 0
	} else if m := get("embedding-model"); m != "" {
		e.Model = m
	}
	if v := get("embedding-dimensions"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > embed.MaxDimensions {
			return e, fmt.Errorf("embedding-dimensions must be a whole number from 1 to %d, got %q", embed.MaxDimensions, v)
		}
		e.Dimensions = n
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("bot embedding settings: %w", err)
	}
	return e, nil
}

func boolKey(cfg map[string]string, k string, def bool) (bool, error) {
	v := strings.ToLower(strings.TrimSpace(cfg[k]))
	switch v {
	case "":
		return def, nil
	case "on", "true", "yes", "1", "enabled":
		return true, nil
	case "off", "false", "no", "0", "disabled":
		return false, nil
	}
	return false, fmt.Errorf("%s must be on or off, got %q", k, cfg[k])
}
