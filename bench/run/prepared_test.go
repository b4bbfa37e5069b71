package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// scrapePoolStatements sums the runtime pools of every database and
// reports a metric that a binary does not export as absent.
func TestScrapePoolStatements(t *testing.T) {
	const scrape = `# TYPE tenantapi_db_pool_statements_prepared_total counter
tenantapi_db_pool_statements_prepared_total{pool="runtime"} 40
tenantapi_db_pool_statements_prepared_total{pool="eu/runtime"} 2
tenantapi_db_pool_statements_prepared_total{pool="owner"} 7
# TYPE tenantapi_db_pool_prepared_statements gauge
tenantapi_db_pool_prepared_statements{pool="runtime"} 31
# TYPE tenantapi_db_pool_max_connections gauge
tenantapi_db_pool_max_connections{pool="runtime"} 4
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(scrape))
	}))
	defer srv.Close()
	ps, err := scrapePoolStatements(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ps.prepared == nil || *ps.prepared != 42 {
		t.Errorf("prepared = %v, want 42 (runtime and eu/runtime)", optional(ps.prepared, "%.0f"))
	}
	if ps.now == nil || *ps.now != 31 {
		t.Errorf("prepared now = %v, want 31", optional(ps.now, "%.0f"))
	}
	if ps.deallocated != nil {
		t.Errorf("deallocated = %v, want absent", *ps.deallocated)
	}
	before := 10.0
	if got := optional(perRequest(&before, ps.prepared, 64), "%.3f"); got != "0.500" {
		t.Errorf("prepared per request = %s, want 0.500", got)
	}
	if got := optional(perRequest(&before, ps.deallocated, 64), "%.3f"); got != "—" {
		t.Errorf("deallocated per request = %s, want —", got)
	}
}
