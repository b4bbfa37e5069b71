package pgcluster_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// TestKill stops a cluster as a crash would and starts it again on the same
// port, with what was committed (synchronously) still there.
func TestKill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := openCluster(t, pgcluster.Options{Dir: reachableDir(t), Port: port, Ephemeral: true})
	if err := c.Kill(ctx); err != nil {
		t.Errorf("Kill of a cluster never started: %v", err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	url := c.URL()
	// Ephemeral clusters commit asynchronously; a crash may lose the last
	// asynchronous commits, never a synchronous one.
	exec(t, url, "SET synchronous_commit = on; CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	start := time.Now()
	if err := c.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Kill took %v", time.Since(start))
	if c.Running() {
		t.Fatal("Running after Kill")
	}
	if err := conn.Ping(ctx); err == nil {
		t.Error("a connection survived Kill")
	}
	if err := c.Kill(ctx); err != nil {
		t.Errorf("Kill of a stopped cluster: %v", err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if c.URL() != url {
		t.Errorf("URL after the restart = %s, want %s (same port)", c.URL(), url)
	}
	if n := queryInt(t, c.URL(), "SELECT x FROM kept"); n != 7 {
		t.Errorf("after Kill and Start, kept.x = %d, want 7", n)
	}
}
