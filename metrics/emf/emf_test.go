package emf

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
)

// emfLine is the part of an EMF document that CloudWatch reads.
type emfLine struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct{ Name, Unit string }
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// checkEMF validates line against the EMF specification's rules: the
// metadata is there, every dimension names a string member, every metric
// names a numeric member, and returns the document.
func checkEMF(t *testing.T, line string) (emfLine, map[string]any) {
	t.Helper()
	var doc emfLine
	var all map[string]any
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("not JSON: %q", line)
	}
	json.Unmarshal([]byte(line), &all)
	if doc.AWS.Timestamp == 0 || len(doc.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("no EMF metadata in %q", line)
	}
	d := doc.AWS.CloudWatchMetrics[0]
	if d.Namespace == "" || len(d.Dimensions) == 0 || len(d.Metrics) == 0 {
		t.Fatalf("incomplete directive in %q", line)
	}
	for _, set := range d.Dimensions {
		if len(set) > 30 {
			t.Errorf("dimension set %v too large", set)
		}
		for _, dim := range set {
			if _, ok := all[dim].(string); !ok {
				t.Errorf("dimension %s is not a string member of %q", dim, line)
			}
		}
	}
	for _, m := range d.Metrics {
		if _, ok := all[m.Name].(float64); !ok {
			t.Errorf("metric %s is not a number in %q", m.Name, line)
		}
	}
	return doc, all
}

func TestRequestLine(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, Options{})
	w.now = func() time.Time { return time.UnixMilli(1764166045123) }
	w.Request(context.Background(), tenantapi.RequestInfo{Route: "/items/{item_id}", Method: "GET", Status: 404, Tenant: "acme",
		ErrorCode: "item-not-found", Duration: 12345 * time.Microsecond, DBTime: 2 * time.Millisecond})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	doc, all := checkEMF(t, lines[0])
	d := doc.AWS.CloudWatchMetrics[0]
	if doc.AWS.Timestamp != 1764166045123 || d.Namespace != "tenantapi" || !slices.EqualFunc(d.Dimensions, [][]string{{"Service", "Route"}}, slices.Equal) {
		t.Errorf("metadata = %+v", doc.AWS)
	}
	want := map[string]any{"Service": "tenantapi", "Route": "GET /items/{item_id}", "Requests": 1.0, "ClientErrors": 1.0,
		"ServerErrors": 0.0, "Latency": 12.345, "DatabaseTime": 2.0, "tenant_id": "acme", "error_code": "item-not-found", "status": 404.0}
	for k, v := range want {
		if all[k] != v {
			t.Errorf("%s = %v, want %v", k, all[k], v)
		}
	}
	if _, ok := all["TenantId"]; ok {
		t.Error("tenant is a dimension without TenantDimension")
	}
}

func TestTenantDimension(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, Options{Namespace: "acme-saas", Service: "items", TenantDimension: true})
	w.Request(context.Background(), tenantapi.RequestInfo{Route: "/items", Method: "POST", Status: 503, Tenant: "acme", Duration: time.Millisecond})
	w.Request(context.Background(), tenantapi.RequestInfo{Route: "/healthz", Method: "GET", Status: 200, Duration: time.Millisecond})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	doc, all := checkEMF(t, lines[0])
	d := doc.AWS.CloudWatchMetrics[0]
	if d.Namespace != "acme-saas" || all["Service"] != "items" || all["TenantId"] != "acme" || all["ServerErrors"] != 1.0 ||
		!slices.EqualFunc(d.Dimensions, [][]string{{"Service", "Route"}, {"Service", "TenantId"}}, slices.Equal) {
		t.Errorf("line = %s", lines[0])
	}
	// A request without a tenant has no tenant dimension set.
	doc, _ = checkEMF(t, lines[1])
	if len(doc.AWS.CloudWatchMetrics[0].Dimensions) != 1 {
		t.Errorf("line = %s", lines[1])
	}
}

func TestMigrationsLineAndConcurrency(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, Options{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			w.Request(context.Background(), tenantapi.RequestInfo{Route: "/items", Method: "GET", Status: 200, Duration: time.Millisecond})
		})
	}
	wg.Wait()
	w.Migrations(4, 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 51 {
		t.Fatalf("%d lines, want 51", len(lines))
	}
	for _, l := range lines[:50] {
		checkEMF(t, l)
	}
	_, all := checkEMF(t, lines[50])
	if all["TenantsMigrated"] != 4.0 || all["TenantsFailed"] != 1.0 {
		t.Errorf("migrations line = %s", lines[50])
	}
}
