package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botserver-go/botserver-go/botstate/cache"
)

// DefaultRedisURL is used when REDIS_URL is unset: the machine's local Redis.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// RedisURL is the Redis tests use: REDIS_URL or DefaultRedisURL.
func RedisURL() string { return envOr("REDIS_URL", DefaultRedisURL) }

// NewRedis returns a Redis cache whose keys live under a prefix unique to this
// call, and the prefix. The keys are deleted and the cache closed when the
// test ends. No Redis is a test failure, not a skip: `make infra` starts one.
func NewRedis(t testing.TB) (cache.Cache, string) {
	t.Helper()
	prefix := "test:" + randomSuffix() + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cache.New(ctx, RedisURL(), prefix)
	if err != nil {
		t.Fatalf("testutil: %v (run `make infra`)", err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		if err := deleteKeys(RedisURL(), prefix); err != nil {
			t.Logf("testutil: clean up %s*: %v", prefix, err)
		}
	})
	return c, prefix
}

// deleteKeys deletes every key starting with prefix (which must hold no
// glob characters) on the Redis at redisURL.
func deleteKeys(redisURL, prefix string) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := rc.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return rc.Del(ctx, keys...).Err()
}
