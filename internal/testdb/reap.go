package testdb

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// dirPrefix names the temporary folders of testdb's clusters.
const dirPrefix = "tenantapi-testdb-"

// ownerFile, in a cluster's folder, holds the id of the test process that
// owns the cluster.
const ownerFile = "owner.pid"

// writeOwner records this process as the owner of the cluster in dir.
func writeOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// reapAbandoned stops and removes the clusters of test processes that died
// without cleaning up. pg_ctl detaches the server, so each such death would
// otherwise leave a PostgreSQL server running until the machine restarts.
// Best effort: failures only mean the leftovers stay for a later run.
func reapAbandoned() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or its owner has not written the file yet
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || alive(pid) {
			continue
		}
		cluster, err := pgcluster.Open(pgcluster.Options{Dir: dir, Ephemeral: true})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = cluster.Stop(ctx)
		cancel()
		if err == nil && cluster.Remove() == nil {
			os.RemoveAll(dir)
		}
	}
}
