// Package testdb gives tests real PostgreSQL databases: one server per test
// binary, one fresh database per test.
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		url := testdb.New(t)
//		...
//	}
//
// The server is TEST_DATABASE_URL's when that is set (its role needs
// CREATEDB); otherwise each test binary starts a throwaway cluster of its
// own with pgcluster, so `go test ./...` runs many side by side.
//
// NewOnSecondServer gives a database on a second server, for tests that
// need two: TEST_SECOND_DATABASE_URL's when TEST_DATABASE_URL is set, else
// a second throwaway cluster, started when a test first asks for it.
package testdb

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// serverURL is the shared server's maintenance database, set by Main before
// any test runs and read-only afterwards.
var serverURL string

// secondServerEnv names the variable that says where the second server is
// when TEST_DATABASE_URL says where the first is.
const secondServerEnv = "TEST_SECOND_DATABASE_URL"

// The second server (see SecondServerURL): external is set by Main before
// any test runs; the rest by the first SecondServerURL, under once. cluster
// is the ephemeral cluster that call started, for Main to remove.
var second struct {
	external bool // TEST_DATABASE_URL is set: the second is external too
	once     sync.Once
	mu       sync.Mutex
	url      string
	err      error
	cluster  *pgcluster.Cluster
	dir      string
}

// Main runs the package's tests against a shared server and returns the
// exit code for os.Exit. Without TEST_DATABASE_URL it starts an ephemeral
// cluster in a new temporary folder and stops and removes it afterwards.
// When no PostgreSQL can be started, Main prints why and returns 1 without
// running any test: a missing database must fail the run, never skip it.
func Main(m *testing.M) int {
	if url := os.Getenv("TEST_DATABASE_URL"); url != "" {
		serverURL = url
		second.external = true
		return m.Run()
	}

	reapAbandoned()
	cluster, dir, err := startCluster()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testdb: %v\ntestdb: tests need PostgreSQL: install its server programs, or set TEST_DATABASE_URL to a server where the role may CREATEDB\n", err)
		return 1
	}
	serverURL = cluster.DatabaseURL("postgres")

	code := m.Run()

	for _, err := range []error{removeCluster(cluster, dir), removeSecond()} {
		if err != nil {
			fmt.Fprintf(os.Stderr, "testdb: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// removeSecond removes the second cluster, if a test started one.
func removeSecond() error {
	second.mu.Lock()
	defer second.mu.Unlock()
	if second.cluster == nil {
		return nil
	}
	return removeCluster(second.cluster, second.dir)
}

// startCluster starts an ephemeral cluster in a new temporary folder, marked
// with our process id so that a later run can clean up after us if this
// process dies before it can (a test timeout, for one, skips Main's end).
func startCluster() (*pgcluster.Cluster, string, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, "", err
	}
	// When root, the server runs as another user, who must walk into dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	if err := writeOwner(dir); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	cluster, err := pgcluster.Open(pgcluster.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cluster.Start(ctx); err != nil {
		removeCluster(cluster, dir)
		return nil, "", err
	}
	return cluster, dir, nil
}

// removeCluster stops the cluster and deletes it with its folder.
func removeCluster(cluster *pgcluster.Cluster, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.Stop(ctx); err != nil {
		return err
	}
	if err := cluster.Remove(); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// ServerURL returns the connection string of the shared server's
// maintenance database, as a role that may create databases (the superuser
// of testdb's own cluster), for tests that need to create roles and the
// like. It fails the test when Main is not the package's TestMain.
func ServerURL(t testing.TB) string {
	t.Helper()
	if serverURL == "" {
		t.Fatal("testdb: no server; call testdb.Main from the package's TestMain")
	}
	return serverURL
}

// SecondServerURL is ServerURL for the second server, the one of
// NewOnSecondServer: TEST_SECOND_DATABASE_URL when TEST_DATABASE_URL is
// set (the test fails when it is not), else the maintenance database of a
// second ephemeral cluster, started by the first call of the test binary
// and stopped and removed by Main. A cluster that fails to start fails
// this and every later call's test.
func SecondServerURL(t testing.TB) string {
	t.Helper()
	ServerURL(t)
	if second.external {
		url := os.Getenv(secondServerEnv)
		switch {
		case url == "":
			t.Fatalf("testdb: this test needs a second PostgreSQL server: TEST_DATABASE_URL is set, so set %s too, to a server other than TEST_DATABASE_URL's where the role may CREATEDB", secondServerEnv)
		case url == serverURL:
			t.Fatalf("testdb: %s is TEST_DATABASE_URL; it must be another server", secondServerEnv)
		}
		return url
	}
	second.once.Do(func() {
		cluster, dir, err := startCluster()
		second.mu.Lock()
		defer second.mu.Unlock()
		if err != nil {
			second.err = err
			return
		}
		second.cluster, second.dir = cluster, dir
		second.url = cluster.DatabaseURL("postgres")
	})
	second.mu.Lock()
	defer second.mu.Unlock()
	if second.err != nil {
		t.Fatalf("testdb: starting the second server: %v", second.err)
	}
	return second.url
}
