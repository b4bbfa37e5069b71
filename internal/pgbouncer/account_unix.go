//go:build unix

package pgbouncer

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the operating-system user that runs PgBouncer: the current
// one, or when that is root (which PgBouncer refuses), the first of
// postgres and nobody that exists.
type account struct {
	name     string
	uid, gid uint32
	dropRoot bool
}

var runAccounts = []string{"postgres", "nobody"}

func runAccount() (account, error) {
	if os.Geteuid() != 0 {
		return account{}, nil
	}
	for _, name := range runAccounts {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return account{name: name, uid: uint32(uid), gid: uint32(gid), dropRoot: true}, nil
	}
	return account{}, errors.New("pgbouncer: PgBouncer cannot run as root and neither a postgres nor a nobody user exists; create one (useradd --system postgres) or run as an ordinary user")
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

// mayWalk reports whether every folder from path up to / grants the account
// search permission (ACLs aside).
func (a account) mayWalk(path string) bool {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false
	}
	for dir := path; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		bit := os.FileMode(0o001)
		switch {
		case st.Uid == a.uid:
			bit = 0o100
		case st.Gid == a.gid:
			bit = 0o010
		}
		if fi.Mode().Perm()&bit == 0 {
			return false
		}
		if filepath.Dir(dir) == dir {
			return true
		}
	}
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
