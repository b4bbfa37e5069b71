package httpapi

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tenantapi/tenantapi"
)

// changeWatch keeps this process's caches in step with the registry's
// change feed, so that found keys and tenant statuses can be kept for long
// (Config.CacheMaxAge) and still drop within Config.CacheTTL of a change
// made anywhere.
//
// The rule: a cached entry is trusted only while the last good read of the
// feed started less than fresh ago. A change committed before that read
// started was seen by it and its entries dropped, so a change takes effect
// here at most fresh after it commits. Reads happen in the background once
// the last one is older than interval (half of fresh), so a busy process
// never waits for one; a process that was idle (or frozen, on Lambda) reads
// the feed in line at its next cache hit.
type changeWatch struct {
	feed     tenantapi.ChangeFeed
	interval time.Duration
	fresh    time.Duration
	// apply drops what changed (everything on Reset: at the first read,
	// say, nothing before it is known).
	apply func(tenantapi.RegistryChanges)

	last    atomic.Int64 // start of the last good read, Unix nanoseconds
	reading atomic.Bool  // a background read is under way

	turn  chan struct{} // holds a token during a read; waited for under the caller's context
	since time.Time     // the feed's position; guarded by turn
}

func newChangeWatch(feed tenantapi.ChangeFeed, fresh time.Duration, apply func(tenantapi.RegistryChanges)) *changeWatch {
	return &changeWatch{feed: feed, interval: fresh / 2, fresh: fresh, apply: apply, turn: make(chan struct{}, 1)}
}

// current reports whether cached entries may be trusted now, reading the
// feed first when the last read is too old. It is false only when the feed
// cannot be read; the caller then looks the entry up afresh. A caller takes
// the entry from the cache after current, so that a read made here has
// dropped it if it changed.
func (w *changeWatch) current(ctx context.Context) bool {
	age := time.Since(time.Unix(0, w.last.Load()))
	if age < w.interval {
		return true
	}
	if age < w.fresh {
		if w.reading.CompareAndSwap(false, true) {
			go func() {
				defer w.reading.Store(false)
				ctx, cancel := context.WithTimeout(context.Background(), w.fresh)
				defer cancel()
				_ = w.read(ctx)
			}()
		}
		return true
	}
	return w.read(ctx) == nil
}

// read reads the feed and applies it, unless another read finished while
// this one waited for its turn.
func (w *changeWatch) read(ctx context.Context) error {
	select {
	case w.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.turn }()
	start := time.Now()
	if start.Sub(time.Unix(0, w.last.Load())) < w.interval {
		return nil
	}
	c, err := w.feed.RegistryChanges(ctx, w.since)
	if err != nil {
		return err
	}
	w.apply(c)
	w.since = c.Until
	w.last.Store(start.UnixNano())
	return nil
}
