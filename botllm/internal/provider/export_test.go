package provider

import "net/url"

// EndpointFor exposes endpoint for tests.
func EndpointFor(raw string, kind Kind) string {
	u, _ := url.Parse(raw)
	if kind == "" {
		kind = InferKind(raw)
	}
	if kind == KindAnthropic {
		return endpoint(u, "/messages")
	}
	return endpoint(u, "/chat/completions")
}

var RetryAfter = retryAfter
