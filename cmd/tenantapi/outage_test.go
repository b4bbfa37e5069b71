package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestDatabaseOutage serves steady traffic while PostgreSQL is killed
// (pg_ctl stop -m immediate) for a few seconds and started again on the
// same port. During the outage every request is answered 503 unavailable
// with Retry-After, none later than the request deadline; /readyz says 503
// during and 200 after; the service answers normally again within 5 s of
// the database's return, without a restart; and every write acknowledged
// with 201 is there afterwards.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	const (
		requestTimeout = 2 * time.Second
		outage         = 4 * time.Second
		// The slowest answer allowed: the deadline plus room for a busy
		// 2-core machine running the race detector.
		slowest = requestTimeout + 1500*time.Millisecond
	)
	c := killableCluster(t)
	env := map[string]string{"DATABASE_URL": c.URL(), "PORT": "0", "HOST": "127.0.0.1",
		"ADMIN_TOKEN": testAdminToken, "REQUEST_TIMEOUT": requestTimeout.String()}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	base, _, _ := serveInProcess(t, env)
	keys := createTenants(t, base, "alpha", "beta", "gamma")

	l := startLoad(base, keys, 4, 20*time.Millisecond)
	time.Sleep(1500 * time.Millisecond)

	// The outage. /readyz is polled throughout.
	probe := &http.Client{Timeout: 30 * time.Second}
	killStart := time.Now()
	if err := c.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var readyDuring []hit
	for time.Since(killed) < outage {
		readyDuring = append(readyDuring, call(probe, "readyz", "", "", "GET", base+"/readyz", ""))
		time.Sleep(250 * time.Millisecond)
	}
	restartStart := time.Now()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()

	// Recovery: every tenant and /readyz answer 200 again.
	var recovered time.Time
	for time.Since(back) < 15*time.Second {
		ok := call(probe, "readyz", "", "", "GET", base+"/readyz", "").status == 200
		for id, key := range keys {
			ok = ok && call(probe, "list", id, key, "GET", base+"/items?limit=1", "").status == 200
		}
		if ok {
			recovered = time.Now()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if recovered.IsZero() {
		t.Fatal("the service did not recover within 15 s of the database's return")
	}
	time.Sleep(2 * time.Second) // steady traffic after the recovery
	xs, acked := l.stop()

	var (
		during, duringOK, after, afterBad int
		maxDuring, maxAll                 time.Duration
		latDuring                         []time.Duration
	)
	for _, x := range xs {
		maxAll = max(maxAll, x.latency())
		switch {
		case x.err != nil:
			t.Errorf("transport error (the server must always answer): %v", x)
			continue
		case x.status >= 500 && x.status != 503:
			t.Errorf("a %d during the test: %v", x.status, x)
		case x.status == 503 && (x.code != "unavailable" || x.retryAfter == ""):
			t.Errorf("503 without code unavailable and Retry-After: %v (Retry-After %q)", x, x.retryAfter)
		case x.status >= 400 && x.status != 503:
			t.Errorf("unexpected answer: %v", x)
		}
		if x.latency() > slowest {
			t.Errorf("answered after %v (request deadline %v): %v", x.latency(), requestTimeout, x)
		}
		// Entirely inside the outage: the database was down all along.
		if x.start.After(killed) && x.end.Before(restartStart) {
			during++
			maxDuring = max(maxDuring, x.latency())
			latDuring = append(latDuring, x.latency())
			if x.status != 503 {
				duringOK++
				t.Errorf("during the outage: %v", x)
			}
		}
		if x.start.After(recovered) {
			after++
			if x.status/100 != 2 {
				afterBad++
				t.Errorf("after the recovery: %v", x)
			}
		}
	}
	if during < 20 {
		t.Errorf("only %d requests ran entirely during the outage; the test proves little", during)
	}
	if after < 20 {
		t.Errorf("only %d requests after the recovery", after)
	}
	for _, x := range readyDuring {
		if x.start.After(killed) && x.status != 503 {
			t.Errorf("/readyz during the outage: %v", x)
		}
	}
	if d := recovered.Sub(back); d > 5*time.Second {
		t.Errorf("the service answered normally %v after the database returned; want within 5 s", d)
	}
	if len(acked) < 50 {
		t.Errorf("only %d writes acknowledged", len(acked))
	}
	checkAcked(t, base, keys, acked)
	t.Logf("kill took %v; database down %v (kill to restart); restart took %v; service normal %v after the database returned",
		killed.Sub(killStart).Round(time.Millisecond), back.Sub(killStart).Round(time.Millisecond),
		back.Sub(restartStart).Round(time.Millisecond), recovered.Sub(back).Round(time.Millisecond))
	t.Logf("%d requests in all, slowest %v; %d entirely during the outage, all 503: p50 %v, max %v; %d after the recovery (%d not 2xx); %d /readyz probes during the outage; %d acknowledged writes, all read back",
		len(xs), maxAll.Round(time.Millisecond), during, percentile(latDuring, 50).Round(time.Microsecond), maxDuring.Round(time.Millisecond),
		after, afterBad, len(readyDuring), len(acked))
}
