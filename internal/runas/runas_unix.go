//go:build unix

package runas

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Unprivileged returns the account to run program as: the current user
// when it is not root, else the first of postgres and nobody that exists.
// The error, for a root without either, starts with prefix.
func Unprivileged(prefix, program string) (Account, error) {
	if os.Geteuid() != 0 {
		return Account{}, nil
	}
	for _, name := range candidates {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return Account{Name: name, UID: uint32(uid), GID: uint32(gid), DropRoot: true}, nil
	}
	return Account{}, fmt.Errorf("%s: %s cannot run as root and neither a postgres nor a nobody user exists; create one (useradd --system postgres) or run as an ordinary user", prefix, program)
}

// MayWalk reports whether every folder from path up to / grants the account
// search permission (ACLs aside). It does not resolve symlinks.
func (a Account) MayWalk(path string) bool {
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
		case st.Uid == a.UID:
			bit = 0o100
		case st.Gid == a.GID:
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
