package pgcluster_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// openCluster opens a cluster in dir and makes sure the test leaves no
// server or files behind, whatever happens.
func openCluster(t *testing.T, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	c, err := pgcluster.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Error(err)
		}
		if err := c.Remove(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// reachableDir returns a fresh folder that any user may walk through, as
// ./.tenantapi in a project checkout usually is; t.TempDir's are 0700.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, ".tenantapi")
}

func queryInt(t *testing.T, url, sql string) int {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := reachableDir(t)
	var log bytes.Buffer
	c := openCluster(t, pgcluster.Options{Dir: dir, Log: &log})

	if c.Running() {
		t.Fatal("Running before the first Start")
	}
	if c.StartedServer() {
		t.Error("StartedServer before the first Start")
	}
	if got, want := c.DataDir(), filepath.Join(dir, "pgdata"); got != want {
		t.Errorf("DataDir = %s, want %s", got, want)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("first start:\n%s", log.String())
	if !strings.Contains(log.String(), "initialising") {
		t.Errorf("log does not mention initialising:\n%s", log.String())
	}
	if !c.Running() {
		t.Fatal("not Running after Start")
	}
	if !c.StartedServer() {
		t.Error("StartedServer false after the Start that started the server")
	}
	url := c.URL()
	if !strings.HasPrefix(url, "postgres://tenantapi:") || !strings.Contains(url, "@127.0.0.1:") || !strings.HasSuffix(url, "/tenantapi?sslmode=disable") {
		t.Errorf("URL = %s", url)
	}
	if n := queryInt(t, url, "SELECT 1"); n != 1 {
		t.Errorf("SELECT 1 = %d", n)
	}
	exec(t, url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")

	password, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.TrimSpace(string(password))) < 32 {
		t.Errorf("password has %d characters, want 32 or more", len(strings.TrimSpace(string(password))))
	}
	if fi, err := os.Stat(filepath.Join(dir, "password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v, %v; want mode 0600", fi.Mode(), err)
	}

	if err := c.Start(ctx); err != nil {
		t.Fatalf("second Start on a running cluster: %v", err)
	}
	if c.URL() != url {
		t.Errorf("URL changed by the second Start: %s, was %s", c.URL(), url)
	}
	if c.StartedServer() {
		t.Error("StartedServer true after a Start that found the server running")
	}

	// Another process opening the same folder sees the running server.
	other, err := pgcluster.Open(pgcluster.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !other.Running() {
		t.Error("a second Cluster on the same Dir does not see the server running")
	}
	if other.URL() != url {
		t.Errorf("second Cluster's URL = %s, want %s", other.URL(), url)
	}
	if err := other.Start(ctx); err != nil || other.StartedServer() {
		t.Errorf("Start of a second Cluster on the running server: %v, StartedServer %v; want nil, false", err, other.StartedServer())
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Running() || other.Running() {
		t.Fatal("Running after Stop")
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop on a stopped cluster: %v", err)
	}

	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.StartedServer() {
		t.Error("StartedServer false after restarting a stopped server")
	}
	if n := queryInt(t, c.URL(), "SELECT x FROM kept"); n != 42 {
		t.Errorf("after a restart, kept.x = %d, want 42", n)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestUnreachableDir checks the root case where the server's user cannot
// walk into Dir: the cluster lives elsewhere, and the user is told where.
func TestUnreachableDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir() // 0700, owned by root
	var log bytes.Buffer
	c := openCluster(t, pgcluster.Options{Dir: dir, Log: &log, Ephemeral: true})
	if strings.HasPrefix(c.DataDir(), dir) {
		t.Fatalf("DataDir %s is inside %s, which the server's user cannot reach", c.DataDir(), dir)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("start:\n%s", log.String())
	if !strings.Contains(log.String(), c.DataDir()) {
		t.Errorf("log does not say where the cluster is:\n%s", log.String())
	}
	if n := queryInt(t, c.URL(), "SELECT 1"); n != 1 {
		t.Errorf("SELECT 1 = %d", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "password")); err != nil {
		t.Errorf("password file is not in Dir: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(c.DataDir())); !os.IsNotExist(err) {
		t.Errorf("Remove left %s behind: %v", filepath.Dir(c.DataDir()), err)
	}
}

// TestPortTaken checks that a start failure shows the server log's reason.
func TestPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	c := openCluster(t, pgcluster.Options{Dir: reachableDir(t), Port: port, Ephemeral: true})
	err = c.Start(t.Context())
	if err == nil {
		t.Fatalf("Start on taken port %d succeeded", port)
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error does not include the server log's reason: %v", err)
	}
	if c.StartedServer() {
		t.Error("StartedServer after a Start that started nothing")
	}
}

// TestReadyForMoves checks that a started server can be the source of a
// tenant move: logical replication needs wal_level=logical, and several
// moves at once need slots and workers.
func TestReadyForMoves(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := openCluster(t, pgcluster.Options{Dir: reachableDir(t), Ephemeral: true})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for setting, want := range map[string]string{
		"wal_level":                         "logical",
		"max_replication_slots":             "20",
		"max_wal_senders":                   "20",
		"max_logical_replication_workers":   "8",
		"max_worker_processes":              "16",
		"max_sync_workers_per_subscription": "2",
		"max_prepared_transactions":         "20",
	} {
		var got string
		if err := conn.QueryRow(ctx, "SHOW "+setting).Scan(&got); err != nil {
			t.Fatalf("SHOW %s: %v", setting, err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", setting, got, want)
		}
	}
}
