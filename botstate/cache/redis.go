package cache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

type redisCache struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis returns a cache on client whose keys all start with prefix
// (e.g. "botserver:"). The cache owns client: Close closes it.
func NewRedis(client redis.UniversalClient, prefix string) Cache {
	return &redisCache{c: client, prefix: prefix}
}

func (r *redisCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.c.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

func (r *redisCache) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	// go-redis reads a negative expiration as KEEPTTL; the contract says no expiry.
	return r.c.Set(ctx, r.prefix+key, val, max(ttl, 0)).Err()
}

func (r *redisCache) Delete(ctx context.Context, key string) error {
	return r.c.Del(ctx, r.prefix+key).Err()
}

// incrScript increments and, in the same atomic step, sets the expiry only
// when the key has none (PTTL -1: just created, or left without one), which
// is what EXPIRE NX does but also on Redis < 7. A crash can therefore never
// leave a counter that lives forever and rate-limits a client for good.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = tonumber(ARGV[1])
if ttl > 0 and redis.call('PTTL', KEYS[1]) == -1 then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return n`)

func (r *redisCache) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	ms := ttl.Milliseconds()
	if ttl > 0 && ms == 0 {
		ms = 1 // PEXPIRE's unit is the millisecond; don't turn a tiny TTL into none
	}
	return incrScript.Run(ctx, r.c, []string{r.prefix + key}, ms).Int64()
}

func (r *redisCache) Close() error { return r.c.Close() }
