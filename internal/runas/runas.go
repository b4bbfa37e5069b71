// Package runas picks the operating-system account that runs PostgreSQL's
// programs and PgBouncer, which both refuse to run as root: the current
// user, or when that is root, an unprivileged one.
package runas

// Account is a user to run programs as. DropRoot is false when this process
// is not root: the programs then run as the current user and Name, UID and
// GID are empty.
type Account struct {
	Name     string
	UID, GID uint32
	DropRoot bool
}

// candidates are the users tried, in order, when root must hand a program
// to someone else: the distribution's own postgres user, else nobody.
var candidates = []string{"postgres", "nobody"}
