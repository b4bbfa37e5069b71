package prom

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tenantapi/tenantapi"
)

// scrape serves the registry as a scraper would and parses the text format.
func scrape(t *testing.T, m *Metrics) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	m.Handler().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("scrape does not parse: %v\n%s", err, body)
	}
	return mfs, string(body)
}

// find returns the metric of family name whose labels include want.
func find(mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestRequestMetrics(t *testing.T) {
	m := New(Options{})
	ctx := context.Background()
	m.Request(ctx, tenantapi.RequestInfo{Route: "/items", Method: "GET", Status: 200, Tenant: "acme", Duration: 30 * time.Millisecond, DBTime: 4 * time.Millisecond})
	m.Request(ctx, tenantapi.RequestInfo{Route: "/items", Method: "GET", Status: 200, Tenant: "beta", Duration: 3 * time.Millisecond})
	m.Request(ctx, tenantapi.RequestInfo{Route: "/items/{item_id}", Method: "GET", Status: 404, Tenant: "acme", Duration: time.Millisecond})
	m.Request(ctx, tenantapi.RequestInfo{Route: "unmatched", Method: "BREW", Status: 503, Duration: time.Millisecond})
	mfs, body := scrape(t, m)

	if c := find(mfs, "tenantapi_http_requests_total", map[string]string{"route": "/items", "method": "GET", "status_class": "2xx"}); c == nil || c.GetCounter().GetValue() != 2 {
		t.Errorf("requests /items GET 2xx = %v\n%s", c, body)
	}
	if c := find(mfs, "tenantapi_http_requests_total", map[string]string{"route": "/items/{item_id}", "status_class": "4xx"}); c == nil || c.GetCounter().GetValue() != 1 {
		t.Errorf("requests 4xx = %v", c)
	}
	if c := find(mfs, "tenantapi_http_requests_total", map[string]string{"route": "unmatched", "method": "OTHER", "status_class": "5xx"}); c == nil {
		t.Errorf("an unknown method is not folded into OTHER:\n%s", body)
	}
	h := find(mfs, "tenantapi_http_request_duration_seconds", map[string]string{"route": "/items", "method": "GET"})
	if h == nil || h.GetHistogram().GetSampleCount() != 2 || h.GetHistogram().GetSampleSum() < 0.033 {
		t.Errorf("latency = %v", h)
	}
	if d := find(mfs, "tenantapi_http_request_db_seconds", map[string]string{"route": "/items"}); d == nil || d.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("db time = %v", d)
	}
	if strings.Contains(body, "acme") {
		t.Errorf("a tenant label without TenantLabel:\n%s", body)
	}

	m = New(Options{TenantLabel: true})
	m.Request(ctx, tenantapi.RequestInfo{Route: "/items", Method: "GET", Status: 200, Tenant: "acme", Duration: time.Millisecond})
	mfs, _ = scrape(t, m)
	if c := find(mfs, "tenantapi_http_requests_total", map[string]string{"tenant": "acme"}); c == nil {
		t.Error("no tenant label with TenantLabel")
	}
}

func TestPoolAndFleetMetrics(t *testing.T) {
	m := New(Options{})
	m.AddPools(func() []PoolStat {
		return []PoolStat{{Pool: "owner", Acquired: 1, Idle: 2, Total: 3, Max: 4, Acquires: 10, EmptyAcquires: 2, AcquireWait: 1500 * time.Millisecond,
			Prepared: 7, Prepares: 9, Deallocates: 2}}
	})
	calls := 0
	fail := false
	m.AddFleet(func(context.Context) (Fleet, error) {
		calls++
		if fail {
			return Fleet{}, errors.New("down")
		}
		return Fleet{Versions: map[int]int{1: 5, 2: 7}, Failed: 1}, nil
	}, time.Hour, time.Second)
	m.Migrations(3, 1)

	mfs, body := scrape(t, m)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tenantapi_db_pool_connections", map[string]string{"pool": "owner", "state": "idle"}, 2},
		{"tenantapi_db_pool_connections", map[string]string{"pool": "owner", "state": "total"}, 3},
		{"tenantapi_db_pool_max_connections", map[string]string{"pool": "owner"}, 4},
		{"tenantapi_db_pool_acquires_total", map[string]string{"pool": "owner"}, 10},
		{"tenantapi_db_pool_acquire_seconds_total", map[string]string{"pool": "owner"}, 1.5},
		{"tenantapi_db_pool_prepared_statements", map[string]string{"pool": "owner"}, 7},
		{"tenantapi_db_pool_statements_prepared_total", map[string]string{"pool": "owner"}, 9},
		{"tenantapi_db_pool_statements_deallocated_total", map[string]string{"pool": "owner"}, 2},
		{"tenantapi_tenant_schema_version_tenants", map[string]string{"version": "2"}, 7},
		{"tenantapi_tenant_migration_failed_tenants", nil, 1},
		{"tenantapi_tenant_migrations_total", map[string]string{"outcome": "migrated"}, 3},
		{"tenantapi_tenant_migrations_total", map[string]string{"outcome": "failed"}, 1},
	}
	for _, c := range checks {
		mt := find(mfs, c.name, c.labels)
		var got float64
		switch {
		case mt == nil:
			t.Errorf("%s%v missing\n%s", c.name, c.labels, body)
			continue
		case mt.Gauge != nil:
			got = mt.GetGauge().GetValue()
		case mt.Counter != nil:
			got = mt.GetCounter().GetValue()
		}
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The registry query is cached between scrapes.
	scrape(t, m)
	if calls != 1 {
		t.Errorf("fleet queried %d times for two scrapes within maxAge", calls)
	}
}
