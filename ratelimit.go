package tenantapi

import "math"

// RateLimit is a tenant's request budget in one server process: a token
// bucket that refills at RPS tokens a second and holds at most Burst, one
// token per request. RPS 0 means no limit.
type RateLimit struct {
	RPS   float64
	Burst int
}

// The bounds of a RateLimit; public.tenants checks the same.
const (
	MaxRateLimitRPS   = 1_000_000
	MaxRateLimitBurst = 1_000_000
)

// Valid reports whether l is within the bounds: RPS from 0 to
// MaxRateLimitRPS (a finite number), Burst from 1 to MaxRateLimitBurst.
func (l RateLimit) Valid() bool {
	return !math.IsNaN(l.RPS) && l.RPS >= 0 && l.RPS <= MaxRateLimitRPS &&
		l.Burst >= 1 && l.Burst <= MaxRateLimitBurst
}

// DefaultBurst returns the burst that goes with rps when none is given: one
// second's worth, at least 1.
func DefaultBurst(rps float64) int {
	if !(rps >= 1) {
		return 1
	}
	return int(math.Ceil(min(rps, MaxRateLimitBurst)))
}
