package postgres

import (
	"time"

	"github.com/tenantapi/tenantapi"
)

// What every write of RowStore shares: the time it stamps, how a
// conditional statement is decided, and the idempotency key's rules.

// maxWriteAttempts bounds how often a write to one row starts over after
// losing a race with concurrent writes to it (Patch's read-modify-write
// loop, and the conditional statements of Replace and Delete).
const maxWriteAttempts = 8

// errItemBusy is the answer of a write that lost maxWriteAttempts races.
var errItemBusy = tenantapi.Errorf(tenantapi.CodeConflict, "the item is being changed by other requests; try again")

// idempotencyTTL is how long an Idempotency-Key is remembered. After it, the
// key is free for a new request.
const idempotencyTTL = 24 * time.Hour

var (
	errKeyReused = tenantapi.Errorf(tenantapi.CodeIdempotencyKeyReused,
		"this Idempotency-Key was used with a different request body")
	errKeyInFlight = tenantapi.ErrKeyInFlight
)

// writeTime is the time of a write, at the precision PostgreSQL stores, so
// the time Go sends equals the one read back later.
func writeTime() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// write runs a conditional write statement until it is decided: once in the
// steady state. once runs the statement and reports whether it wrote and,
// when not, the row's version in the statement's snapshot (a missing row
// is ErrItemNotFound from once). A version that pre does not match is a
// failed precondition. One that pre matches means the statement waited for
// a concurrent write or delete of the row and then found it changed past
// pre or gone, which its snapshot cannot tell: a new statement, with a
// fresh snapshot, writes, finds no row, or sees the version that fails pre.
// After maxWriteAttempts such races it gives up with CodeConflict.
func write(pre tenantapi.Precondition, once func() (written bool, seen int64, err error)) error {
	for range maxWriteAttempts {
		written, seen, err := once()
		switch {
		case err != nil:
			return err
		case written:
			return nil
		case !pre.Matches(seen):
			return tenantapi.ErrPreconditionFailed
		}
	}
	return errItemBusy
}

// preArgs turns pre into the statements' "any version matches" flag and
// version list.
func preArgs(pre tenantapi.Precondition) (anyMatch bool, versions []int64) {
	if !pre.Present || pre.Any {
		return true, []int64{}
	}
	if pre.Versions == nil {
		return false, []int64{} // nil would be sent as NULL
	}
	return false, pre.Versions
}
