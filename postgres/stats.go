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
// role's when it has a pool of its own. It takes no locks a query needs.
func (db *DB) PoolStats() []PoolStat {
	pools := []*pool{db.owner}
	names := []string{"owner"}
	if db.runtime != db.owner {
		pools, names = append(pools, db.runtime), append(names, "runtime")
	}
	out := make([]PoolStat, 0, len(pools))
	for i, p := range pools {
		s := p.Stat()
		out = append(out, PoolStat{
			Pool:     names[i],
			Acquired: s.AcquiredConns(), Idle: s.IdleConns(), Constructing: s.ConstructingConns(),
			Total: s.TotalConns(), Max: s.MaxConns(),
			Acquires: s.AcquireCount(), EmptyAcquires: s.EmptyAcquireCount(), CanceledAcquires: s.CanceledAcquireCount(),
			AcquireWait: s.AcquireDuration(),
		})
	}
	return out
}
