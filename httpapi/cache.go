package httpapi

import (
	"sync"
	"time"
)

// ttlCache is a map whose entries expire after a fixed TTL. It holds at most
// max entries; when full, expired entries are dropped, and if none are, the
// whole map is, so memory stays bounded under any key pattern. Callers only
// store found results: a miss is never cached.
//
// Every drop moves the cache to a new epoch. A caller that looks a value up
// takes the epoch first and stores the value with putAt, which refuses it if
// a drop came in between: a value read before a change cannot be stored
// after the drop that was meant to remove it.
type ttlCache[K comparable, V any] struct {
	ttl time.Duration
	max int

	mu    sync.RWMutex
	m     map[K]ttlEntry[V]
	epoch uint64
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, max int) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, max: max, m: make(map[K]ttlEntry[V])}
}

// get returns the live value for k.
func (c *ttlCache[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// currentEpoch returns the epoch to pass to putAt.
func (c *ttlCache[K, V]) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// putAt stores v for k until the TTL passes, unless the cache has left
// epoch since the caller took it.
func (c *ttlCache[K, V]) putAt(k K, v V, epoch uint64) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = ttlEntry[V]{v: v, expires: now.Add(c.ttl)}
}

// drop forgets the entries for which match is true.
func (c *ttlCache[K, V]) drop(match func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for k, e := range c.m {
		if match(k, e.v) {
			delete(c.m, k)
		}
	}
}

// forget drops the entries of keys.
func (c *ttlCache[K, V]) forget(keys ...K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for _, k := range keys {
		delete(c.m, k)
	}
}
