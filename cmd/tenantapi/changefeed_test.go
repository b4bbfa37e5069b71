package main

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCachesFollowTheChangeFeed checks the contract of the caches: found
// keys and tenant statuses are kept for CACHE_MAX_AGE, far beyond
// CACHE_TTL, yet every change made through another process takes effect
// within CACHE_TTL, read from the registry's change feed; a new key works
// at once and a recreated tenant is not mistaken for the deleted one.
func TestCachesFollowTheChangeFeed(t *testing.T) {
	e := setup(t, func(c *serverConfig) { c.CacheMaxAge = 1500 * time.Millisecond })
	for _, id := range []string{"a", "b", "c", "d"} {
		e.tenant(id)
	}
	other := e.peer(nil)                                          // another process: it learns only from the feed
	open := e.peer(func(c *serverConfig) { c.AuthMode = "none" }) // caches tenant statuses only
	ttl := e.cfg.CacheTTL + 20*time.Millisecond                   // the commit precedes the admin API's answer
	// Twice: what a process caches before its first read of the feed is
	// dropped at that read (the first cache hit), and cached again.
	for range 2 {
		for _, id := range []string{"a", "b", "c", "d"} {
			expect(t, other.as(id, "GET", "/items", ""), 200, "")
			expect(t, open.as(id, "GET", "/items", ""), 200, "")
		}
	}

	// Kept beyond CACHE_TTL: a key row deleted behind the product's back
	// (so the feed has nothing to report) still opens the cached tenant
	// until CACHE_MAX_AGE, while a process without the entry refuses it.
	conn, err := pgx.Connect(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	cachedAt := time.Now()
	if _, err := conn.Exec(t.Context(), `DELETE FROM public.api_keys WHERE tenant_uid = (SELECT uid FROM public.tenants WHERE id = 'd')`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * e.cfg.CacheTTL)
	expect(t, other.as("d", "GET", "/items", ""), 200, "")
	expect(t, e.peer(nil).as("d", "GET", "/items", ""), 401, "unauthorized")

	// A revocation, a suspension and a resumption made through e reach
	// the other processes within CACHE_TTL.
	r := e.admin("GET", "/admin/tenants/a/api-keys", "")
	expect(t, r, 200, "")
	keyID := r.json(t)["api_keys"].([]any)[0].(map[string]any)["id"].(string)
	expect(t, e.admin("DELETE", "/admin/tenants/a/api-keys/"+keyID, ""), 204, "")
	expect(t, e.admin("PATCH", "/admin/tenants/b", `{"status":"suspended"}`), 200, "")
	time.Sleep(ttl)
	expect(t, other.as("a", "GET", "/items", ""), 401, "unauthorized")
	expect(t, other.as("b", "GET", "/items", ""), 403, "tenant-suspended")
	expect(t, open.as("b", "GET", "/items", ""), 403, "tenant-suspended")
	expect(t, e.admin("PATCH", "/admin/tenants/b", `{"status":"active"}`), 200, "")
	time.Sleep(ttl)
	expect(t, other.as("b", "GET", "/items", ""), 200, "")
	expect(t, open.as("b", "GET", "/items", ""), 200, "")

	// A deleted tenant created again: the old key is refused, the new one
	// works at once, and the process without keys serves the new tenant.
	oldKey := e.keyOf["c"]
	expect(t, e.admin("DELETE", "/admin/tenants/c", ""), 204, "")
	expect(t, open.as("c", "GET", "/items", ""), 404, "tenant-not-found")
	e.tenant("c")
	other.keyOf["c"], open.keyOf["c"] = e.keyOf["c"], e.keyOf["c"]
	expect(t, other.as("c", "GET", "/items", ""), 200, "")
	expect(t, open.as("c", "GET", "/items", ""), 200, "")
	expect(t, other.as("c", "GET", "/items", "", "Authorization", "Bearer "+oldKey), 401, "unauthorized")

	// Past CACHE_MAX_AGE the deleted key row is finally looked up again.
	time.Sleep(time.Until(cachedAt.Add(e.cfg.CacheMaxAge + 50*time.Millisecond)))
	expect(t, other.as("d", "GET", "/items", ""), 401, "unauthorized")
}
