package server

import (
	"sync"
	"time"

	"github.com/botserver-go/botserver-go/botauto/store"
)

// convCache keeps, per conversation, the script state this replica saved
// last. A turn whose caller says (ConverseRequest.known_turn) that this is
// still the conversation's latest state runs from memory instead of reading
// it back; any other turn number reads it, so a state saved by another
// replica is never missed. The save's optimistic check (turn = previous)
// still guards against two turns at once.
type convCache struct {
	mu sync.Mutex
	m  map[convKey]store.Conversation
}

type convKey struct{ org, id string }

// maxCachedConvs bounds the cache: a miss costs one read, so when full a
// tenth is dropped at random (map order).
const maxCachedConvs = 50_000

func (c *convCache) get(org, id string, turn int64) (*store.Conversation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv, ok := c.m[convKey{org, id}]
	if !ok || cv.Turn != turn {
		return nil, false
	}
	return &cv, true
}

func (c *convCache) put(org string, cv *store.Conversation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[convKey]store.Conversation{}
	}
	if len(c.m) >= maxCachedConvs {
		for k := range c.m {
			if len(c.m) < maxCachedConvs*9/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[convKey{org, cv.ID}] = *cv
}

func (c *convCache) drop(org, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, convKey{org, id})
}

// defaultVersionFresh is Options.VersionFresh's default: a package loaded
// on another replica reaches turns that run from memory within it (on this
// replica, at once).
const defaultVersionFresh = time.Second

type confirmedVersion struct {
	version string
	at      time.Time
}

// freshVersion returns the bot's live version if it was read or loaded
// within Options.VersionFresh.
func (s *Server) freshVersion(org, bot string) (string, bool) {
	fresh := s.versionFresh
	if fresh <= 0 {
		fresh = defaultVersionFresh
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.versions[liveKey{org, bot}]
	if !ok || time.Since(v.at) >= fresh {
		return "", false
	}
	return v.version, true
}

func (s *Server) confirmVersion(org, bot, version string) {
	if version == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions[liveKey{org, bot}] = confirmedVersion{version, time.Now()}
}
