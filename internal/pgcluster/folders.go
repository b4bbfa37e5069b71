package pgcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fallbackRoot returns the folder that holds the cluster when the account
// cannot reach Dir: one per Dir (named after a hash of its absolute path, so
// every run and every process finds the same one) in a temporary directory
// the account can reach.
func fallbackRoot(dir string, acct account) string {
	sum := sha256.Sum256([]byte(dir))
	name := "tenantapi-" + hex.EncodeToString(sum[:8])
	tmp := os.TempDir()
	if !acct.canReach(tmp) {
		tmp = "/tmp"
	}
	return filepath.Join(tmp, name)
}

// prepareFolders creates Dir, the folder that holds the data directory and
// the data directory itself, and gives the last two to the account. It
// returns whether the data directory already holds a cluster.
func (c *Cluster) prepareFolders() (initialised bool, err error) {
	// 0755: when root, the account must be able to walk through Dir.
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return false, fmt.Errorf("pgcluster: %w", err)
	}
	if root := filepath.Dir(c.dataDir); root != c.dir {
		if err := c.prepareFallbackRoot(root); err != nil {
			return false, err
		}
	}

	_, err = os.Stat(filepath.Join(c.dataDir, "PG_VERSION"))
	initialised = err == nil
	switch err := os.Mkdir(c.dataDir, 0o700); {
	case err == nil:
		return false, c.account.give(c.dataDir, false)
	case !errors.Is(err, fs.ErrExist):
		return false, fmt.Errorf("pgcluster: %w", err)
	}
	if !initialised {
		entries, err := os.ReadDir(c.dataDir)
		if err != nil {
			return false, fmt.Errorf("pgcluster: %w", err)
		}
		if len(entries) > 0 {
			return false, fmt.Errorf("pgcluster: %s is neither empty nor a PostgreSQL data directory; move it away", c.dataDir)
		}
	}
	if !c.account.owns(c.dataDir) {
		c.logf("giving %s to user %s", c.dataDir, c.account)
		if err := c.account.give(c.dataDir, true); err != nil {
			return false, err
		}
	}
	return initialised, nil
}

// prepareFallbackRoot creates the fallback folder (see fallbackRoot) for the
// account alone. It refuses a folder that someone else made first or that
// is a symlink: the temporary directory is shared with every user.
func (c *Cluster) prepareFallbackRoot(root string) error {
	if err := os.Mkdir(root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: %w", err)
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if !fi.IsDir() || !c.account.trusts(fi) {
		return fmt.Errorf("pgcluster: %s is not a folder of ours; remove it and try again", root)
	}
	if err := os.Chmod(root, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return c.account.give(root, false)
}
