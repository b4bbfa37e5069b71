//go:build unix

package pgbouncer

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tenantapi/tenantapi/internal/runas"
)

// account is the operating-system user that runs PgBouncer: the current
// one, or when that is root (which PgBouncer refuses), the first of
// postgres and nobody that exists.
type account struct {
	name     string
	uid, gid uint32
	dropRoot bool
}

// runAccount returns the account that runs PgBouncer (see
// runas.Unprivileged).
func runAccount() (account, error) {
	r, err := runas.Unprivileged("pgbouncer", "PgBouncer")
	return account{name: r.Name, uid: r.UID, gid: r.GID, dropRoot: r.DropRoot}, err
}

// sysProcAttr puts PgBouncer in a process group of its own (a Ctrl-C meant
// for the tests does not reach it first), kills it if we die (Linux), and as
// root runs it as the account with no supplementary groups.
func (a account) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(attr)
	if a.dropRoot {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid}
	}
	return attr
}

// tempRoot returns where to make PgBouncer's folder: the temporary
// directory, or /tmp when the account could not walk into it (a TMPDIR
// under /root, say).
func (a account) tempRoot() string {
	tmp := os.TempDir()
	if !a.dropRoot || a.mayWalk(tmp) {
		return tmp
	}
	return "/tmp"
}

// mayWalk reports whether every folder from path, its symlinks resolved,
// up to / grants the account search permission (ACLs aside).
func (a account) mayWalk(path string) bool {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false
	}
	return runas.Account{Name: a.name, UID: a.uid, GID: a.gid, DropRoot: a.dropRoot}.MayWalk(path)
}

// give hands path to the account, when PgBouncer runs as another user.
func (a account) give(path string) error {
	if !a.dropRoot {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("pgbouncer: giving %s to user %s: %w", path, a.name, err)
	}
	return nil
}
