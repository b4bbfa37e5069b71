package pgcluster

import (
	"context"
	"fmt"
)

// Kill stops the server the way a crash would (pg_ctl stop -m immediate):
// every process quits at once, without a checkpoint, and the next Start
// runs crash recovery. Committed transactions survive it as they survive a
// crash (with Options.Ephemeral, only those committed with
// synchronous_commit on). It is for tests of how clients live through a
// database outage; Stop is the way to shut down. Killing a cluster that is
// not running is not an error. With Options.Port set, the next Start listens
// on the same port again.
func (c *Cluster) Kill(ctx context.Context) error {
	if !c.Running() {
		return nil
	}
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "immediate", "-w", "-t", "30").CombinedOutput()
	if err != nil && c.Running() {
		return fmt.Errorf("pgcluster: killing PostgreSQL failed: %w\n%s", err, lastLines(out, 10))
	}
	return nil
}
