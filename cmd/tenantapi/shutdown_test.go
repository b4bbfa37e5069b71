package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// TestGracefulShutdown sends SIGTERM to 'tenantapi serve' (the binary, so
// main's signal handling is under test too) under load, while a few
// requests are held up in PostgreSQL by a lock. The server stops accepting,
// every request it had accepted completes with its normal answer once the
// lock goes, the process exits 0 within SHUTDOWN_TIMEOUT, and its pool
// leaves no session behind.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	const (
		held            = 6 // requests waiting on the lock at the signal
		shutdownTimeout = 10 * time.Second
		holdAfterSignal = time.Second
	)
	bin := buildBinary(t, t.TempDir())
	dbURL := testdb.New(t)
	env := map[string]string{"DATABASE_URL": dbURL, "PORT": "0", "HOST": "127.0.0.1", "ADMIN_TOKEN": testAdminToken,
		"SHUTDOWN_TIMEOUT": shutdownTimeout.String(), "REQUEST_TIMEOUT": "15s", "DB_MAX_CONNS": "10"}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	srv := startProcess(t, bin, env, "serve")
	base := "http://" + waitFor(t, srv.out, listenRE)[1]
	keys := createTenants(t, base, "held", "free")

	// Steady traffic on "free", a new connection per request, until the
	// server is gone.
	var mu sync.Mutex
	var background []hit
	var acked []ackedItem
	record := func(x hit) {
		mu.Lock()
		defer mu.Unlock()
		background = append(background, x)
		if x.status == 201 {
			acked = append(acked, ackedItem{x.tenant, x.itemID})
		}
	}
	gone := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for i := 0; i < maxLoadRequests; i++ {
				select {
				case <-gone:
					return
				default:
				}
				if i%2 == 0 {
					record(call(client, "create", "free", keys["free"], "POST", base+"/items", fmt.Sprintf(`{"name":"bg %d-%d"}`, w, i)))
				} else {
					record(call(client, "list", "free", keys["free"], "GET", base+"/items?limit=3", ""))
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}

	// Hold up a few requests in PostgreSQL.
	ctx := context.Background()
	locker, tx, watch := lockItems(t, dbURL, "held")
	heldHits := make([]hit, held)
	var hwg sync.WaitGroup
	for i := range held {
		hwg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			if i%2 == 0 {
				heldHits[i] = call(client, "create", "held", keys["held"], "POST", base+"/items", fmt.Sprintf(`{"name":"held %d"}`, i))
			} else {
				heldHits[i] = call(client, "list", "held", keys["held"], "GET", base+"/items", "")
			}
		})
	}
	var waiting, sessions int
	for deadline := time.Now().Add(10 * time.Second); waiting < held && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := watch.QueryRow(ctx, `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*)
			FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tenantapi'`).Scan(&waiting, &sessions); err != nil {
			t.Fatal(err)
		}
	}
	if waiting < held {
		t.Fatalf("only %d requests waiting on the lock, want %d", waiting, held)
	}
	time.Sleep(200 * time.Millisecond)

	signalled := time.Now()
	srv.signal(t, syscall.SIGTERM)
	time.Sleep(holdAfterSignal)
	select {
	case <-srv.done:
		t.Fatal("the server exited with requests in flight")
	default:
	}
	probe := call(&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, "healthz", "", "", "GET", base+"/healthz", "")
	if probe.err == nil {
		t.Errorf("a new connection was served during the drain: %v", probe)
	}
	released := time.Now()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	code := srv.wait(t, shutdownTimeout+10*time.Second)
	exited := time.Now()
	close(gone)
	wg.Wait()
	hwg.Wait()
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if d := exited.Sub(signalled); d > shutdownTimeout {
		t.Errorf("the process exited %v after SIGTERM; the drain timeout is %v", d, shutdownTimeout)
	}

	// Every request accepted before the signal completed normally.
	for _, x := range heldHits {
		if x.status/100 != 2 {
			t.Errorf("a request in flight at SIGTERM: %v", x)
		}
		if x.op == "create" && x.status == 201 {
			acked = append(acked, ackedItem{x.tenant, x.itemID})
		}
	}
	var beforeSignal, refused, afterOK int
	for _, x := range background {
		switch {
		case x.end.Before(signalled) || x.start.Before(signalled.Add(-100*time.Millisecond)):
			// Sent well before the signal: it must have been answered.
			beforeSignal++
			if x.status/100 != 2 {
				t.Errorf("a request sent before SIGTERM: %v", x)
			}
		case x.err != nil:
			refused++ // the listener is closed: not accepted
		case x.status/100 == 2:
			afterOK++
		default:
			t.Errorf("around SIGTERM: %v", x)
		}
	}
	if beforeSignal < 20 {
		t.Errorf("only %d background requests before the signal", beforeSignal)
	}

	// The pool closed: no session of the process is left.
	var left int
	var closedAfter time.Duration
	for {
		if err := locker.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tenantapi'`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		closedAfter = time.Since(exited)
		if left == 0 || closedAfter > 3*time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if left != 0 {
		t.Errorf("%d tenantapi sessions remain after the process exited", left)
	}
	out := srv.out.String()
	if !strings.Contains(out, `"msg":"shutting down"`) || !strings.Contains(out, `"msg":"stopped"`) {
		t.Error("no orderly shutdown in the log")
	}

	// What was acknowledged is there.
	missing := 0
	for _, a := range acked {
		var n int
		if err := locker.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{"tenant_" + a.tenant, "items"}.Sanitize()+` WHERE id = $1::uuid`, a.id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged creates are missing", missing, len(acked))
	}
	t.Logf("%d requests held in PostgreSQL and %d tenantapi sessions at SIGTERM; lock released %v after it; exit 0 %v after SIGTERM (%v after the release); held requests all 2xx; background: %d answered before the signal, %d refused and %d answered after it; sessions gone %v after exit; %d acknowledged creates present",
		held, sessions, released.Sub(signalled).Round(time.Millisecond), exited.Sub(signalled).Round(time.Millisecond), exited.Sub(released).Round(time.Millisecond),
		beforeSignal, refused, afterOK, closedAfter.Round(time.Millisecond), len(acked))
}
