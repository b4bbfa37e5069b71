package httpapi

import (
	"sync"
	"time"
)

// ttlCache is a map whose entries expire after a fixed TTL. It holds at most
// max entries; when full, expired entries are dropped, and if none are, the
// whole map is, so memory stays bounded under any key pattern. Callers only
// store found results: a miss is never cached.
type ttlCache[K comparable, V any] struct {
	ttl time.Duration
	max int

	mu sync.RWMutex
	m  map[K]ttlEntry[V]
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

// put stores v for k until the TTL passes.
func (c *ttlCache[K, V]) put(k K, v V) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
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
	for k, e := range c.m {
		if match(k, e.v) {
			delete(c.m, k)
		}
	}
}
