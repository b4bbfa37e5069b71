package pgcluster

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// command prepares one of PostgreSQL's programs to run as the cluster's
// account. It runs in the folder that holds the data directory because our
// own working directory may be one the account cannot enter (initdb and
// postgres complain about that).
func (c *Cluster) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, program), args...)
	cmd.Dir = filepath.Dir(c.dataDir)
	cmd.SysProcAttr = c.account.sysProcAttr()
	return cmd
}

// logf writes a progress message to Options.Log, if any.
func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Log != nil {
		fmt.Fprintf(c.opts.Log, "pgcluster: "+format+"\n", args...)
	}
}

// lastLines returns at most n trailing lines of out, for error messages that
// should show why a program failed without flooding the screen.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
