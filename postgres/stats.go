package postgres

import (
	"maps"
	"slices"
	"time"
)

// PoolStat is a snapshot of one connection pool, for metrics.
type PoolStat struct {
	// Pool is "owner" or "runtime" for the control database's pools, and
	// "<database>/owner" or "<database>/runtime" for another database's
	// (opened once a request or command needed it).
	Pool string
	// Connections by state, and the cap.
	Acquired, Idle, Constructing, Total, Max int32
	// Cumulative counts since the pool was created: acquisitions, those
	// that had to wait for a connection, those canceled while waiting.
	Acquires, EmptyAcquires, CanceledAcquires int64
	// AcquireWait is the total time spent acquiring connections.
	AcquireWait time.Duration
	// Prepared is how many statements are prepared on the pool's
	// connections now; Prepares and Deallocates count the preparations
	// and deallocations of its budget since the pool was created (all 0
	// without one: see prepared.go).
	Prepared, Prepares, Deallocates int64
}

// PoolStats returns a snapshot of each pool: the owner's, then the runtime
// role's when it has a pool of its own, of the control database, then of
// every other database opened, by name; none with a driver that holds no
// connections (the Data API). It takes no locks a query needs.
func (db *DB) PoolStats() []PoolStat {
	out := db.main.poolStats("", nil)
	others := *db.sites.opened.Load()
	for _, name := range slices.Sorted(maps.Keys(others)) {
		out = others[name].poolStats(name+"/", out)
	}
	return out
}

// poolStats appends the snapshot of s's pools to out, their names
// prefixed.
func (s *site) poolStats(prefix string, out []PoolStat) []PoolStat {
	drivers := []driver{s.owner}
	names := []string{"owner"}
	if s.runtime != s.owner {
		drivers, names = append(drivers, s.runtime), append(names, "runtime")
	}
	for i, d := range drivers {
		if st, ok := d.stat(); ok {
			st.Pool = prefix + names[i]
			out = append(out, st)
		}
	}
	return out
}
