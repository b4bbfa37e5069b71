package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestQueryParameters: every API route refuses a query parameter it does not
// take, or one sent twice, with 400 invalid-query naming it, as the list
// routes always did; the check is the 400 of SPEC §4.1 (8), so what comes
// before it (credential, registry, 415, 413) still wins and what comes
// after (an absent item) does not. Open routes ignore the query string.
func TestQueryParameters(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	e.tenant("sleepy")
	expect(t, e.admin("PATCH", "/admin/tenants/sleepy", `{"status":"suspended"}`), 200, "")
	item := "/items/" + e.create("acme", `{"name":"a"}`)["id"].(string)
	absent := "/items/0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f"
	r := e.admin("POST", "/admin/tenants/acme/api-keys", `{"name":"doomed"}`)
	expect(t, r, 201, "")
	keyID := r.json(t)["id"].(string)

	refused := []struct{ method, path, body string }{
		{"GET", item + "?x=1", ""},
		{"HEAD", item + "?x=1", ""},
		{"PUT", item + "?x=1", `{"name":"b"}`},
		{"PATCH", item + "?x=1", `{"name":"b"}`},
		{"DELETE", item + "?x=1", ""},
		{"POST", "/items?x=1", `{"name":"b"}`},
		{"POST", "/items?limit=5", `{"name":"b"}`}, // a list parameter, not a create's
		{"GET", "/items?x=1", ""},
		{"GET", absent + "?x=1", ""}, // 400 before 404
		{"PUT", absent + "?x=1", `{"name":"b"}`},
	}
	for _, rq := range refused {
		r := e.as("acme", rq.method, rq.path, rq.body)
		if rq.method == "HEAD" {
			if r.status != 400 {
				t.Errorf("%s %s: %d, want 400", rq.method, rq.path, r.status)
			}
			continue
		}
		expect(t, r, 400, "invalid-query")
		name := "x"
		if strings.Contains(rq.path, "limit") {
			name = "limit"
		}
		if d, _ := r.json(t)["detail"].(string); !strings.Contains(d, `"`+name+`"`) {
			t.Errorf("%s %s: detail %q does not name %q", rq.method, rq.path, d, name)
		}
	}
	expect(t, e.as("acme", "GET", item+"?x=1&x=2", ""), 400, "invalid-query")
	expect(t, e.as("acme", "GET", item+"?x", ""), 400, "invalid-query")
	expect(t, e.as("acme", "GET", item+"?", ""), 200, "")
	expect(t, e.as("acme", "GET", "/items?limit=1&limit=2", ""), 400, "invalid-query")
	expect(t, e.as("acme", "GET", "/items?limit=1", ""), 200, "")
	if r := e.as("acme", "GET", item, ""); r.status != 200 || r.json(t)["version"] != 1.0 {
		t.Errorf("a refused request changed the item: %d %s", r.status, r.body)
	}

	// What comes before step (8) wins, and 415 and 413 before its 400.
	expect(t, e.as("acme", "GET", item+"?x=1", "", "Authorization", ""), 401, "unauthorized")
	expect(t, e.as("acme", "GET", item+"?x=1", "", "Authorization", "Bearer "+e.keyOf["sleepy"]), 403, "forbidden")
	expect(t, e.as("sleepy", "GET", "/items?x=1", ""), 403, "tenant-suspended")
	expect(t, e.as("acme", "GET", item+"?x=1", "", "X-Tenant-ID", ""), 400, "missing-tenant-id")
	expect(t, e.as("acme", "POST", "/items?x=1", `{"name":"b"}`, "Content-Type", "text/plain"), 415, "unsupported-media-type")
	r = e.as("acme", "PATCH", item+"?x=1", `{"name":"b"}`, "Content-Type", "application/json")
	expect(t, r, 415, "unsupported-media-type")
	if r.header.Get("Accept-Patch") != "application/merge-patch+json" {
		t.Errorf("PATCH 415: Accept-Patch %q", r.header.Get("Accept-Patch"))
	}
	huge := `{"name":"a","description":"` + strings.Repeat("x", 1<<20) + `"}`
	expect(t, e.as("acme", "POST", "/items?x=1", huge), 413, "payload-too-large")
	expect(t, e.as("acme", "PUT", item+"?x=1", huge), 413, "payload-too-large")
	// Also when the request does not say how long its body is (chunked).
	hr, err := http.NewRequest("POST", e.srv.URL+"/items?x=1", io.MultiReader(strings.NewReader(huge)))
	if err != nil {
		t.Fatal(err)
	}
	hr.ContentLength = -1 // unknown: sent chunked
	hr.Header = http.Header{"X-Tenant-Id": {"acme"}, "Authorization": {"Bearer " + e.keyOf["acme"]}, "Content-Type": {"application/json"}}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked body over 1 MiB with an unknown parameter: %d, want 413", resp.StatusCode)
	}
	if r := e.as("acme", "OPTIONS", item+"?x=1", ""); r.status != 204 {
		t.Errorf("OPTIONS with a query: %d", r.status)
	}

	// The admin API: the tenant list keeps limit and cursor, nothing else
	// takes any.
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/admin/tenants?x=1", ""},
		{"POST", "/admin/tenants?x=1", `{"id":"other"}`},
		{"GET", "/admin/tenants/acme?x=1", ""},
		{"GET", "/admin/tenants/ghost?x=1", ""}, // 400 before 404
		{"PATCH", "/admin/tenants/acme?x=1", `{"name":"b"}`},
		{"DELETE", "/admin/tenants/acme?x=1", ""},
		{"GET", "/admin/tenants/acme/usage?x=1", ""},
		{"GET", "/admin/tenants/acme/api-keys?limit=1", ""},
		{"POST", "/admin/tenants/acme/api-keys?x=1", ""},
		{"POST", "/admin/tenants/acme/api-keys?x=1", `{"name":"k"}`},
		{"DELETE", "/admin/tenants/acme/api-keys/" + keyID + "?x=1", ""},
		{"GET", "/admin/config?x=1", ""},
		{"GET", "/admin/config/signup.open?x=1", ""},
		{"PUT", "/admin/config/signup.open?x=1", `true`},
		{"DELETE", "/admin/config/signup.open?x=1", ""},
	} {
		r := e.admin(rq.method, rq.path, rq.body)
		if r.status != 400 || r.code(t) != "invalid-query" {
			t.Errorf("%s %s: %d %s, want 400 invalid-query", rq.method, rq.path, r.status, r.body)
		}
	}
	expect(t, e.admin("GET", "/admin/tenants?limit=1", ""), 200, "")
	expect(t, e.admin("GET", "/admin/tenants?limit=1&x=1", ""), 400, "invalid-query")
	expect(t, e.do(req{method: "GET", path: "/admin/tenants?x=1"}), 401, "unauthorized")
	expect(t, e.do(req{method: "PUT", path: "/admin/config/k?x=1", body: "true",
		header: map[string]string{"Authorization": "Bearer " + testAdminToken, "Content-Type": "text/plain"}}), 415, "unsupported-media-type")
	// Nothing refused above took effect.
	expect(t, e.admin("GET", "/admin/tenants/acme", ""), 200, "")
	expect(t, e.admin("GET", "/admin/tenants/other", ""), 404, "tenant-not-found")
	if r := e.admin("GET", "/admin/tenants/acme/api-keys", ""); strings.Contains(string(r.body), "revoked_at") {
		t.Errorf("a refused DELETE revoked a key: %s", r.body)
	}

	// Probes, scrapers and browsers may add cache busters.
	for _, path := range []string{"/healthz?x=1", "/readyz?x=1", "/openapi.json?x=1", "/docs?x=1"} {
		expect(t, e.do(req{method: "GET", path: path}), 200, "")
	}
}
