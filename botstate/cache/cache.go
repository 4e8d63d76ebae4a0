// Package cache is the small key/value cache services share: byte values
// with TTLs and an expiring counter for fixed-window rate limits.
//
// Two implementations honour the same contract (see cache_test.go): Redis,
// shared by every replica and process, and an in-process map for a single
// process or development. New picks one from a Redis URL; "" means
// in-process. Keys are namespaced by a prefix so services and tests can
// share one Redis.
package cache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cache is a key/value cache. Implementations are safe for concurrent use.
// A missing or expired key is not an error: Get reports ok == false.
type Cache interface {
	// Get returns the value of key and whether it was present.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores val under key; ttl <= 0 means no expiry.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Incr adds 1 to a counter that expires ttl after its first increment
	// (later increments do not extend it) and returns the new value. Used
	// for fixed-window rate limits. ttl <= 0 means no expiry. Incrementing
	// a key holding a non-integer value is an error.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Close releases the cache's resources; the cache is unusable after.
	Close() error
}

// ErrClosed is returned by the in-process cache after Close.
var ErrClosed = errors.New("cache: closed")

// pingTimeout bounds the start-up check when ctx has no deadline of its own.
const pingTimeout = 5 * time.Second

// New returns the in-process cache when redisURL is "" and otherwise a Redis
// cache (redis:// or rediss:// URL, see redis.ParseURL) whose keys all start
// with prefix. Redis is pinged now so a wrong address fails at start, not on
// the first request.
func New(ctx context.Context, redisURL string, prefix string) (Cache, error) {
	if redisURL == "" {
		return NewMemory(), nil
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		// url.Error repeats the URL, password included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cache: REDIS_URL is not a valid Redis URL: %v", err)
	}
	client := redis.NewClient(opt)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pingTimeout)
		defer cancel()
	}
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("cache: Redis at %s (REDIS_URL) is not reachable: %w", opt.Addr, err)
	}
	return NewRedis(client, prefix), nil
}
