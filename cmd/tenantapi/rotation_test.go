package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/fakesecrets"
	"github.com/tenantapi/tenantapi/internal/testdb"
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
	dbURL := testdb.New(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	role := fmt.Sprintf("rotation_owner_%d", time.Now().UnixNano()%1_000_000_000)
	u, _ := url.Parse(dbURL)
	dbName := strings.TrimPrefix(u.Path, "/")
	for _, sql := range []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN CREATEROLE PASSWORD 'first-password'`, role),
		fmt.Sprintf(`ALTER DATABASE %s OWNER TO %s`, pgx.Identifier{dbName}.Sanitize(), role),
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// The role owns the database: drop both (testdb's own drop then
		// finds nothing to do).
		c, err := pgx.Connect(context.Background(), testdb.ServerURL(t))
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)")
			c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
	})

	sm := fakesecrets.Start()
	t.Cleanup(sm.Close)
	sm.Put(ownerSecretARN, `{"username":"`+role+`","password":"first-password"}`)
	host, port, _ := net.SplitHostPort(u.Host)
	env := map[string]string{
		"DB_SECRET_ARN": ownerSecretARN, "DB_HOST": host, "DB_PORT": port, "DB_NAME": dbName, "DB_SSLMODE": "disable",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL, "AWS_REGION": "eu-west-1",
		"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_EC2_METADATA_DISABLED": "true",
		"ADMIN_TOKEN": testAdminToken, "PORT": "0", "HOST": "127.0.0.1", "REQUEST_TIMEOUT": "5s",
		"DB_MAX_CONNS": fmt.Sprint(poolSize), "SHUTDOWN_TIMEOUT": "10s",
	}
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
	if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s PASSWORD 'second-password'`, role)); err != nil {
		t.Fatal(err)
	}
	sm.Put(ownerSecretARN, `{"username":"`+role+`","password":"second-password"}`)
	var terminated int
	if err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1`, role).Scan(&terminated); err != nil {
		t.Fatal(err)
	}
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
