package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// devFolder returns a fresh data folder for dev, one the unprivileged
// PostgreSQL user can reach when the tests run as root (t.TempDir's are
// 0700). Whatever cluster is left in it, or in the folders of dev's other
// databases (db2, …), is stopped and removed when the test ends.
func devFolder(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tenantapi-dev-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	devCleanup(t, dir)
	return dir
}

// devCleanup stops and removes, when the test ends, whatever cluster is
// left in the dev data folder dir or in its other databases' folders (db2,
// …), and removes dir.
func devCleanup(t *testing.T, dir string) {
	t.Cleanup(func() {
		others, _ := filepath.Glob(filepath.Join(dir, "db*"))
		for _, d := range append(others, dir) {
			if c, err := pgcluster.Open(pgcluster.Options{Dir: d}); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				c.Stop(ctx)
				cancel()
				c.Remove()
			}
		}
		os.RemoveAll(dir)
	})
}

// devCluster opens the cluster of a dev data folder.
func devCluster(t *testing.T, dir string) *pgcluster.Cluster {
	t.Helper()
	c, err := pgcluster.Open(pgcluster.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// devProcess is a `tenantapi dev` running in this process through run().
type devProcess struct {
	base, key string      // the printed address and demo key
	stderr    *syncBuffer // the banner and progress messages
	stop      func(within time.Duration) error
}

// startDev runs `tenantapi dev` with args through run() with env and waits
// (at most 60 s) until it prints its banner. stop ends it (see
// runInProcess).
func startDev(t *testing.T, env map[string]string, args ...string) *devProcess {
	t.Helper()
	var out syncBuffer
	d := &devProcess{stderr: &syncBuffer{}}
	d.stop = runInProcess(t, env, &out, d.stderr, append([]string{"dev"}, args...)...)
	d.key = waitFor(t, d.stderr, keyRE)[1]
	d.base = "http://" + waitFor(t, &out, listenRE)[1]
	return d
}

// devFails runs `tenantapi dev` through run() with env and expects it to
// give up by itself within 30 s. It returns the exit code and standard
// error.
func devFails(t *testing.T, env map[string]string) (code int, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tenantapi", "dev"}, func(k string) string { return env[k] }, nil, &out, &errb)
	}()
	select {
	case err := <-done:
		return exitCode(err, &errb), errb.String()
	case <-time.After(30 * time.Second):
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
		t.Fatalf("dev did not give up within 30 s; stderr:\n%s", errb.String())
		return 0, ""
	}
}

// devStatus makes a request to a dev service, as the demo tenant with key
// when key is not empty, and returns the status (0 when it failed in
// transport).
func devStatus(t *testing.T, method, url, key string) int {
	t.Helper()
	return devTenantStatus(t, method, url, "demo", key)
}

// devTenantStatus is devStatus as another tenant.
func devTenantStatus(t *testing.T, method, url, tenant, key string) int {
	t.Helper()
	var body *strings.Reader
	if method == "POST" {
		body = strings.NewReader(`{"name":"dev item"}`)
	} else {
		body = strings.NewReader("")
	}
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("X-Tenant-ID", tenant)
	}
	if method == "POST" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(r)
	if err != nil {
		t.Logf("%s %s: %v", method, url, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// expectServing fails the test unless the dev service at base is ready and
// accepts key for the demo tenant.
func expectServing(t *testing.T, what, base, key string) {
	t.Helper()
	if got := devStatus(t, "GET", base+"/readyz", ""); got != 200 {
		t.Errorf("%s: /readyz %d, want 200", what, got)
	}
	if got := devStatus(t, "POST", base+"/items", key); got != 201 {
		t.Errorf("%s: creating an item with the printed key: %d, want 201", what, got)
	}
}

// portOf returns the port of a base URL.
func portOf(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// TestDevRefusesASecondDevOnItsFolder runs `tenantapi dev` (the binary, so
// its pid is not ours), then a second dev on the same folder, on another
// port and on the same one: each refuses at once, naming the first, and
// the first keeps serving with the key it printed. Once the first has
// exited on SIGINT, a new dev on the folder starts as usual.
func TestDevRefusesASecondDevOnItsFolder(t *testing.T) {
	t.Parallel()
	dir := devFolder(t)
	bin := buildBinary(t, t.TempDir())
	env := map[string]string{"TENANTAPI_DIR": dir, "PORT": "0"}
	first := startProcess(t, bin, env, "dev")
	key := waitFor(t, first.out, keyRE)[1]
	base := "http://" + waitFor(t, first.out, listenRE)[1]
	expectServing(t, "first dev", base, key)

	want := fmt.Sprintf("tenantapi: dev is already running for %s (pid %d, %s); stop it first, or use --dir for a separate one\n",
		dir, first.cmd.Process.Pid, base)
	for _, port := range []string{"0", portOf(t, base)} {
		code, stderr := devFails(t, map[string]string{"TENANTAPI_DIR": dir, "PORT": port})
		if code != 1 || stderr != want {
			t.Errorf("second dev on port %s: exit %d, stderr:\n%s\nwant exit 1, stderr:\n%s", port, code, stderr, want)
		}
	}
	expectServing(t, "first dev after the second gave up", base, key)
	if c := devCluster(t, dir); !c.Running() {
		t.Error("PostgreSQL stopped")
	}

	first.signal(t, syscall.SIGINT)
	if code := first.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("first dev: exit %d after SIGINT", code)
	}
	if c := devCluster(t, dir); c.Running() {
		t.Error("PostgreSQL still running after the dev that started it stopped")
	}
	next := startDev(t, env)
	expectServing(t, "a new dev after the first exited", next.base, next.key)
	if err := next.stop(60 * time.Second); err != nil {
		t.Fatalf("new dev: %v; stderr:\n%s", err, next.stderr.String())
	}
}

// TestDevAfterACrash kills a dev (SIGKILL, so it cleans nothing up): the
// kernel releases its claim on the folder, so a new dev starts there, joins
// the PostgreSQL the dead one left running and, as that one would have,
// stops it on exit.
func TestDevAfterACrash(t *testing.T) {
	t.Parallel()
	dir := devFolder(t)
	bin := buildBinary(t, t.TempDir())
	env := map[string]string{"TENANTAPI_DIR": dir, "PORT": "0"}
	crashed := startProcess(t, bin, env, "dev")
	waitFor(t, crashed.out, keyRE)
	crashed.signal(t, syscall.SIGKILL)
	crashed.wait(t, 30*time.Second)
	c := devCluster(t, dir)
	if !c.Running() {
		t.Fatal("PostgreSQL is not running after its dev was killed")
	}

	next := startDev(t, env)
	expectServing(t, "a dev after a crashed one", next.base, next.key)
	if err := next.stop(60 * time.Second); err != nil {
		t.Fatalf("dev: %v; stderr:\n%s", err, next.stderr.String())
	}
	if c.Running() {
		t.Errorf("PostgreSQL left by the crashed dev still runs after the next dev stopped; stderr:\n%s", next.stderr.String())
	}
}

// startClusterFor starts the dev cluster of dir as another process would
// (such as a long `tenantapi migrate`), and migrates it with a demo key
// named as dev names its own. It returns the cluster and the key's id.
func startClusterFor(t *testing.T, dir string) (*pgcluster.Cluster, string) {
	t.Helper()
	c := devCluster(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TENANTAPI_DIR": dir}
	for _, args := range [][]string{{"migrate"}, {"tenants", "create", "demo"}} {
		if code, _, stderr := cli(t, env, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	code, out, stderr := cli(t, env, "keys", "create", "demo", "--name", devKeyName, "--json")
	if code != 0 {
		t.Fatalf("keys create: exit %d: %s", code, stderr)
	}
	var k keyOut
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatal(err)
	}
	return c, k.ID
}

// revoked reports whether the key is revoked, as `keys list` shows it.
func revoked(t *testing.T, dir, keyID string) bool {
	t.Helper()
	code, out, stderr := cli(t, map[string]string{"TENANTAPI_DIR": dir}, "keys", "list", "demo", "--json")
	if code != 0 {
		t.Fatalf("keys list: exit %d: %s", code, stderr)
	}
	var list struct {
		APIKeys []keyOut `json:"api_keys"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	for _, k := range list.APIKeys {
		if k.ID == keyID {
			return k.RevokedAt != nil
		}
	}
	t.Fatalf("key %s is not listed: %s", keyID, out)
	return false
}

// TestDevOnABusyPortTouchesNothing runs dev on a port something else
// listens on, next to a cluster another process started: dev fails with a
// message that names the port, before it revokes any key or stops the
// cluster.
func TestDevOnABusyPortTouchesNothing(t *testing.T) {
	t.Parallel()
	dir := devFolder(t)
	c, keyID := startClusterFor(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)

	code, stderr := devFails(t, map[string]string{"TENANTAPI_DIR": dir, "PORT": port})
	if want := "127.0.0.1:" + port + " is already in use"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, want)
	}
	if !c.Running() {
		t.Fatal("dev stopped a PostgreSQL it did not start")
	}
	if revoked(t, dir, keyID) {
		t.Error("dev revoked the demo key before it could serve")
	}
}

// TestDevLeavesRunningAClusterItDidNotStart runs dev on a cluster another
// process started: dev serves on it and, when it stops, leaves it running.
func TestDevLeavesRunningAClusterItDidNotStart(t *testing.T) {
	t.Parallel()
	dir := devFolder(t)
	c, _ := startClusterFor(t, dir)
	d := startDev(t, map[string]string{"TENANTAPI_DIR": dir, "PORT": "0"})
	expectServing(t, "dev", d.base, d.key)
	if want := "Ctrl-C stops the service; PostgreSQL, which was already running, keeps running."; !strings.Contains(d.stderr.String(), want) {
		t.Errorf("the banner does not say %q:\n%s", want, d.stderr.String())
	}
	if err := d.stop(60 * time.Second); err != nil {
		t.Fatalf("dev: %v; stderr:\n%s", err, d.stderr.String())
	}
	if !c.Running() {
		t.Errorf("dev stopped a PostgreSQL it did not start; stderr:\n%s", d.stderr.String())
	}
}

// TestDevKeepsTheClusterACommandStartedForIt has a CLI command start the
// dev cluster (as `tenantapi migrate` does when nothing is configured) and a
// dev come up on it while the command runs: when the command is done, it
// leaves the cluster running for the dev.
func TestDevKeepsTheClusterACommandStartedForIt(t *testing.T) {
	t.Parallel()
	dir := devFolder(t)
	var cmdErr syncBuffer
	cfg := newEnv(func(k string) string { return map[string]string{"TENANTAPI_DIR": dir}[k] }).db()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := openDatabase(ctx, cfg, nil, &cmdErr)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			db.close()
		}
	}()
	if !strings.Contains(cmdErr.String(), "starting the dev cluster") {
		t.Fatalf("the command did not start the cluster: %s", cmdErr.String())
	}

	d := startDev(t, map[string]string{"TENANTAPI_DIR": dir, "PORT": "0"})
	expectServing(t, "dev", d.base, d.key)
	db.close()
	closed = true
	c := devCluster(t, dir)
	if !c.Running() {
		t.Fatal("the command stopped the cluster a running dev relies on")
	}
	expectServing(t, "dev after the command", d.base, d.key)
	if err := d.stop(60 * time.Second); err != nil {
		t.Fatalf("dev: %v; stderr:\n%s", err, d.stderr.String())
	}
}

// TestDevWithTwoDatabases runs dev with --databases 2: it starts a second
// PostgreSQL in the data folder's db2 and adds it as database db2, where a
// tenant created with --database db2 lives and is served. A dev started
// again finds db2 where it was (its port is kept) and adds it no second
// time; each stops both servers on exit.
func TestDevWithTwoDatabases(t *testing.T) {
	t.Parallel()
	dir := devFolder(t)
	env := map[string]string{"TENANTAPI_DIR": dir, "PORT": "0"}
	d := startDev(t, env, "--databases", "2")
	expectServing(t, "dev", d.base, d.key)
	db2 := devCluster(t, filepath.Join(dir, "db2"))
	if !db2.Running() {
		t.Fatalf("no PostgreSQL runs in %s/db2; stderr:\n%s", dir, d.stderr.String())
	}
	address := fmt.Sprintf("postgres://127.0.0.1:%d/tenantapi", db2.Port())
	if want := "database db2:  " + address + "\n"; !strings.Contains(d.stderr.String(), want) {
		t.Errorf("the banner lacks %q:\n%s", want, d.stderr.String())
	}
	listed := func() []databaseOut {
		t.Helper()
		code, out, stderr := cli(t, env, "databases", "list", "--json")
		if code != 0 {
			t.Fatalf("databases list: exit %d: %s", code, stderr)
		}
		var list struct{ Databases []databaseOut }
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		return list.Databases
	}
	if ds := listed(); len(ds) != 2 || ds[1].Name != "db2" || ds[1].Address != address {
		t.Fatalf("databases list: %+v, want main and db2 at %s", ds, address)
	}

	if m := cliJSON(t, env, "tenants", "create", "x", "--database", "db2", "--json"); m["database"] != "db2" {
		t.Fatalf("tenants create x --database db2: %v", m)
	}
	key := cliJSON(t, env, "keys", "create", "x", "--json")["key"].(string)
	if got := devTenantStatus(t, "POST", d.base+"/items", "x", key); got != 201 {
		t.Errorf("creating an item of tenant x in db2: %d, want 201", got)
	}
	if n := pgCount(t, db2.URL(), "SELECT count(*) FROM tenant_x.items"); n != 1 {
		t.Errorf("db2 holds %d items of tenant x, want 1", n)
	}
	if err := d.stop(60 * time.Second); err != nil {
		t.Fatalf("dev: %v; stderr:\n%s", err, d.stderr.String())
	}
	if db2.Running() {
		t.Errorf("db2's PostgreSQL still runs after dev stopped; stderr:\n%s", d.stderr.String())
	}

	again := startDev(t, env, "--databases", "2")
	if got := devTenantStatus(t, "GET", again.base+"/items", "x", key); got != 200 {
		t.Errorf("a new dev: listing the items of tenant x in db2: %d, want 200; stderr:\n%s", got, again.stderr.String())
	}
	if strings.Contains(again.stderr.String(), "added database") || strings.Contains(again.stderr.String(), "warning") {
		t.Errorf("a new dev added db2 again or warned:\n%s", again.stderr.String())
	}
	if ds := listed(); len(ds) != 2 || ds[1].Address != address {
		t.Errorf("databases list after a new dev: %+v, want main and db2 at %s", ds, address)
	}
	if err := again.stop(60 * time.Second); err != nil {
		t.Fatalf("new dev: %v; stderr:\n%s", err, again.stderr.String())
	}
}

// pgCount runs a count query on url.
func pgCount(t *testing.T, url, sql string) (n int) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err == nil {
		defer conn.Close(t.Context())
		err = conn.QueryRow(t.Context(), sql).Scan(&n)
	}
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}
