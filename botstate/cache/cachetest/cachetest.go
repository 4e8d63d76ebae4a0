// Package cachetest gives tests a Redis-backed cache.Cache of their own on
// the machine's Redis, isolated by a random key prefix and cleaned up when
// the test ends.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botserver-go/botserver-go/botstate/cache"
)

// DefaultRedisURL is used when REDIS_URL is unset: the machine's local Redis.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// RedisURL is the Redis tests use: REDIS_URL or DefaultRedisURL.
func RedisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// Redis returns a Redis cache whose keys live under a prefix unique to this
// call, and the prefix. The keys are deleted and the cache closed when the
// test ends. No Redis is a test failure, not a skip: `make infra` starts one.
func Redis(t testing.TB) (cache.Cache, string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + hex.EncodeToString(b[:]) + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cache.New(ctx, RedisURL(), prefix)
	if err != nil {
		t.Fatalf("cachetest: %v (run `make infra`)", err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		if err := DeleteKeys(RedisURL(), prefix); err != nil {
			t.Logf("cachetest: clean up %s*: %v", prefix, err)
		}
	})
	return c, prefix
}

// DeleteKeys deletes every key starting with prefix (which must hold no
// glob characters) on the Redis at redisURL.
func DeleteKeys(redisURL, prefix string) error {
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
