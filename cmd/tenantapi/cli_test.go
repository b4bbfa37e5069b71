package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// cli runs the program as a user would and returns its exit code and output.
func cli(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	err := run(context.Background(), append([]string{"tenantapi"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	code = exitCode(err, &errb)
	return code, out.String(), errb.String()
}

// cliJSON runs a command (with --json in args) and decodes the one JSON
// document it prints.
func cliJSON(t *testing.T, env map[string]string, args ...string) map[string]any {
	t.Helper()
	code, out, errs := cli(t, env, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("%v: not exactly one JSON document: %q", args, out)
	}
	return m
}

func TestCLI(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": testdb.New(t), "TENANT_DELETE_GRACE": "100ms"}
	mustJSON := func(args ...string) map[string]any {
		t.Helper()
		return cliJSON(t, env, args...)
	}
	m := mustJSON("migrate", "--json")
	if m["complete"] != true || m["tenants_total"] != 0.0 {
		t.Errorf("migrate: %v", m)
	}
	m = mustJSON("tenants", "create", "acme", "--name", "Acme", "--json")
	if m["id"] != "acme" || m["name"] != "Acme" || m["status"] != "active" {
		t.Errorf("create: %v", m)
	}
	m = mustJSON("tenants", "list", "--json")
	if len(m["tenants"].([]any)) != 1 {
		t.Errorf("list: %v", m)
	}
	if m = mustJSON("tenants", "suspend", "acme", "--json"); m["status"] != "suspended" {
		t.Errorf("suspend: %v", m)
	}
	if m = mustJSON("tenants", "activate", "acme", "--json"); m["status"] != "active" {
		t.Errorf("activate: %v", m)
	}
	if m = mustJSON("tenants", "show", "acme", "--json"); m["schema_version"].(float64) < 1 {
		t.Errorf("show: %v", m)
	}
	k := mustJSON("keys", "create", "acme", "--name", "ops", "--json")
	if !strings.HasPrefix(k["key"].(string), "tak_") || k["tenant_id"] != "acme" {
		t.Errorf("key: %v", k)
	}
	m = mustJSON("keys", "list", "acme", "--json")
	if keys := m["api_keys"].([]any); len(keys) != 1 || strings.Contains(func() string { b, _ := json.Marshal(m); return string(b) }(), k["key"].(string)) {
		t.Errorf("keys list: %v", m)
	}
	if code, out, _ := cli(t, env, "keys", "revoke", k["id"].(string)); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %d %s", code, out)
	}
	if code, _, _ := cli(t, env, "keys", "revoke", k["id"].(string)); code != 1 {
		t.Errorf("second revoke: exit %d, want 1", code)
	}
	code, out, _ := cli(t, env, "migrate")
	if code != 0 || !strings.Contains(out, "1 tenants: 0 migrated, 1 up to date, 0 failed") {
		t.Errorf("migrate summary: %d %q", code, out)
	}
	code, out, _ = cli(t, env, "tenants", "list")
	if code != 0 || !strings.Contains(out, "acme") || !strings.Contains(out, "STATUS") {
		t.Errorf("table: %q", out)
	}

	// Exit codes: 1 failure, 2 usage error, 0 for --help.
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"tenants", "show", "ghost"}, 1},
		{[]string{"tenants", "create", "acme"}, 1},
		{[]string{"tenants", "create", "Bad-Id"}, 2},
		{[]string{"tenants", "delete", "acme"}, 2},
		{[]string{"tenants", "frobnicate"}, 2},
		{[]string{"tenants"}, 2},
		{[]string{"nope"}, 2},
		{[]string{}, 2},
		{[]string{"migrate", "--concurrency", "0"}, 2},
		{[]string{"migrate", "--bogus"}, 2},
		{[]string{"keys", "create"}, 2},
		{[]string{"serve", "--help"}, 0},
		{[]string{"tenants", "--help"}, 0},
		{[]string{"keys", "create", "--help"}, 0},
		{[]string{"migrate", "--help"}, 0},
		{[]string{"dev", "--help"}, 0},
		{[]string{"--help"}, 0},
		{[]string{"version"}, 0},
	} {
		code, out, errs := cli(t, env, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, errs)
		}
		// --help prints the usage once, on standard output; a bad flag
		// is reported once, on standard error.
		if slices.Contains(tc.args, "--help") && (strings.Count(out, "Usage:") != 1 || errs != "") {
			t.Errorf("%v: stdout %q, stderr %q", tc.args, out, errs)
		}
		if slices.Contains(tc.args, "--bogus") && (out != "" || strings.Count(errs, "bogus") != 1 || strings.Contains(errs, "Usage:")) {
			t.Errorf("%v: stdout %q, stderr %q", tc.args, out, errs)
		}
	}

	if code, out, errs := cli(t, env, "tenants", "delete", "acme", "--yes"); code != 0 || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %d %s %s", code, out, errs)
	}
	if code, _, _ := cli(t, env, "tenants", "show", "acme"); code != 1 {
		t.Errorf("show after delete: exit %d", code)
	}
}

func TestServeRefusesUnsafeConfig(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"AUTH_MODE": "none", "HOST": "0.0.0.0", "DATABASE_URL": "postgres://x@127.0.0.1:1/x"},
		{"AUTH_MODE": "none", "DATABASE_URL": "postgres://x@127.0.0.1:1/x"},
		{"REQUEST_TIMEOUT": "soon", "DATABASE_URL": "postgres://x@127.0.0.1:1/x"},
		{},
	} {
		if code, _, errs := cli(t, env, "serve"); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", env, code, errs)
		}
	}
}

var listenRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// waitFor polls a buffer until re matches, for at most 60 s.
func waitFor(t *testing.T, b *syncBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s in %q", re, b.String())
	return nil
}

// TestServeEndToEnd drives run itself: serve on a free port, call the API
// from outside, then stop it as SIGTERM would and expect a clean exit.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	url := testdb.New(t)
	env := map[string]string{"DATABASE_URL": url, "PORT": "0", "HOST": "127.0.0.1", "ADMIN_TOKEN": testAdminToken}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	base, out, stop := serveInProcess(t, env)

	call := func(method, path, token, tenant, body string) (*http.Response, string) {
		r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		if tenant != "" {
			r.Header.Set("X-Tenant-ID", tenant)
		}
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := call("GET", "/healthz", "", "", ""); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	if resp, body := call("POST", "/admin/tenants", testAdminToken, "", `{"id":"e2e","name":"E2E"}`); resp.StatusCode != 201 {
		t.Fatalf("create tenant %d %s", resp.StatusCode, body)
	}
	_, body := call("POST", "/admin/tenants/e2e/api-keys", testAdminToken, "", `{}`)
	var k struct{ Key string }
	json.Unmarshal([]byte(body), &k)
	resp, body := call("POST", "/items", k.Key, "e2e", `{"name":"from outside"}`)
	if resp.StatusCode != 201 || !strings.Contains(body, "from outside") {
		t.Fatalf("create item %d %s", resp.StatusCode, body)
	}
	if strings.Contains(out.String(), k.Key) || strings.Contains(out.String(), testAdminToken) {
		t.Error("the log shows a secret")
	}
	if err := stop(30 * time.Second); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if !strings.Contains(out.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log: %s", out.String())
	}
}

var keyRE = regexp.MustCompile(`demo API key:\s+(tak_\S+)`)

// TestDev runs 'tenantapi dev' on its own embedded PostgreSQL, uses the key
// it prints, and checks that stopping it stops PostgreSQL too.
func TestDev(t *testing.T) {
	t.Parallel()
	dir := devFolder(t)
	env := map[string]string{"TENANTAPI_DIR": dir, "PORT": "0"}
	for round := 0; round < 2; round++ {
		d := startDev(t, env)
		if got := devStatus(t, "POST", d.base+"/items", d.key); got != 201 {
			t.Fatalf("round %d: create with the printed key: %d", round, got)
		}
		if err := d.stop(60 * time.Second); err != nil {
			t.Fatalf("dev returned %v; stderr %s", err, d.stderr.String())
		}
		if c := devCluster(t, dir); c.Running() {
			t.Fatal("PostgreSQL still running after dev stopped")
		}
	}
}
