package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTenantUsageEndpoint(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	e.tenant("other")
	for range 3 {
		e.create("acme", `{"name":"widget"}`)
	}
	e.as("acme", "GET", "/items", "")
	e.as("other", "GET", "/items", "")
	// Unauthenticated requests naming the tenant are not its traffic.
	e.do(req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "acme"}})

	r := e.admin("GET", "/admin/tenants/acme/usage", "")
	expect(t, r, 200, "")
	var u struct {
		TenantID     string `json:"tenant_id"`
		Items        int64  `json:"items"`
		StorageBytes int64  `json:"storage_bytes"`
		Requests     struct {
			Count       int64  `json:"count"`
			WindowStart string `json:"window_start"`
			WindowEnd   string `json:"window_end"`
			Scope       string `json:"scope"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatal(err)
	}
	if u.TenantID != "acme" || u.Items != 3 || u.StorageBytes <= 0 || u.Requests.Count != 4 || u.Requests.Scope != "process" {
		t.Errorf("usage = %s", r.body)
	}
	start, err1 := time.Parse(time.RFC3339Nano, u.Requests.WindowStart)
	end, err2 := time.Parse(time.RFC3339Nano, u.Requests.WindowEnd)
	if err1 != nil || err2 != nil || end.Sub(start) != time.Hour || !start.Equal(start.Truncate(time.Hour)) {
		t.Errorf("window %s – %s", u.Requests.WindowStart, u.Requests.WindowEnd)
	}

	expect(t, e.admin("GET", "/admin/tenants/nobody/usage", ""), 404, "tenant-not-found")
	expect(t, e.admin("GET", "/admin/tenants/BAD/usage", ""), 404, "tenant-not-found")
	expect(t, e.do(req{method: "GET", path: "/admin/tenants/acme/usage"}), 401, "unauthorized")
	expect(t, e.admin("POST", "/admin/tenants/acme/usage", ""), 405, "method-not-allowed")
}

func TestTenantsUsageCLI(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	e.create("acme", `{"name":"widget"}`)
	env := map[string]string{"DATABASE_URL": e.url}

	code, out, errs := cli(t, env, "tenants", "usage", "acme", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(out), &u); err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("not one JSON document: %q", out)
	}
	if u["tenant_id"] != "acme" || u["items"] != 1.0 || u["storage_bytes"].(float64) <= 0 {
		t.Errorf("usage --json = %v", u)
	}

	code, out, _ = cli(t, env, "tenants", "usage", "acme")
	if code != 0 || !strings.Contains(out, "acme") || !strings.Contains(out, "KiB") {
		t.Errorf("usage: exit %d, %q", code, out)
	}
	if code, _, errs = cli(t, env, "tenants", "usage", "nobody"); code != 1 || !strings.Contains(errs, "not") {
		t.Errorf("usage of an unknown tenant: exit %d, %q", code, errs)
	}
	if code, _, _ = cli(t, env, "tenants", "usage"); code != 2 {
		t.Errorf("usage without an id: exit %d", code)
	}
}

// TestTenantUsageCountsEveryResource: with the example set, usage counts
// the rows of each resource at the tenant's version, in the admin API and
// the CLI.
func TestTenantUsageCountsEveryResource(t *testing.T) {
	e := setupSet(t, exampleSet(t))
	e.tenant("acme")
	pid := e.project("acme", `{"code":"A","title":"a"}`)["id"].(string)
	for range 2 {
		expect(t, e.as("acme", "POST", "/tasks", `{"project_id":"`+pid+`","title":"t"}`), 201, "")
	}
	r := e.admin("GET", "/admin/tenants/acme/usage", "")
	expect(t, r, 200, "")
	var u struct {
		Items int64            `json:"items"`
		Rows  map[string]int64 `json:"rows"`
	}
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatal(err)
	}
	if u.Items != 0 || len(u.Rows) != 3 || u.Rows["projects"] != 1 || u.Rows["tasks"] != 2 || u.Rows["items"] != 0 {
		t.Errorf("usage = %s", r.body)
	}
	env := map[string]string{"DATABASE_URL": e.url, "TENANT_MIGRATIONS": "../../examples/projects"}
	code, out, errs := cli(t, env, "tenants", "usage", "acme")
	if code != 0 || !strings.Contains(out, "tasks") || !regexp.MustCompile(`tasks\s+2`).MatchString(out) {
		t.Errorf("usage: exit %d, %q %s", code, out, errs)
	}
}
