package postgres

import "github.com/tenantapi/tenantapi"

// A tenant's own rate limit is two nullable columns of public.tenants,
// rate_limit_rps and rate_limit_burst, NULL together (see
// migrations/public/0002_rate_limits.sql). They are read with the tenant on
// the request path, so no request pays a query of its own for them.

// rateLimitOf returns the limit the two columns hold, nil for the default.
func rateLimitOf(rps *float64, burst *int) *tenantapi.RateLimit {
	if rps == nil || burst == nil {
		return nil
	}
	return &tenantapi.RateLimit{RPS: *rps, Burst: *burst}
}

// rateLimitArgs returns the column values of l: both nil for the default.
func rateLimitArgs(l *tenantapi.RateLimit) (rps *float64, burst *int) {
	if l == nil {
		return nil, nil
	}
	return &l.RPS, &l.Burst
}

// errInvalidRateLimit refuses a limit out of tenantapi.RateLimit's bounds.
var errInvalidRateLimit = &tenantapi.Error{
	Code:   tenantapi.CodeValidationFailed,
	Detail: "the rate limit is out of bounds",
	Fields: []tenantapi.FieldError{{Field: "/rate_limit", Message: "rps must be 0 to 1000000, burst 1 to 1000000"}},
}
