package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Stop shuts the server down (pg_ctl stop -m fast: open sessions are ended,
// committed data is kept) and waits until it has exited. If a fast shutdown
// does not finish, it falls back to an immediate one, so no server is left
// running when Stop returns nil. Stopping a cluster that is not running is
// not an error.
func (c *Cluster) Stop(ctx context.Context) error {
	if !c.Running() {
		return nil
	}
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", "60").CombinedOutput()
	if err == nil || !c.Running() {
		return nil
	}
	out2, err2 := c.command(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "immediate", "-w", "-t", "30").CombinedOutput()
	if err2 == nil || !c.Running() {
		return nil
	}
	return fmt.Errorf("pgcluster: stopping PostgreSQL failed: %w\n%s\n%s", errors.Join(err, err2), lastLines(out, 10), lastLines(out2, 10))
}

// Remove deletes the cluster and everything Start made for it: the data
// directory, the fallback folder that held it if any, the password file and
// the server log. Other files in Dir are left alone. It refuses to remove a
// running cluster.
//
// Whoever throws Dir away (a test's temporary folder) must call Remove
// first: when the cluster lives in the fallback folder (see Open), deleting
// Dir alone leaves it behind in the temporary directory.
func (c *Cluster) Remove() error {
	if c.Running() {
		return fmt.Errorf("pgcluster: %s is running; stop it before removing it", c.dataDir)
	}
	remove := []string{c.dataDir, c.passwordFile(), c.LogFile()}
	if root := filepath.Dir(c.dataDir); root != c.dir {
		remove = append(remove, root)
	}
	var errs []error
	for _, path := range remove {
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}
