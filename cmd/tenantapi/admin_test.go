package main

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAdminOffWithoutToken(t *testing.T) {
	e := setup(t, func(c *serverConfig) { c.AdminToken = "" })
	for _, path := range []string{"/admin/tenants", "/admin/config", "/admin/nope", "/admin/tenants/x/api-keys"} {
		expect(t, e.do(req{method: "GET", path: path}), 404, "not-found")
		expect(t, e.do(req{method: "OPTIONS", path: path}), 404, "not-found")
	}
}

func TestAdminToken(t *testing.T) {
	e := setup(t)
	expect(t, e.do(req{method: "GET", path: "/admin/tenants"}), 401, "unauthorized")
	expect(t, e.do(req{method: "GET", path: "/admin/tenants", header: map[string]string{"Authorization": "Bearer " + testAdminToken + "x"}}), 401, "unauthorized")
	expect(t, e.do(req{method: "GET", path: "/admin/tenants", header: map[string]string{"Authorization": "Basic " + testAdminToken}}), 401, "unauthorized")
	expect(t, e.admin("GET", "/admin/tenants", ""), 200, "")
	if _, err := newAPI(serverConfig{AdminToken: "short"}, e.db, nil); err == nil {
		t.Error("a short admin token was accepted")
	}
}

func TestAdminTenants(t *testing.T) {
	e := setup(t)
	r := e.admin("POST", "/admin/tenants", `{"id":"acme","name":"Acme Inc"}`)
	expect(t, r, 201, "")
	tn := r.json(t)
	if tn["id"] != "acme" || tn["name"] != "Acme Inc" || tn["status"] != "active" || tn["schema_version"].(float64) < 1 ||
		!timestampRE.MatchString(tn["created_at"].(string)) {
		t.Errorf("tenant %s", r.body)
	}
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"acme","name":"again"}`), 409, "conflict")
	for _, bad := range []string{"Acme", "-x", "_x", "a-b", "", strings.Repeat("a", 41), "ünï"} {
		r := e.admin("POST", "/admin/tenants", `{"id":"`+bad+`","name":"x"}`)
		expect(t, r, 422, "validation-failed")
		if !strings.Contains(string(r.body), `"field":"/id"`) {
			t.Errorf("%q: %s", bad, r.body)
		}
	}
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"x1","name":"x","plan":"gold"}`), 422, "validation-failed")
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"x1","name":"x","name":"y"}`), 400, "malformed-json")
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"x1"}`), 201, "")

	r = e.admin("GET", "/admin/tenants/acme", "")
	expect(t, r, 200, "")
	if r.json(t)["name"] != "Acme Inc" {
		t.Errorf("get %s", r.body)
	}
	expect(t, e.admin("GET", "/admin/tenants/ghost", ""), 404, "tenant-not-found")
	expect(t, e.admin("GET", "/admin/tenants/BAD%20ID", ""), 404, "tenant-not-found")

	r = e.admin("PATCH", "/admin/tenants/acme", `{"name":"Acme 2","status":"suspended"}`)
	expect(t, r, 200, "")
	if r.json(t)["status"] != "suspended" || r.json(t)["name"] != "Acme 2" || r.json(t)["id"] != "acme" {
		t.Errorf("patch %s", r.body)
	}
	expect(t, e.admin("PATCH", "/admin/tenants/acme", `{"status":"deleting"}`), 422, "validation-failed")
	expect(t, e.admin("PATCH", "/admin/tenants/acme", `{"id":"other"}`), 422, "validation-failed")
	expect(t, e.admin("PATCH", "/admin/tenants/ghost", `{"name":"x"}`), 404, "tenant-not-found")
	expect(t, e.admin("PATCH", "/admin/tenants/acme", `{"status":"active"}`), 200, "")

	// Pagination over tenants.
	for _, id := range []string{"t1", "t2", "t3"} {
		expect(t, e.admin("POST", "/admin/tenants", `{"id":"`+id+`","name":"x"}`), 201, "")
	}
	seen := map[string]bool{}
	path := "/admin/tenants?limit=2"
	for i := 0; i < 5; i++ {
		r := e.admin("GET", path, "")
		expect(t, r, 200, "")
		page := r.json(t)
		for _, tn := range page["tenants"].([]any) {
			id := tn.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("tenant %s twice", id)
			}
			seen[id] = true
		}
		next, ok := page["next_cursor"].(string)
		if !ok {
			break
		}
		path = "/admin/tenants?limit=2&cursor=" + next
	}
	if len(seen) != 5 {
		t.Errorf("listed %d tenants, want 5", len(seen))
	}
	expect(t, e.admin("GET", "/admin/tenants?limit=0", ""), 400, "invalid-query")
	expect(t, e.admin("GET", "/admin/tenants?cursor=!!", ""), 400, "invalid-cursor")
}

func TestAdminKeys(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	r := e.admin("POST", "/admin/tenants/acme/api-keys", `{"name":"ci","expires_at":"2099-01-01T00:00:00Z"}`)
	expect(t, r, 201, "")
	k := r.json(t)
	key := k["key"].(string)
	if !strings.HasPrefix(key, "tak_") || k["tenant_id"] != "acme" || k["name"] != "ci" || k["expires_at"] != "2099-01-01T00:00:00.000000Z" {
		t.Errorf("key %s", r.body)
	}
	r = e.admin("GET", "/admin/tenants/acme/api-keys", "")
	expect(t, r, 200, "")
	if strings.Contains(string(r.body), key) || strings.Contains(string(r.body), `"key"`) {
		t.Errorf("listing shows a secret: %s", r.body)
	}
	if n := len(r.json(t)["api_keys"].([]any)); n != 2 {
		t.Errorf("%d keys, want 2", n)
	}
	expect(t, e.admin("POST", "/admin/tenants/acme/api-keys", `{"expires_at":"2001-01-01T00:00:00Z"}`), 422, "validation-failed")
	expect(t, e.admin("POST", "/admin/tenants/acme/api-keys", `{"expires_at":"tomorrow"}`), 422, "validation-failed")
	expect(t, e.admin("POST", "/admin/tenants/ghost/api-keys", `{}`), 404, "tenant-not-found")
	expect(t, e.do(req{method: "POST", path: "/admin/tenants/acme/api-keys", header: map[string]string{"Authorization": "Bearer " + testAdminToken}}), 201, "")

	// The new key works at once; revoked, it stops.
	use := func() response {
		return e.do(req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "acme", "Authorization": "Bearer " + key}})
	}
	expect(t, use(), 200, "")
	expect(t, e.admin("DELETE", "/admin/tenants/acme/api-keys/"+k["id"].(string), ""), 204, "")
	expect(t, use(), 401, "unauthorized")
	expect(t, e.admin("DELETE", "/admin/tenants/acme/api-keys/"+k["id"].(string), ""), 404, "not-found")
	expect(t, e.admin("DELETE", "/admin/tenants/acme/api-keys/nope", ""), 404, "not-found")

	// An expired key is refused.
	soon := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	r = e.admin("POST", "/admin/tenants/acme/api-keys", `{"expires_at":"`+soon+`"}`)
	expect(t, r, 201, "")
	short := r.json(t)["key"].(string)
	call := func() response {
		return e.do(req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "acme", "Authorization": "Bearer " + short}})
	}
	expect(t, call(), 200, "")
	time.Sleep(1600 * time.Millisecond)
	expect(t, call(), 401, "unauthorized")
}

func TestAdminConfig(t *testing.T) {
	e := setup(t)
	r := e.admin("PUT", "/admin/config/rate.default", `{"rate":10,"burst":20}`)
	expect(t, r, 200, "")
	if r.json(t)["key"] != "rate.default" || !timestampRE.MatchString(r.json(t)["updated_at"].(string)) {
		t.Errorf("put %s", r.body)
	}
	expect(t, e.admin("PUT", "/admin/config/flag", `true`), 200, "")
	r = e.admin("GET", "/admin/config/rate.default", "")
	expect(t, r, 200, "")
	if v := r.json(t)["value"].(map[string]any); v["burst"] != 20.0 {
		t.Errorf("get %s", r.body)
	}
	r = e.admin("GET", "/admin/config", "")
	if n := len(r.json(t)["config"].([]any)); n != 2 {
		t.Errorf("%d entries: %s", n, r.body)
	}
	expect(t, e.admin("PUT", "/admin/config/x", `{"a":1,"a":2}`), 400, "malformed-json")
	expect(t, e.admin("PUT", "/admin/config/x", `nope`), 400, "malformed-json")
	expect(t, e.admin("DELETE", "/admin/config/flag", ""), 204, "")
	expect(t, e.admin("GET", "/admin/config/flag", ""), 404, "not-found")
	expect(t, e.admin("DELETE", "/admin/config/flag", ""), 404, "not-found")
	expect(t, e.admin("GET", "/admin/config/bad%20key", ""), 404, "not-found")
}

func TestSuspendAndDelete(t *testing.T) {
	e := setup(t)
	key := e.tenant("acme")
	id := e.create("acme", `{"name":"a"}`)["id"].(string)
	expect(t, e.admin("PATCH", "/admin/tenants/acme", `{"status":"suspended"}`), 200, "")
	expect(t, e.as("acme", "GET", "/items/"+id, ""), 403, "tenant-suspended")
	expect(t, e.admin("PATCH", "/admin/tenants/acme", `{"status":"active"}`), 200, "")
	expect(t, e.as("acme", "GET", "/items/"+id, ""), 200, "")

	// Requests racing the delete get 2xx, 401 or 404, never a 5xx.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := []int{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := e.as("acme", "GET", "/items/"+id, "").status
				if s != 200 && s != 401 && s != 404 {
					mu.Lock()
					bad = append(bad, s)
					mu.Unlock()
				}
			}
		}()
	}
	expect(t, e.admin("DELETE", "/admin/tenants/acme", ""), 204, "")
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("requests racing the delete got %v", bad)
	}
	expect(t, e.admin("GET", "/admin/tenants/acme", ""), 404, "tenant-not-found")
	expect(t, e.as("acme", "GET", "/items", ""), 401, "unauthorized")
	expect(t, e.admin("DELETE", "/admin/tenants/acme", ""), 404, "tenant-not-found")

	// Re-created with the same id, the tenant does not revive old keys or data.
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"acme","name":"new"}`), 201, "")
	r := e.do(req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "acme", "Authorization": "Bearer " + key}})
	expect(t, r, 401, "unauthorized")
	e.tenant2("acme")
	if items := e.as("acme", "GET", "/items", "").json(t)["items"].([]any); len(items) != 0 {
		t.Errorf("re-created tenant has %d items", len(items))
	}
}

// tenant2 issues a new key for an existing tenant.
func (e *apiEnv) tenant2(id string) {
	e.t.Helper()
	r := e.admin("POST", "/admin/tenants/"+id+"/api-keys", `{}`)
	if r.status != 201 {
		e.t.Fatalf("key: %d %s", r.status, r.body)
	}
	e.mu.Lock()
	e.keyOf[id] = r.json(e.t)["key"].(string)
	e.mu.Unlock()
}

func TestRacingTenantCreates(t *testing.T) {
	e := setup(t)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.admin("POST", "/admin/tenants", `{"id":"race","name":"r"}`).status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
		default:
			t.Errorf("status %d", s)
		}
	}
	if created != 1 {
		t.Errorf("%d creates succeeded (%v), want 1", created, statuses)
	}
}

func TestAuthNone(t *testing.T) {
	e := setup(t, func(c *serverConfig) { c.AuthMode = "none" })
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"acme","name":"x"}`), 201, "")
	r := e.do(req{method: "POST", path: "/items", header: map[string]string{"X-Tenant-ID": "acme", "Content-Type": "application/json"}, body: `{"name":"a"}`})
	expect(t, r, 201, "")
	expect(t, e.do(req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "ghost"}}), 404, "tenant-not-found")
	expect(t, e.do(req{method: "GET", path: "/items"}), 400, "missing-tenant-id")
}

func TestHealthAndDocs(t *testing.T) {
	e := setup(t)
	expect(t, e.do(req{method: "GET", path: "/healthz"}), 200, "")
	expect(t, e.do(req{method: "GET", path: "/readyz"}), 200, "")
	expect(t, e.do(req{method: "POST", path: "/healthz"}), 405, "method-not-allowed")
	r := e.do(req{method: "GET", path: "/openapi.json"})
	expect(t, r, 200, "")
	if r.json(t)["openapi"] != "3.1.0" {
		t.Errorf("openapi %s", r.body[:100])
	}
	r = e.do(req{method: "GET", path: "/docs"})
	if r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), "text/html") || strings.Contains(string(r.body), "https://cdn") {
		t.Errorf("docs: %d %v", r.status, r.header)
	}
}

// TestAdminTenantMergePatch: PATCH /admin/tenants/{id} has merge semantics
// ("rate_limit": null resets), so it takes application/merge-patch+json as
// well as application/json; anything else is 415 with Accept-Patch.
func TestAdminTenantMergePatch(t *testing.T) {
	e := setup(t)
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"acme","name":"Acme"}`), 201, "")
	patch := func(contentType, body string) response {
		t.Helper()
		return e.do(req{method: "PATCH", path: "/admin/tenants/acme", body: body,
			header: map[string]string{"Authorization": "Bearer " + testAdminToken, "Content-Type": contentType}})
	}
	r := patch("application/merge-patch+json", `{"name":"Acme 2","rate_limit":{"rps":5,"burst":10}}`)
	expect(t, r, 200, "")
	if r.json(t)["name"] != "Acme 2" || r.json(t)["rate_limit"] == nil {
		t.Errorf("merge patch: %s", r.body)
	}
	r = patch("application/merge-patch+json; charset=utf-8", `{"rate_limit":null}`)
	expect(t, r, 200, "")
	if rl, ok := r.json(t)["rate_limit"]; !ok || rl != nil {
		t.Errorf("merge patch with null: %s", r.body)
	}
	expect(t, patch("application/json", `{"name":"Acme 3"}`), 200, "")
	expect(t, patch("application/merge-patch+json", `{"name":""}`), 422, "validation-failed")
	expect(t, patch("application/merge-patch+json", `{"name":`), 400, "malformed-json")
	r = patch("text/plain", `{"name":"Acme 4"}`)
	expect(t, r, 415, "unsupported-media-type")
	if got := r.header.Get("Accept-Patch"); got != "application/json, application/merge-patch+json" {
		t.Errorf("415: Accept-Patch %q", got)
	}
	// Only PATCH has merge semantics.
	r = e.do(req{method: "POST", path: "/admin/tenants", body: `{"id":"other"}`,
		header: map[string]string{"Authorization": "Bearer " + testAdminToken, "Content-Type": "application/merge-patch+json"}})
	expect(t, r, 415, "unsupported-media-type")
	if r := e.admin("GET", "/admin/tenants/acme", ""); r.json(t)["name"] != "Acme 3" {
		t.Errorf("after the patches: %s", r.body)
	}
}
