//go:build unix

package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/tenantapi/tenantapi/internal/runas"
)

// serverAccount returns the account that runs PostgreSQL: the current user,
// or when that is root, an unprivileged one (see runas.Unprivileged).
func serverAccount() (account, error) {
	r, err := runas.Unprivileged("pgcluster", "PostgreSQL")
	return account{name: r.Name, uid: r.UID, gid: r.GID, dropRoot: r.DropRoot}, err
}

// ownerAccount returns the non-root user that owns path, so that an existing
// cluster keeps running as whoever created it instead of being handed to
// another user. ok is false when path is missing or belongs to root.
func ownerAccount(path string) (a account, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return account{}, false
	}
	st, isStat := fi.Sys().(*syscall.Stat_t)
	if !isStat || st.Uid == 0 {
		return account{}, false
	}
	a = account{uid: st.Uid, gid: st.Gid, dropRoot: true}
	if u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10)); err == nil {
		a.name = u.Username
		if gid, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
			a.gid = uint32(gid)
		}
	}
	return a, true
}

// sysProcAttr returns how to start PostgreSQL's programs. Each gets its own
// process group so that a Ctrl-C meant for us does not reach the server
// before we stop it cleanly; as root, each runs with the account's
// credentials and no supplementary groups.
func (a account) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if a.dropRoot {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid}
	}
	return attr
}

// canReach reports whether the account may walk down to path: every folder
// on the way, and path itself, must grant it search (x) permission. Folders
// that do not exist yet count as reachable because we create them 0755.
// Both the literal path and the one its symlinks resolve to are checked,
// since the kernel walks both.
func (a account) canReach(path string) bool {
	if !a.dropRoot {
		return true
	}
	existing := path
	for {
		_, err := os.Stat(existing)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return true
		}
		existing = parent
	}
	resolved, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return false
	}
	return a.mayWalk(existing) && a.mayWalk(resolved)
}

// mayWalk reports whether every folder from path up to / grants the account
// search permission (ACLs aside).
func (a account) mayWalk(path string) bool {
	return runas.Account{Name: a.name, UID: a.uid, GID: a.gid, DropRoot: a.dropRoot}.MayWalk(path)
}

// owns reports whether path belongs to the account. Without a switch of
// user there is nothing to hand over, so the answer is yes.
func (a account) owns(path string) bool {
	if !a.dropRoot {
		return true
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == a.uid
}

// trusts reports whether fi, a folder we are about to keep the cluster in,
// belongs to root, to us or to the account. A folder in a shared /tmp that
// someone else created first must not be used.
func (a account) trusts(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return st.Uid == 0 || int(st.Uid) == os.Geteuid() || st.Uid == a.uid
}

// give hands path, and with tree everything below it, to the account. It
// does nothing when the programs run as the current user.
func (a account) give(path string, tree bool) error {
	if !a.dropRoot {
		return nil
	}
	if !tree {
		return os.Lchown(path, int(a.uid), int(a.gid))
	}
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(a.uid), int(a.gid))
	})
	if err != nil {
		return fmt.Errorf("pgcluster: giving %s to user %s: %w", path, a, err)
	}
	return nil
}
