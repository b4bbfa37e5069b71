package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tenantapi/tenantapi"
)

// limitRequest spends one token of the authenticated tenant's budget (SPEC
// §4.1 step 7: after the registry check, before any body check). Over
// budget, it answers 429 rate-limited with Retry-After and returns false.
// Only tenants that passed authentication get here, so nobody can spend
// another tenant's budget.
func (s *Server) limitRequest(w http.ResponseWriter, r *http.Request, ts tenantStatus) bool {
	if s.limits == nil {
		return true
	}
	ok, wait := s.limits.allow(ts.ref.UID, ts.limit, time.Now())
	if ok {
		return true
	}
	secs := max(1, int64(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeRateLimited, "rate limit exceeded; retry after %d s", secs))
	return false
}

// limiterSweepEvery is how often, at most, a new bucket triggers a sweep of
// the idle ones.
const limiterSweepEvery = time.Minute

// limiter holds a token bucket per tenant, keyed by the tenant's internal
// identity (so a tenant deleted and created again starts afresh). A bucket
// that has refilled to its burst is the same as a new one, so sweeps drop
// those freely; at most max buckets are kept whatever the traffic.
type limiter struct {
	def tenantapi.RateLimit // for tenants without a limit of their own
	max int

	mu      sync.Mutex
	buckets map[int64]*bucket
	swept   time.Time
}

type bucket struct {
	tb    *rate.Limiter
	limit tenantapi.RateLimit // what tb was set to
}

func newLimiter(def tenantapi.RateLimit, max int) *limiter {
	return &limiter{def: def, max: max, buckets: map[int64]*bucket{}}
}

// allow spends a token of tenant uid's bucket at now and reports whether
// there was one; if not, wait is how long until there is. own is the
// tenant's own limit, nil for the default; RPS 0 never limits.
func (l *limiter) allow(uid int64, own *tenantapi.RateLimit, now time.Time) (ok bool, wait time.Duration) {
	lim := l.def
	if own != nil {
		lim = *own
	}
	if lim.RPS <= 0 {
		return true, 0
	}
	tb := l.bucket(uid, lim, now)
	if tb.AllowN(now, 1) {
		return true, 0
	}
	// AllowN spends nothing when it refuses, so a flood of refused requests
	// does not push the tenant's next token further away.
	missing := 1 - tb.TokensAt(now)
	return false, time.Duration(missing / lim.RPS * float64(time.Second))
}

// bucket returns uid's bucket, made or adjusted to lim.
func (l *limiter) bucket(uid int64, lim tenantapi.RateLimit, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[uid]
	switch {
	case b == nil:
		if len(l.buckets) >= l.max || now.Sub(l.swept) >= limiterSweepEvery {
			l.sweep(now)
		}
		b = &bucket{tb: rate.NewLimiter(rate.Limit(lim.RPS), lim.Burst), limit: lim}
		l.buckets[uid] = b
	case b.limit != lim:
		// The tenant's limit changed: keep its tokens, change the rate.
		b.tb.SetLimitAt(now, rate.Limit(lim.RPS))
		b.tb.SetBurstAt(now, lim.Burst)
		b.limit = lim
	}
	return b.tb
}

// sweep drops the buckets that are full again. If that leaves the map full,
// every tenant in it is busy; it then drops arbitrary buckets down to 7/8 of
// max (those tenants get a fresh burst), so memory stays bounded and the
// sweep cost is spread over many inserts.
func (l *limiter) sweep(now time.Time) {
	l.swept = now
	for uid, b := range l.buckets {
		if b.tb.TokensAt(now) >= float64(b.limit.Burst) {
			delete(l.buckets, uid)
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	for uid := range l.buckets {
		if len(l.buckets) <= l.max*7/8 {
			break
		}
		delete(l.buckets, uid)
	}
}

// len returns how many buckets are held.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// rateLimitJSON is a tenant's own rate limit in the admin API; a tenant
// without one shows null.
type rateLimitJSON struct {
	RPS   float64 `json:"rps"`
	Burst int     `json:"burst"`
}

func toRateLimitJSON(l *tenantapi.RateLimit) *rateLimitJSON {
	if l == nil {
		return nil
	}
	return &rateLimitJSON{RPS: l.RPS, Burst: l.Burst}
}

// checkRateLimit validates the "rate_limit" member of a tenant update:
// {"rps", "burst"}, or null for the server's default (nil). A burst that is
// absent or null takes one second's worth of rps, as `tenants limit`
// without --burst does (tenantapi.DefaultBurst).
func checkRateLimit(v any, fe *fieldErrors) *tenantapi.RateLimit {
	if v == nil {
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		fe.add("/rate_limit", `must be {"rps", "burst"} or null`)
		return nil
	}
	for k := range obj {
		if k != "rps" && k != "burst" {
			fe.add("/rate_limit/"+pointerToken(truncate(k, 64)), "is not a known field")
		}
	}
	n, _ := obj["rps"].(json.Number)
	rps, err := n.Float64()
	if err != nil || rps < 0 || rps > tenantapi.MaxRateLimitRPS {
		fe.add("/rate_limit/rps", "must be a number from 0 (no limit) to 1000000")
	}
	if obj["burst"] == nil {
		return &tenantapi.RateLimit{RPS: rps, Burst: tenantapi.DefaultBurst(rps)}
	}
	n, _ = obj["burst"].(json.Number)
	burst, err := n.Int64()
	if err != nil || burst < 1 || burst > tenantapi.MaxRateLimitBurst {
		fe.add("/rate_limit/burst", "must be an integer from 1 to 1000000, or absent for one second's worth of rps")
	}
	return &tenantapi.RateLimit{RPS: rps, Burst: int(burst)}
}
