package main

import (
	"fmt"
	"maps"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCredentialRotationUnderLoad runs 'tenantapi serve' (the binary) with
// the owner's credentials in Secrets Manager (a local endpoint) and rotates
// them under steady load, as RDS does: the role's password changes, the
// secret follows, and the sessions of the old password are terminated. The
// service re-reads the secret when PostgreSQL refuses the cached password
// and carries on without a restart; the only errors are 503 unavailable,
// for requests that were using a terminated session, right at the switch.
func TestCredentialRotationUnderLoad(t *testing.T) {
	t.Parallel()
	const poolSize, workers = 4, 4
	bin := buildBinary(t, t.TempDir())

	// An owner role whose password the test can rotate, owning a fresh database.
	owner := newRotatableOwner(t, "rotation_owner")
	sm := owner.sm
	env := owner.env()
	maps.Copy(env, map[string]string{
		"ADMIN_TOKEN": testAdminToken, "PORT": "0", "HOST": "127.0.0.1", "REQUEST_TIMEOUT": "5s",
		"DB_MAX_CONNS": fmt.Sprint(poolSize), "SHUTDOWN_TIMEOUT": "10s",
	})
	if code, out := runBinary(t, bin, env, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d\n%s", code, out)
	}
	srv := startProcess(t, bin, env, "serve")
	base := "http://" + waitFor(t, srv.out, listenRE)[1]
	keys := createTenants(t, base, "rot1", "rot2", "rot3")

	l := startLoad(base, keys, workers, 20*time.Millisecond)
	time.Sleep(1500 * time.Millisecond)

	// The rotation.
	fetchesBefore := sm.Calls(ownerSecretARN)
	switchStart := time.Now()
	terminated := owner.rotate(t)
	switched := time.Now()
	time.Sleep(3 * time.Second)
	xs, acked := l.stop()
	fetches := sm.Calls(ownerSecretARN) - fetchesBefore

	var errs, after, beforeN int
	lastErr := -time.Hour
	for _, x := range xs {
		if x.start.Before(switchStart) {
			beforeN++
		}
		if x.start.After(switched.Add(time.Second)) {
			after++
		}
		if x.status/100 == 2 {
			continue
		}
		errs++
		if x.err != nil || x.status != 503 || x.code != "unavailable" || x.retryAfter == "" {
			t.Errorf("want 2xx, or 503 unavailable with Retry-After: %v", x)
		}
		// Only requests on a session that was terminated may fail. The
		// pool pings a connection idle for more than a second before
		// handing it out, so a dead one cannot be used later than that.
		lastErr = max(lastErr, x.start.Sub(switched))
		if x.start.After(switched.Add(1500 * time.Millisecond)) {
			t.Errorf("an error well after the switch (%v after it): %v", x.start.Sub(switched), x)
		}
	}
	if limit := poolSize + workers; errs > limit {
		t.Errorf("%d requests failed at the rotation; want at most %d (connections terminated + requests in flight)", errs, limit)
	}
	if terminated == 0 {
		t.Error("no session was terminated: the rotation proved nothing")
	}
	if fetches < 1 || fetches > poolSize {
		t.Errorf("the secret was fetched %d times after the rotation; want 1 to %d", fetches, poolSize)
	}
	if beforeN < 50 || after < 50 {
		t.Errorf("too little traffic: %d requests before the switch, %d a second after it", beforeN, after)
	}
	checkAcked(t, base, keys, acked)

	srv.signal(t, syscall.SIGTERM)
	if code := srv.wait(t, 30*time.Second); code != 0 {
		t.Errorf("serve exit code %d", code)
	}
	if out := srv.out.String(); strings.Contains(out, "second-password") || strings.Contains(out, "first-password") {
		t.Error("the output shows a password")
	}
	t.Logf("%d requests; %d sessions terminated at the switch; %d errors (all 503 unavailable), the last one started %v after the switch ended; secret fetched %d more times; %d acknowledged writes, all read back",
		len(xs), terminated, errs, lastErr.Round(time.Millisecond), fetches, len(acked))
}
