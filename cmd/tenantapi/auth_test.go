package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/awslambda"
)

// TestAuthChallenge: a 401 for an API key that was presented but is
// malformed, unknown, revoked or expired says error="invalid_token" (RFC
// 6750 §3.1), as JWT mode does; a request without a bearer credential gets
// the plain challenge. The admin token follows the same rule, and the
// Lambda adapter passes the header on.
func TestAuthChallenge(t *testing.T) {
	const metricsToken = "scrape-token-0123456789"
	e := setup(t, func(c *serverConfig) {
		c.MetricsToken = metricsToken
		c.metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	})
	e.tenant("acme")
	r := e.admin("POST", "/admin/tenants/acme/api-keys", `{"name":"revoked"}`)
	expect(t, r, 201, "")
	revoked := r.json(t)["key"].(string)
	expect(t, e.admin("DELETE", "/admin/tenants/acme/api-keys/"+r.json(t)["id"].(string), ""), 204, "")
	// Two seconds leave a loaded machine time to create the key before it
	// expires; the wait below lasts until just past its expiry.
	expiry := time.Now().Add(2 * time.Second)
	r = e.admin("POST", "/admin/tenants/acme/api-keys",
		`{"name":"brief","expires_at":"`+expiry.UTC().Format(time.RFC3339Nano)+`"}`)
	expect(t, r, 201, "")
	expired := r.json(t)["key"].(string)
	unknown, _ := tenantapi.NewAPIKeySecret()
	time.Sleep(time.Until(expiry) + 100*time.Millisecond)

	const plain = `Bearer realm="tenantapi"`
	const invalid = `Bearer realm="tenantapi", error="invalid_token"`
	for _, tc := range []struct{ name, authorization, want string }{
		{"no credential", "", plain},
		{"another scheme", "Basic " + e.keyOf["acme"], plain},
		{"empty bearer", "Bearer ", plain},
		{"malformed key", "Bearer tak_nope", invalid},
		{"bad checksum", "Bearer " + corrupt(e.keyOf["acme"]), invalid},
		{"unknown key", "Bearer " + unknown, invalid},
		{"revoked key", "Bearer " + revoked, invalid},
		{"expired key", "Bearer " + expired, invalid},
	} {
		h := map[string]string{"X-Tenant-ID": "acme"}
		if tc.authorization != "" {
			h["Authorization"] = tc.authorization
		}
		r := e.do(req{method: "GET", path: "/items", header: h})
		if r.status != 401 || r.code(t) != "unauthorized" {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
			continue
		}
		if got := r.header.Get("WWW-Authenticate"); got != tc.want {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, got, tc.want)
		}

		// The same handler behind API Gateway.
		raw, err := awslambda.NewHandler(e.api, nil).Invoke(context.Background(), mustMarshal(t, restEvent("GET", "/items", h, nil, "", false)))
		if err != nil {
			t.Fatal(err)
		}
		var g gwResponse
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		if g.StatusCode != 401 || g.header("WWW-Authenticate") != tc.want {
			t.Errorf("%s through Lambda: %d, WWW-Authenticate %q, want %q", tc.name, g.StatusCode, g.header("WWW-Authenticate"), tc.want)
		}
	}
	expect(t, e.as("acme", "GET", "/items", ""), 200, "")

	// The admin and metrics tokens: none, plain; a wrong one, invalid_token.
	for _, tc := range []struct{ path, authorization, want string }{
		{"/admin/tenants", "", plain},
		{"/admin/tenants", "Basic " + testAdminToken, plain},
		{"/admin/tenants", "Bearer " + testAdminToken + "x", invalid},
		{"/metrics", "", plain},
		{"/metrics", "Bearer " + metricsToken + "x", invalid},
	} {
		h := map[string]string{}
		if tc.authorization != "" {
			h["Authorization"] = tc.authorization
		}
		r := e.do(req{method: "GET", path: tc.path, header: h})
		expect(t, r, 401, "unauthorized")
		if got := r.header.Get("WWW-Authenticate"); got != tc.want {
			t.Errorf("%s with %q: WWW-Authenticate %q, want %q", tc.path, tc.authorization, got, tc.want)
		}
	}
	expect(t, e.admin("GET", "/admin/tenants", ""), 200, "")
	expect(t, e.do(req{method: "GET", path: "/metrics", header: map[string]string{"Authorization": "Bearer " + metricsToken}}), 200, "")
}
