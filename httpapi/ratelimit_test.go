package httpapi

import (
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
)

func TestLimiterBudget(t *testing.T) {
	t.Parallel()
	l := newLimiter(tenantapi.RateLimit{RPS: 2, Burst: 3}, 100)
	now := time.Unix(1_000_000, 0)
	for i := range 3 {
		if ok, _ := l.allow(1, nil, now); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := l.allow(1, nil, now)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("over the burst: ok %v, wait %v; want refused, wait in (0, 500ms]", ok, wait)
	}
	// Refusals spend nothing: the next token is still half a second away.
	for range 100 {
		l.allow(1, nil, now)
	}
	if ok, _ := l.allow(1, nil, now.Add(500*time.Millisecond)); !ok {
		t.Error("refused requests pushed the next token back")
	}
	// Another tenant has its own bucket.
	if ok, _ := l.allow(2, nil, now); !ok {
		t.Error("tenant 2 refused because tenant 1 spent its budget")
	}
	// A tenant's own limit wins over the default; RPS 0 never limits.
	none := &tenantapi.RateLimit{RPS: 0, Burst: 1}
	for range 1000 {
		if ok, _ := l.allow(3, none, now); !ok {
			t.Fatal("a tenant without a limit was refused")
		}
	}
	// A changed limit applies to an existing bucket.
	one := &tenantapi.RateLimit{RPS: 1, Burst: 1}
	l.allow(2, one, now)
	if ok, wait := l.allow(2, one, now); ok || wait != time.Second {
		t.Errorf("after lowering tenant 2's limit: ok %v, wait %v; want refused, 1s", ok, wait)
	}
}

// TestLimiterBounded checks that the limiter holds at most max buckets
// whatever the traffic, and that a sweep drops only buckets that are full
// again (so nobody's spent budget is forgotten) while there are such.
func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	const max = 100
	l := newLimiter(tenantapi.RateLimit{RPS: 100, Burst: 1}, max)
	now := time.Unix(1_000_000, 0)
	// Tenant 1 spends a slow budget that stays empty for the whole test.
	slow := &tenantapi.RateLimit{RPS: 0.0001, Burst: 1}
	if ok, _ := l.allow(1, slow, now); !ok {
		t.Fatal("first request refused")
	}
	// 10,000 other tenants, one request each, 10 ms apart: each bucket is
	// full again 10 ms later.
	for uid := int64(2); uid < 10_002; uid++ {
		now = now.Add(10 * time.Millisecond)
		l.allow(uid, nil, now)
		if n := l.len(); n > max {
			t.Fatalf("%d buckets after tenant %d, want at most %d", n, uid, max)
		}
	}
	if ok, _ := l.allow(1, slow, now); ok {
		t.Error("tenant 1's empty bucket was swept and refilled")
	}

	// When every bucket is busy, the bound still holds.
	busy := &tenantapi.RateLimit{RPS: 0.0001, Burst: 1}
	for uid := int64(20_000); uid < 30_000; uid++ {
		l.allow(uid, busy, now)
		if n := l.len(); n > max {
			t.Fatalf("%d busy buckets, want at most %d", n, max)
		}
	}
}

func TestCheckRateLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body   string
		want   *tenantapi.RateLimit
		fields []string
	}{
		{`null`, nil, nil},
		{`{"rps": 5, "burst": 10}`, &tenantapi.RateLimit{RPS: 5, Burst: 10}, nil},
		{`{"rps": 0.5, "burst": 1}`, &tenantapi.RateLimit{RPS: 0.5, Burst: 1}, nil},
		{`{"rps": 0, "burst": 1}`, &tenantapi.RateLimit{RPS: 0, Burst: 1}, nil},
		{`{"rps": 5}`, &tenantapi.RateLimit{RPS: 5, Burst: 5}, nil}, // one second's worth
		{`{"rps": 2.5, "burst": null}`, &tenantapi.RateLimit{RPS: 2.5, Burst: 3}, nil},
		{`{"rps": 0.1}`, &tenantapi.RateLimit{RPS: 0.1, Burst: 1}, nil},
		{`{"burst": 2}`, nil, []string{"/rate_limit/rps"}},
		{`{"rps": -1, "burst": 1.5}`, nil, []string{"/rate_limit/rps", "/rate_limit/burst"}},
		{`{"rps": "5", "burst": 0}`, nil, []string{"/rate_limit/rps", "/rate_limit/burst"}},
		{`{"rps": 1e400, "burst": 1e7}`, nil, []string{"/rate_limit/rps", "/rate_limit/burst"}},
		{`{"rps": 1, "burst": 1, "x": 1}`, nil, []string{"/rate_limit/x"}},
		{`5`, nil, []string{"/rate_limit"}},
		{`[]`, nil, []string{"/rate_limit"}},
	}
	for _, tc := range tests {
		v, err := parseJSON([]byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		var fe fieldErrors
		got := checkRateLimit(v, &fe)
		var fields []string
		for _, f := range fe {
			fields = append(fields, f.Field)
		}
		if len(fields) != len(tc.fields) {
			t.Errorf("%s: errors %v, want fields %v", tc.body, fe, tc.fields)
			continue
		}
		for i := range fields {
			if fields[i] != tc.fields[i] {
				t.Errorf("%s: errors %v, want fields %v", tc.body, fe, tc.fields)
			}
		}
		if tc.fields == nil && (got == nil) != (tc.want == nil) || got != nil && tc.want != nil && *got != *tc.want {
			t.Errorf("%s: limit %v, want %v", tc.body, got, tc.want)
		}
	}
}
