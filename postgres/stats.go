package postgres

import "time"

// PoolStat is a snapshot of one connection pool, for metrics.
type PoolStat struct {
	// Pool is "owner" or "runtime".
	Pool string
	// Connections by state, and the cap.
	Acquired, Idle, Constructing, Total, Max int32
	// Cumulative counts since the pool was created: acquisitions, those
	// that had to wait for a connection, those canceled while waiting.
	Acquires, EmptyAcquires, CanceledAcquires int64
	// AcquireWait is the total time spent acquiring connections.
	AcquireWait time.Duration
}

// PoolStats returns a snapshot of each pool: the owner's, then the runtime
// role's when it has a pool of its own; none with a driver that holds no
// connections (the Data API). It takes no locks a query needs.
func (db *DB) PoolStats() []PoolStat {
	drivers := []driver{db.owner}
	names := []string{"owner"}
	if db.runtime != db.owner {
		drivers, names = append(drivers, db.runtime), append(names, "runtime")
	}
	out := make([]PoolStat, 0, len(drivers))
	for i, d := range drivers {
		if s, ok := d.stat(); ok {
			s.Pool = names[i]
			out = append(out, s)
		}
	}
	return out
}
