package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestTenantDeleteRacingRequests deletes tenants while their requests
// (creates, lists, reads, merge-patches, deletes of items) and another
// tenant's run. The requests get 2xx, 401 or 404 and never anything else;
// the bystander only 2xx. With a transaction holding a lock on the tenant's
// table and a tiny DROP_LOCK_TIMEOUT, the delete answers 503 unavailable,
// the tenant stays `deleting` (schema and registry row both there), and
// repeating the delete once the lock is gone finishes it. Without the lock,
// the delete answers 204, or 503 and then 204 on a repeat. Afterwards no
// schema lacks its registry row and no registry row lacks its schema.
func TestTenantDeleteRacingRequests(t *testing.T) {
	e := setup(t, func(c *serverConfig) {
		c.DropLockTimeout = 50 * time.Millisecond
		c.DeleteGrace = 300 * time.Millisecond
	})
	for _, id := range []string{"victim", "victim2", "bystander"} {
		e.tenant(id)
		for i := range 5 {
			e.create(id, fmt.Sprintf(`{"name":"seed %d"}`, i))
		}
	}
	// A second server over the same database stands for another process:
	// the admin delete cannot clear its caches, so it keeps serving the
	// victim from them for up to CACHE_TTL.
	other, err := newAPI(e.cfg, e.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// race runs traffic against victim and the bystander until stop is
	// called, and returns the statuses seen.
	race := func(victim string) (stop func() (victimStatuses, bystanderStatuses map[int]int)) {
		e.mu.Lock()
		keys := map[string]string{victim: e.keyOf[victim], "bystander": e.keyOf["bystander"]}
		e.mu.Unlock()
		done := make(chan struct{})
		var mu sync.Mutex
		seen := map[string]map[int]int{victim: {}, "bystander": {}}
		var wg sync.WaitGroup
		worker := func(tenant string, w int) {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			base, key := e.srv.URL, keys[tenant]
			if w%2 == 1 {
				base = otherSrv.URL
			}
			var ids []string
			for i := 0; i < maxLoadRequests; i++ {
				select {
				case <-done:
					return
				default:
				}
				var x hit
				switch op := (w + i) % 5; {
				case op == 0 || len(ids) == 0:
					x = call(client, "create", tenant, key, "POST", base+"/items", fmt.Sprintf(`{"name":"race %d-%d"}`, w, i))
					if x.status == 201 {
						ids = append(ids, x.itemID)
					}
				case op == 1:
					x = call(client, "list", tenant, key, "GET", base+"/items?limit=10", "")
				case op == 2:
					x = call(client, "read", tenant, key, "GET", base+"/items/"+ids[i%len(ids)], "")
				case op == 3:
					x = callTyped(client, "patch", tenant, key, "PATCH", base+"/items/"+ids[i%len(ids)], `{"description":"patched"}`, "application/merge-patch+json")
				default:
					x = call(client, "delete", tenant, key, "DELETE", base+"/items/"+ids[0], "")
					ids = ids[1:]
				}
				mu.Lock()
				seen[tenant][x.status]++
				mu.Unlock()
				if x.err != nil || (x.status/100 != 2 && x.status != 401 && x.status != 404) || (tenant == "bystander" && x.status/100 != 2) {
					t.Errorf("racing the delete of %s: %v", victim, x)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		for w := range 4 {
			wg.Add(1)
			go worker(victim, w)
		}
		for w := range 2 {
			wg.Add(1)
			go worker("bystander", w)
		}
		time.Sleep(300 * time.Millisecond)
		return func() (map[int]int, map[int]int) {
			time.Sleep(300 * time.Millisecond) // requests keep coming after the delete
			close(done)
			wg.Wait()
			return seen[victim], seen["bystander"]
		}
	}

	// With a long transaction holding a lock on the victim's table.
	stop := race("victim")
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT count(*) FROM "tenant_victim".items`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := e.admin("DELETE", "/admin/tenants/victim", "")
	firstDelete := time.Since(start)
	expect(t, r, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	var status string
	var schema bool
	watch, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	if err := watch.QueryRow(ctx, `SELECT status, EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_victim') FROM public.tenants WHERE id = 'victim'`).Scan(&status, &schema); err != nil {
		t.Fatal(err)
	}
	if status != "deleting" || !schema {
		t.Errorf("after the 503: status %q, schema there %v; want deleting, true", status, schema)
	}
	time.Sleep(300 * time.Millisecond) // requests meet the tenant while it is deleting
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Repeating the delete finishes it (another lock, autovacuum's say,
	// may still cost a 503 or two).
	start = time.Now()
	var repeats []int
	for range 10 {
		r := e.admin("DELETE", "/admin/tenants/victim", "")
		repeats = append(repeats, r.status)
		if r.status != 503 {
			expect(t, r, 204, "")
			break
		}
	}
	if repeats[len(repeats)-1] != 204 {
		t.Errorf("repeated deletes never finished: %v", repeats)
	}
	secondDelete := time.Since(start)
	victimSeen, bystanderSeen := stop()
	checkNoHalfDeletedTenants(t, watch)
	expect(t, e.admin("GET", "/admin/tenants/victim", ""), 404, "tenant-not-found")
	t.Logf("with a lock held: delete answered 503 after %v, the repeats %v after %v; victim's requests: %v; bystander's: %v",
		firstDelete.Round(time.Millisecond), repeats, secondDelete.Round(time.Millisecond), victimSeen, bystanderSeen)
	if victimSeen[401]+victimSeen[404] == 0 || bystanderSeen[200] == 0 {
		t.Error("the race did not happen: no 401/404 for the victim or no traffic for the bystander")
	}

	// Without a lock: 204, or 503 and 204 on a repeat.
	stop = race("victim2")
	var statuses []int
	for range 10 {
		r := e.admin("DELETE", "/admin/tenants/victim2", "")
		statuses = append(statuses, r.status)
		if r.status == 204 {
			break
		}
		if r.status != 503 {
			t.Fatalf("delete of victim2: %d %s", r.status, r.body)
		}
	}
	victimSeen, bystanderSeen = stop()
	if statuses[len(statuses)-1] != 204 {
		t.Errorf("delete of victim2 never finished: %v", statuses)
	}
	checkNoHalfDeletedTenants(t, watch)
	t.Logf("without a lock: delete statuses %v; victim2's requests: %v; bystander's: %v", statuses, victimSeen, bystanderSeen)
}

// checkNoHalfDeletedTenants fails the test for a tenant schema without a
// registry row, a registry row without its schema, or keys without a tenant.
func checkNoHalfDeletedTenants(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	var orphanSchemas, orphanRows, deleting int
	err := conn.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM pg_namespace n WHERE n.nspname LIKE 'tenant\_%'
			AND NOT EXISTS (SELECT 1 FROM public.tenants t WHERE 'tenant_' || t.id = n.nspname)),
		(SELECT count(*) FROM public.tenants t
			WHERE NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = 'tenant_' || t.id)),
		(SELECT count(*) FROM public.tenants WHERE status = 'deleting')`).Scan(&orphanSchemas, &orphanRows, &deleting)
	if err != nil {
		t.Fatal(err)
	}
	if orphanSchemas != 0 || orphanRows != 0 || deleting != 0 {
		t.Errorf("half-deleted tenants: %d schemas without a registry row, %d registry rows without a schema, %d tenants still deleting",
			orphanSchemas, orphanRows, deleting)
	}
}
