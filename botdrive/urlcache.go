package botdrive

import (
	"context"
	"sync"
	"time"
)

// getURLs keeps the presigned GETs readURL hands out (to the gateway, or
// through it to the client with S3_DOWNLOAD_REDIRECT) for a while, so a
// file read again soon is not signed again (signing is about as slow as
// the metadata read). A URL is reused only while it was signed less than
// a fifth of its lifetime ago (a minute of dataURLTTL), so whoever gets one
// always has at least four fifths of it to run; every request is still
// authorised and its metadata read before the URL is handed out, so a
// reused URL grants nothing a fresh one would not.
type getURLs struct {
	mu sync.Mutex
	m  map[getURLKey]signedURL
}

// getURLKey names one presigned GET: the object and the content type its
// answer carries.
type getURLKey struct{ key, contentType string }

type signedURL struct {
	url string
	at  time.Time
}

const getURLMax = 4096 // entries; the cache is emptied of stale ones when full

// get returns a presigned GET of key answering with contentType, valid
// for ttl, signed anew when the one kept is older than ttl/5.
func (c *getURLs) get(ctx context.Context, key, contentType string, ttl time.Duration, sign func(context.Context, string, time.Duration, string) (string, error)) (string, error) {
	now := time.Now()
	reuse := ttl / 5
	fresh := func(e signedURL) bool { return now.Sub(e.at) < reuse && now.After(e.at) }
	k := getURLKey{key, contentType}
	c.mu.Lock()
	if e, ok := c.m[k]; ok && fresh(e) {
		c.mu.Unlock()
		return e.url, nil
	}
	c.mu.Unlock()
	u, err := sign(ctx, key, ttl, contentType)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[getURLKey]signedURL)
	}
	if len(c.m) >= getURLMax {
		for k, e := range c.m {
			if !fresh(e) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= getURLMax {
			clear(c.m)
		}
	}
	c.m[k] = signedURL{u, now}
	return u, nil
}
