package postgres

import (
	"math"
	"testing"

	"github.com/tenantapi/tenantapi"
)

// TestTenantRateLimit sets, reads and resets a tenant's own rate limit
// through every path that returns it: the registry, the request path's
// status lookup and key authentication.
func TestTenantRateLimit(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "acme")
	_, secret, err := s.keys.CreateKey(t.Context(), "acme", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(want *tenantapi.RateLimit) {
		t.Helper()
		tn, err := s.tenants.Tenant(t.Context(), "acme")
		if err != nil || !equalLimit(tn.RateLimit, want) {
			t.Errorf("Tenant().RateLimit = %v, %v; want %v", tn.RateLimit, err, want)
		}
		_, _, got, err := s.tenants.TenantStatus(t.Context(), "acme")
		if err != nil || !equalLimit(got, want) {
			t.Errorf("TenantStatus rate limit = %v, %v; want %v", got, err, want)
		}
		p, err := s.keys.Authenticate(t.Context(), tenantapi.HashAPIKey(secret))
		if err != nil || !equalLimit(p.RateLimit, want) {
			t.Errorf("Authenticate().RateLimit = %v, %v; want %v", p.RateLimit, err, want)
		}
	}
	check(nil)

	name := "Acme"
	limit := &tenantapi.RateLimit{RPS: 2.5, Burst: 7}
	tn, err := s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{SetRateLimit: true, RateLimit: limit})
	if err != nil || !equalLimit(tn.RateLimit, limit) {
		t.Fatalf("UpdateTenant = %v, %v", tn.RateLimit, err)
	}
	check(limit)
	// Other updates leave the limit alone.
	if tn, err = s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{Name: &name}); err != nil || !equalLimit(tn.RateLimit, limit) {
		t.Fatalf("UpdateTenant(name) = %v, %v", tn.RateLimit, err)
	}
	// RPS 0 (no limit) is a limit of its own, not the default.
	exempt := &tenantapi.RateLimit{RPS: 0, Burst: 1}
	if _, err = s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{SetRateLimit: true, RateLimit: exempt}); err != nil {
		t.Fatal(err)
	}
	check(exempt)
	if _, err = s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{SetRateLimit: true}); err != nil {
		t.Fatal(err)
	}
	check(nil)

	for _, bad := range []tenantapi.RateLimit{
		{RPS: -1, Burst: 1}, {RPS: 1, Burst: 0}, {RPS: math.NaN(), Burst: 1}, {RPS: math.Inf(1), Burst: 1},
		{RPS: tenantapi.MaxRateLimitRPS + 1, Burst: 1}, {RPS: 1, Burst: tenantapi.MaxRateLimitBurst + 1},
	} {
		_, err := s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{SetRateLimit: true, RateLimit: &bad})
		wantCode(t, err, tenantapi.CodeValidationFailed)
	}
	check(nil)
}

func equalLimit(a, b *tenantapi.RateLimit) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
