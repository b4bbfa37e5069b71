package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// accessLogRE finds the status and duration of a tenant request in the
// access log.
var accessLogRE = regexp.MustCompile(`"msg":"request",[^\n]*"route":"/items","status":(\d+),"duration_ms":([0-9.]+)`)

// TestSlowDatabase stalls every query of one tenant (a transaction holds an
// ACCESS EXCLUSIVE lock on its items table) and sends it far more concurrent
// requests than the pool has connections. Each request ends at the request
// deadline with 503 unavailable instead of piling up: the server's
// goroutines and heap stay bounded (measured in a separate process), its
// backends in PostgreSQL too, and once the lock goes the pool serves again.
func TestSlowDatabase(t *testing.T) {
	t.Parallel()
	const (
		requestTimeout = time.Second
		poolSize       = 4
		clients        = 32
		flood          = 4 * time.Second
		// The server must answer at the deadline, give or take scheduling
		// on a busy 2-core machine; the client, which shares that machine,
		// gets more room, enough to tell a late answer from a hang.
		serverSlowest = requestTimeout + time.Second
		clientSlowest = requestTimeout + 5*time.Second
	)
	dbURL := testdb.New(t)
	env := map[string]string{"DATABASE_URL": dbURL, "PORT": "0", "HOST": "127.0.0.1", "ADMIN_TOKEN": testAdminToken,
		"REQUEST_TIMEOUT": requestTimeout.String(), "DB_MAX_CONNS": fmt.Sprint(poolSize), "LOG_LEVEL": "info"}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	srv := startHelper(t, "serve", env)
	base := "http://" + waitFor(t, srv.out, listenRE)[1]
	keys := createTenants(t, base, "slow")
	key := keys["slow"]
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	acked := 0
	for i := range 20 {
		if x := call(client, "create", "slow", key, "POST", base+"/items", fmt.Sprintf(`{"name":"warm %d"}`, i)); x.status != 201 {
			t.Fatalf("warm-up: %v", x)
		}
		acked++
		call(client, "list", "slow", key, "GET", base+"/items?limit=5", "")
	}
	time.Sleep(500 * time.Millisecond)
	before := statsSince(srv.out.String(), 0)

	// Stall the tenant.
	ctx := context.Background()
	_, tx, watch := lockItems(t, dbURL, "slow")

	offset := len(srv.out.String())
	var mu sync.Mutex
	var hits []hit
	var wg sync.WaitGroup
	floodEnd := time.Now().Add(flood)
	for w := range clients {
		wg.Go(func() {
			for i := 0; i < 1000 && time.Now().Before(floodEnd); i++ {
				var x hit
				if (w+i)%2 == 0 {
					x = call(client, "create", "slow", key, "POST", base+"/items", fmt.Sprintf(`{"name":"stalled %d-%d"}`, w, i))
				} else {
					x = call(client, "list", "slow", key, "GET", base+"/items?limit=5", "")
				}
				mu.Lock()
				hits = append(hits, x)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	during := statsSince(srv.out.String(), offset)
	floodLog := srv.out.String()[offset:]
	// Idle keep-alive connections hold a server goroutine each, as they
	// should; close them so that what remains is what requests left.
	client.CloseIdleConnections()

	// The clients are gone and the lock is still held: nothing of theirs
	// may stay behind, in the server or in PostgreSQL.
	time.Sleep(time.Second)
	offset = len(srv.out.String())
	time.Sleep(300 * time.Millisecond)
	idle := statsSince(srv.out.String(), offset)
	var backends, waiting int
	if err := watch.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock')
		FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tenantapi'`).Scan(&backends, &waiting); err != nil {
		t.Fatal(err)
	}

	released := time.Now()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var recovered time.Duration
	for time.Since(released) < 10*time.Second {
		if x := call(client, "list", "slow", key, "GET", base+"/items?limit=5", ""); x.status == 200 {
			recovered = time.Since(released)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if recovered == 0 {
		t.Fatal("the pool did not recover within 10 s of the lock's release")
	}
	for i := range 20 {
		if x := call(client, "create", "slow", key, "POST", base+"/items", fmt.Sprintf(`{"name":"after %d"}`, i)); x.status != 201 {
			t.Errorf("after the stall: %v", x)
		} else {
			acked++
		}
	}

	var lat []time.Duration
	for _, x := range hits {
		lat = append(lat, x.latency())
		switch {
		case x.err != nil:
			t.Errorf("transport error: %v", x)
		case x.status == 201 && x.op == "create":
			acked++
			t.Errorf("a create got through the lock: %v", x)
		case x.status != 503 || x.code != "unavailable" || x.retryAfter == "":
			t.Errorf("want 503 unavailable with Retry-After: %v", x)
		}
		if x.latency() > clientSlowest {
			t.Errorf("answered after %v (request deadline %v): %v", x.latency(), requestTimeout, x)
		}
	}
	// The server's own account: every stalled request ended at the deadline.
	var served []time.Duration
	for _, m := range accessLogRE.FindAllStringSubmatch(floodLog, -1) {
		ms, _ := strconv.ParseFloat(m[2], 64)
		d := time.Duration(ms * float64(time.Millisecond))
		served = append(served, d)
		if m[1] != "503" || d > serverSlowest {
			t.Errorf("server log: status %s after %v (request deadline %v)", m[1], d, requestTimeout)
		}
	}
	if len(served) < len(hits)*9/10 {
		t.Errorf("the server logged %d of the %d stalled requests", len(served), len(hits))
	}
	if want := clients * int(flood/requestTimeout) / 2; len(hits) < want {
		t.Errorf("only %d stalled requests, want at least %d", len(hits), want)
	}
	// Each request in flight costs a few goroutines (its connection, a
	// pool acquisition, a context watcher); anything proportional to the
	// requests made, not to those in flight, would show here.
	if limit := before.goroutines + 8*clients; during.maxGoroutines > limit {
		t.Errorf("goroutines peaked at %d with %d clients (before: %d); want at most %d", during.maxGoroutines, clients, before.goroutines, limit)
	}
	if limit := before.goroutines + 10; idle.maxGoroutines > limit {
		t.Errorf("%d goroutines once the clients had gone, %d before the stall: requests left goroutines behind", idle.maxGoroutines, before.goroutines)
	}
	if limit := before.maxHeap + 64<<20; during.maxHeap > limit {
		t.Errorf("heap peaked at %d MiB, %d MiB before the stall", during.maxHeap>>20, before.maxHeap>>20)
	}
	// A statement abandoned at the deadline is cancelled (pgx sends a
	// cancel request as it closes the connection), so the database does
	// not fill up with sessions waiting on the lock. A cancel that reaches
	// the server before the statement does (the request got its connection
	// just before its deadline) is lost: that statement waits on, and runs
	// once the lock goes. Those are rare; they must stay so.
	var items int
	if err := watch.QueryRow(ctx, `SELECT count(*) FROM "tenant_slow".items`).Scan(&items); err != nil {
		t.Fatal(err)
	}
	orphans := items - acked
	if limit := len(hits) / 10; waiting > limit || orphans > limit {
		t.Errorf("%d tenantapi sessions still waiting on the lock once the clients had gone, %d creates answered 503 carried out after the lock went; want at most %d (a tenth of the stalled requests)",
			waiting, orphans, limit)
	}
	if backends > poolSize+waiting+1 {
		t.Errorf("%d tenantapi sessions in PostgreSQL (%d waiting on the lock) once the clients had gone, with a pool of %d", backends, waiting, poolSize)
	}

	srv.signal(t, syscall.SIGTERM)
	if code := srv.wait(t, 30*time.Second); code != 0 {
		t.Errorf("helper exit code %d", code)
	}
	t.Logf("%d clients, pool of %d, request deadline %v: %d stalled requests, all 503 unavailable: server-side p50 %v, max %v; client-side p50 %v, max %v",
		clients, poolSize, requestTimeout, len(hits), percentile(served, 50).Round(time.Millisecond), percentile(served, 100).Round(time.Millisecond),
		percentile(lat, 50).Round(time.Millisecond), percentile(lat, 100).Round(time.Millisecond))
	t.Logf("server goroutines: %d before, peak %d during, %d after the clients left; heap %d MiB before, peak %d MiB; %d tenantapi sessions (%d waiting on the lock) after the clients left; %d stalled creates carried out after the lock went; pool serving again %v after the lock's release",
		before.goroutines, during.maxGoroutines, idle.maxGoroutines, before.maxHeap>>20, during.maxHeap>>20, backends, waiting, orphans, recovered.Round(time.Millisecond))
}
