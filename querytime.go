package tenantapi

import (
	"context"
	"sync/atomic"
	"time"
)

// QueryTimer adds up the time one request spends waiting on the database.
// The database adapter adds to the timer it finds in a call's context; the
// HTTP layer reports the total. It is safe for concurrent use.
type QueryTimer struct{ nanos atomic.Int64 }

// Add records d spent in a database call.
func (t *QueryTimer) Add(d time.Duration) { t.nanos.Add(int64(d)) }

// Total returns the time recorded so far.
func (t *QueryTimer) Total() time.Duration { return time.Duration(t.nanos.Load()) }

type queryTimerKey struct{}

// WithQueryTimer returns ctx carrying a new QueryTimer, and the timer.
func WithQueryTimer(ctx context.Context) (context.Context, *QueryTimer) {
	t := &QueryTimer{}
	return context.WithValue(ctx, queryTimerKey{}, t), t
}

// QueryTimerFrom returns the QueryTimer of ctx, or nil when there is none.
func QueryTimerFrom(ctx context.Context) *QueryTimer {
	t, _ := ctx.Value(queryTimerKey{}).(*QueryTimer)
	return t
}
