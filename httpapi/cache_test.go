package httpapi

import (
	"testing"
	"time"
)

// TestCachePutAfterDrop checks the epoch rule: a value looked up before a
// drop is not stored after it, so a lookup racing a change feed read cannot
// bring back what the read dropped.
func TestCachePutAfterDrop(t *testing.T) {
	c := newTTLCache[string, int](time.Minute, 10)
	epoch := c.currentEpoch()
	c.forget("k") // the feed drops k while a lookup of k is under way
	c.putAt("k", 1, epoch)
	if _, ok := c.get("k"); ok {
		t.Fatal("a value read before the drop was stored after it")
	}
	c.putAt("k", 2, c.currentEpoch())
	if v, ok := c.get("k"); !ok || v != 2 {
		t.Fatalf("get = %v, %v; want 2", v, ok)
	}
	epoch = c.currentEpoch()
	c.drop(func(string, int) bool { return false })
	c.putAt("j", 3, epoch)
	if _, ok := c.get("j"); ok {
		t.Fatal("putAt ignored a drop that came in between")
	}
}
