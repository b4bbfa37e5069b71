package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/metrics/emf"
)

// httpDo makes one request and returns the status and body.
func httpDo(t *testing.T, method, url, body string, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func metricValue(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestPrometheusMetrics runs serve's wiring and scrapes /metrics as
// Prometheus would, outside tenant auth.
func TestPrometheusMetrics(t *testing.T) {
	t.Parallel()
	const metricsToken = "scrape-token-0123456789"
	addr := startServe(t, func(c *serverConfig) { c.MetricsToken = metricsToken })
	base := "http://" + addr
	admin := map[string]string{"Authorization": "Bearer " + testAdminToken, "Content-Type": "application/json"}
	if st, b := httpDo(t, "POST", base+"/admin/tenants", `{"id":"acme","name":"Acme"}`, admin); st != 201 {
		t.Fatalf("create tenant: %d %s", st, b)
	}
	st, b := httpDo(t, "POST", base+"/admin/tenants/acme/api-keys", `{}`, admin)
	if st != 201 {
		t.Fatalf("create key: %d %s", st, b)
	}
	var key struct{ Key string }
	json.Unmarshal(b, &key)
	tenant := map[string]string{"X-Tenant-ID": "acme", "Authorization": "Bearer " + key.Key, "Content-Type": "application/json"}
	for range 3 {
		if st, b := httpDo(t, "POST", base+"/items", `{"name":"w"}`, tenant); st != 201 {
			t.Fatalf("create item: %d %s", st, b)
		}
	}
	httpDo(t, "GET", base+"/items/0193a6f1-0000-7000-8000-000000000000", "", tenant) // 404

	if st, _ := httpDo(t, "GET", base+"/metrics", "", nil); st != 401 {
		t.Errorf("/metrics without its token: %d, want 401", st)
	}
	st, body := httpDo(t, "GET", base+"/metrics", "", map[string]string{"Authorization": "Bearer " + metricsToken})
	if st != 200 {
		t.Fatalf("/metrics: %d %s", st, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"tenantapi_http_requests_total", map[string]string{"route": "/items", "method": "POST", "status_class": "2xx"}, 3},
		{"tenantapi_http_requests_total", map[string]string{"route": "/items/{id}", "method": "GET", "status_class": "4xx"}, 1},
		{"tenantapi_http_request_duration_seconds", map[string]string{"route": "/items", "method": "POST"}, 3},
		{"tenantapi_http_request_db_seconds", map[string]string{"route": "/items", "method": "POST"}, 3},
		{"tenantapi_db_pool_connections", map[string]string{"pool": "owner", "state": "total"}, 1},
		{"tenantapi_db_pool_acquires_total", map[string]string{"pool": "owner"}, 1},
		{"tenantapi_tenant_schema_version_tenants", map[string]string{}, 1},
		{"tenantapi_tenant_migration_failed_tenants", nil, 0},
		{"go_goroutines", nil, 1},
	}
	for _, c := range checks {
		v, ok := metricValue(mfs, c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want ≥ %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if strings.Contains(string(body), `tenant="acme"`) {
		t.Error("tenant label without METRICS_TENANT_LABEL")
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

func TestPrometheusTenantLabelAndOff(t *testing.T) {
	t.Parallel()
	addr := startServe(t, func(c *serverConfig) { c.MetricsTenantLabel = true })
	httpDo(t, "GET", "http://"+addr+"/items", "", map[string]string{"X-Tenant-ID": "ghost"})
	st, body := httpDo(t, "GET", "http://"+addr+"/metrics", "", nil)
	if st != 200 || !strings.Contains(string(body), `tenant="ghost"`) {
		t.Errorf("METRICS_TENANT_LABEL=true: %d, no tenant label in\n%s", st, body)
	}
	off := startServe(t, func(c *serverConfig) { c.Metrics = false })
	if st, _ := httpDo(t, "GET", "http://"+off+"/metrics", "", nil); st != 404 {
		t.Errorf("METRICS=false: /metrics answers %d, want 404", st)
	}
}

// TestEMFLines wires the Lambda observer and checks the lines a real
// request produces, database time included.
func TestEMFLines(t *testing.T) {
	var out syncBuffer
	e := setup(t, func(c *serverConfig) {
		c.observer = emf.New(&out, emf.Options{Namespace: c.MetricsNamespace, Service: c.MetricsService})
	})
	e.tenant("acme")
	e.create("acme", `{"name":"w"}`)
	var found map[string]any
	for line := range strings.Lines(out.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		if m["Route"] == "POST /items" {
			found = m
		}
	}
	if found == nil {
		t.Fatalf("no EMF line for POST /items in\n%s", out.String())
	}
	aws, _ := found["_aws"].(map[string]any)
	cwm, _ := aws["CloudWatchMetrics"].([]any)
	if len(cwm) != 1 || found["tenant_id"] != "acme" || found["Service"] != "tenantapi" || found["Requests"] != 1.0 {
		t.Errorf("EMF line = %v", found)
	}
	if db, _ := found["DatabaseTime"].(float64); db <= 0 {
		t.Errorf("DatabaseTime = %v, want > 0", found["DatabaseTime"])
	}
	if lat, _ := found["Latency"].(float64); lat < found["DatabaseTime"].(float64) {
		t.Errorf("Latency %v < DatabaseTime %v", lat, found["DatabaseTime"])
	}
}

// TestMigrateReportsToMetrics checks that a migrate run in this process (a
// Lambda direct invocation) reports its outcome to the metrics hook.
func TestMigrateReportsToMetrics(t *testing.T) {
	t.Parallel()
	url := testdb.New(t)
	env := newEnv(func(k string) string { return map[string]string{"DATABASE_URL": url}[k] })
	var out syncBuffer
	w := emf.New(&out, emf.Options{})
	env.migrated = w.Migrations
	if err := cmdMigrate(t.Context(), env, []string{"--json"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out.String()), &m); err != nil || m["TenantsMigrated"] != 0.0 || m["TenantsFailed"] != 0.0 {
		t.Errorf("migration EMF line %q (%v)", out.String(), err)
	}
}
