package botdrive

import (
	"context"
	"sync"
	"time"
)

// getURLs keeps the presigned GETs readURL hands the gateway for a while,
// so a file read again soon is not signed again (signing is about as slow
// as the metadata read). A URL is reused only while it was signed less than
// getURLReuse ago, so the gateway always gets one with at least
// dataURLTTL-getURLReuse to run; every request is still authorised and
// its metadata read before the URL is handed out, and If-Match pins the
// object, so a reused URL grants nothing a fresh one would not.
type getURLs struct {
	mu sync.Mutex
	m  map[string]signedURL
}

type signedURL struct {
	url string
	at  time.Time
}

const (
	getURLReuse = time.Minute
	getURLMax   = 4096 // entries; the cache is emptied of stale ones when full
)

func (c *getURLs) get(ctx context.Context, key string, sign func(context.Context, string, time.Duration) (string, error)) (string, error) {
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.m[key]; ok && now.Sub(e.at) < getURLReuse && now.After(e.at) {
		c.mu.Unlock()
		return e.url, nil
	}
	c.mu.Unlock()
	u, err := sign(ctx, key, dataURLTTL)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]signedURL)
	}
	if len(c.m) >= getURLMax {
		for k, e := range c.m {
			if now.Sub(e.at) >= getURLReuse || !now.After(e.at) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= getURLMax {
			clear(c.m)
		}
	}
	c.m[key] = signedURL{u, now}
	return u, nil
}
