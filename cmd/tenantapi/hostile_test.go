package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/postgres"
)

// hostileStrings is the injection corpus: SQL breakers, identifier
// breakers, encodings, Unicode tricks, path tricks, template and format
// strings, JSON breakers, header injection, LIKE wildcards and very long
// input. Each is sent in every header, path segment, query parameter and
// body field the API reads.
var hostileStrings = []string{
	``,
	`'; DROP SCHEMA public CASCADE; --`,
	`" OR 1=1 --`,
	`' OR '1'='1`,
	`1; SELECT pg_sleep(10)`,
	`'; SELECT pg_sleep(10); --`,
	`pg_sleep(10)`,
	`tenant_a"."items`,
	`victim"; DROP TABLE items; --`,
	`tenant_victim`,
	`public`,
	`pg_catalog.pg_tables`,
	`$$`,
	`$1`,
	`$$; DROP SCHEMA public CASCADE; $$`,
	"\x00",
	"victim\x00",
	`%00`,
	`\u0000`,
	"\u0430cme",        // Cyrillic а
	"victim\u200f",     // RTL mark
	"\u202evictim",     // RTL override
	"ｖｉｃｔｉｍ",           // fullwidth
	"VICTIM",           // case folding
	" victim",          // trimming
	"victim\t",         // trimming
	"\xc0\xaf",         // overlong "/"
	"\xed\xa0\x80",     // UTF-8 encoded surrogate
	"\xff\xfe\xfd",     // never valid UTF-8
	"a\xe2\x82",        // truncated sequence
	"\U0001F600\u0301", // emoji + combining mark
	`../../`,
	`..%2f..%2f`,
	`%2e%2e%2f`,
	`/admin/tenants`,
	`{{schema}}`,
	`${schema}`,
	`%s%s%s%n`,
	`"}`,
	`"},"name":"x`,
	`{"a":1}`,
	`\`,
	`\\`,
	`\"`,
	"a\r\nX-Evil: 1",
	"a\nX-Evil: 1",
	`*`,
	`%`,
	`_`,
	`%_%`,
	`W/"1"`,
	`"1"`,
	`*, "1"`,
	`-1`,
	`0`,
	`99999999999999999999`,
	`1e999999`,
	`<script>alert(1)</script>`,
	strings.Repeat("A", 10<<10),
	strings.Repeat("é", 5<<10),
}

// sqlMarkers would show that server-side SQL or a driver error reached a
// response. In an error, a marker the request itself contained (echoed in a
// validation message) does not count; in any response, a marker that no
// corpus string contains counts (a success may show data the corpus stored).
var sqlMarkers = []string{
	"SQLSTATE", "syntax error", "pgx", "pgconn", "ERROR:", "tenant_victim", "public.tenants",
	"RETURNING", "ON CONFLICT", "pg_namespace", "search_path", "violates", "relation \"",
	"SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM", "DROP ",
}

// problemCodes are the problem codes the API may answer with.
var problemCodes = []string{
	"missing-tenant-id", "invalid-tenant-id", "malformed-json", "invalid-query", "invalid-cursor",
	"unauthorized", "forbidden", "tenant-suspended", "tenant-not-found", "item-not-found", "not-found",
	"method-not-allowed", "conflict", "idempotency-key-reused", "precondition-failed", "payload-too-large",
	"unsupported-media-type", "validation-failed", "rate-limited",
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// hostileCase is one request of the injection test.
type hostileCase struct {
	what   string // for failure messages
	method string
	path   string // raw, after the server URL
	header http.Header
	body   []byte
	// check, when set, judges the response further.
	check func(r response) error
}

// catalog is what the injection test compares before and after.
type catalog struct {
	namespaces, tables, roles []string
	tenants, victimItems      int
	rolePrefix                string // of this database's tenant roles
}

// snapshot reads the catalog of the test database. Roles are cluster-wide
// and other tests run beside this one, so only roles that can belong to
// this database are kept: tenant roles with this database's prefix and
// roles of no test at all.
func snapshot(t *testing.T, dbURL string) catalog {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	strs := func(sql string) []string {
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var c catalog
	// Temporary schemas come and go with sessions.
	c.namespaces = strs(`SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp_' ORDER BY 1`)
	c.tables = strs(`SELECT schemaname || '.' || tablename FROM pg_tables ORDER BY 1`)
	if err := conn.QueryRow(ctx, `SELECT 't' || substr(md5(current_database()), 1, 8) || '_'`).Scan(&c.rolePrefix); err != nil {
		t.Fatal(err)
	}
	otherTests := regexp.MustCompile(`^(t[0-9a-f]{8}_|(lambda_owner|lambda_set|rotation_owner)_[0-9]+$)`)
	for _, r := range strs(`SELECT rolname FROM pg_roles ORDER BY 1`) {
		if strings.HasPrefix(r, c.rolePrefix) || !otherTests.MatchString(r) {
			c.roles = append(c.roles, r)
		}
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM public.tenants`).Scan(&c.tenants); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tenant_victim.items`).Scan(&c.victimItems); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHostileInput sends the injection corpus in every header, path segment,
// query parameter and body field the API reads, with and without valid
// credentials (the admin token, a tenant key). Nothing may answer 5xx, every
// error must be problem+json, no response may show SQL or the victim
// tenant's data, and afterwards the database catalog, the registry and the
// victim's items must be as they were, but for the tenants the corpus
// legitimately created (strings such as "public" are valid tenant ids).
func TestHostileInput(t *testing.T) {
	// The example set: items, and projects and tasks with every kind of
	// field, filters on indexed columns and constraints.
	set, err := postgres.LoadMigrations("../../examples/projects")
	if err != nil {
		t.Fatal(err)
	}
	e := setupSet(t, set)
	victimKey := e.tenant("victim")
	attackerKey := e.tenant("attacker")

	// The victim's data: canaries that must never show up in a response.
	var victimIDs, canaries []string
	for i := range 3 {
		canary := fmt.Sprintf("victim-canary-%d-%d", i, time.Now().UnixNano())
		it := e.create("victim", `{"name":"`+canary+`","description":"`+canary+`-d","attributes":{"secret":"`+canary+`-a"}}`)
		victimIDs = append(victimIDs, it["id"].(string))
		canaries = append(canaries, canary)
	}
	attackerItem := e.create("attacker", `{"name":"mine"}`)["id"].(string)
	victimProject := e.as("victim", "POST", "/projects", `{"code":"SECRET","title":"`+canaries[0]+`-p","tags":["`+canaries[0]+`-t"]}`).json(t)["id"].(string)
	r := e.as("attacker", "POST", "/projects", `{"code":"MINE","title":"mine"}`)
	expect(t, r, 201, "")
	attackerProject := r.json(t)["id"].(string)
	secrets := slices.Concat(victimIDs, canaries, []string{victimKey, victimProject})
	before := snapshot(t, e.url)
	t.Logf("catalog before: %d schemas, %d tables, %d roles, %d tenants, %d victim items",
		len(before.namespaces), len(before.tables), len(before.roles), before.tenants, before.victimItems)

	client := *e.srv.Client()
	client.Timeout = 20 * time.Second
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	attacker := func(h http.Header) http.Header {
		out := http.Header{"X-Tenant-Id": {"attacker"}, "Authorization": {"Bearer " + attackerKey}}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	anonymous := func(h http.Header) http.Header {
		out := http.Header{"X-Tenant-Id": {"victim"}}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	admin := func(h http.Header) http.Header {
		out := http.Header{"Authorization": {"Bearer " + testAdminToken}, "Content-Type": {"application/json"}}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	jsonStr := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	noSuccess := func(r response) error {
		if r.status < 300 {
			return fmt.Errorf("succeeded with %d", r.status)
		}
		return nil
	}
	var (
		mu      sync.Mutex
		created []string // tenants the corpus created through the admin API
	)
	createTenant := func(h string) func(r response) error {
		return func(r response) error {
			if r.status != 201 {
				return nil
			}
			if !tenantapi.ValidTenantID(h) {
				return errors.New("created a tenant with an invalid id")
			}
			mu.Lock()
			created = append(created, h)
			mu.Unlock()
			return nil
		}
	}
	status := func(codes ...int) func(r response) error {
		return func(r response) error {
			if !slices.Contains(codes, r.status) {
				return fmt.Errorf("status %d, want one of %v", r.status, codes)
			}
			return nil
		}
	}

	var cases []hostileCase
	add := func(c hostileCase) { cases = append(cases, c) }
	for i, h := range hostileStrings {
		hs := []string{h}
		// Every header the API reads, each where it matters.
		for _, c := range []struct {
			name string
			reqs []hostileCase
		}{
			{"X-Tenant-Id", []hostileCase{
				{method: "GET", path: "/items", header: attacker(http.Header{"X-Tenant-Id": hs})},
				{method: "GET", path: "/items/" + victimIDs[0], header: anonymous(http.Header{"X-Tenant-Id": hs})},
			}},
			{"Authorization", []hostileCase{
				{method: "GET", path: "/items", header: attacker(http.Header{"Authorization": hs}), check: status(400, 401)},
				{method: "GET", path: "/items", header: attacker(http.Header{"Authorization": {"Bearer " + h}}), check: status(401)},
				{method: "GET", path: "/admin/tenants", header: admin(http.Header{"Authorization": {"Bearer " + h}}), check: status(401)},
			}},
			{"If-Match", []hostileCase{
				{method: "PATCH", path: "/items/" + attackerItem, header: attacker(http.Header{"If-Match": hs, "Content-Type": {"application/merge-patch+json"}}), body: []byte(`{"description":"m"}`)},
				{method: "DELETE", path: "/items/" + victimIDs[1], header: attacker(http.Header{"If-Match": hs}), check: status(400, 404)},
			}},
			{"If-None-Match", []hostileCase{
				{method: "GET", path: "/items/" + attackerItem, header: attacker(http.Header{"If-None-Match": hs})},
			}},
			{"Idempotency-Key", []hostileCase{
				{method: "POST", path: "/items", header: attacker(http.Header{"Idempotency-Key": hs, "Content-Type": {"application/json"}}), body: []byte(`{"name":"idem"}`)},
			}},
			{"X-Request-Id", []hostileCase{
				{method: "GET", path: "/healthz", header: http.Header{"X-Request-Id": hs}},
				{method: "GET", path: "/items", header: anonymous(http.Header{"X-Request-Id": hs}), check: status(401)},
			}},
			{"Content-Type", []hostileCase{
				{method: "POST", path: "/items", header: attacker(http.Header{"Content-Type": hs}), body: []byte(`{"name":"ct"}`), check: status(415)},
				{method: "PATCH", path: "/items/" + attackerItem, header: attacker(http.Header{"Content-Type": hs}), body: []byte(`{}`), check: status(415)},
				{method: "PUT", path: "/admin/config/ct", header: admin(http.Header{"Content-Type": hs}), body: []byte(`1`), check: status(415)},
			}},
			{"Origin", []hostileCase{
				{method: "OPTIONS", path: "/items", header: http.Header{"Origin": hs, "Access-Control-Request-Method": {"DELETE"}}, check: status(204)},
				{method: "GET", path: "/items", header: attacker(http.Header{"Origin": hs}), check: status(200)},
			}},
		} {
			for _, r := range c.reqs {
				r.what = fmt.Sprintf("header %s = corpus[%d] on %s %s", c.name, i, r.method, r.path)
				add(r)
			}
		}

		// Every path segment, escaped and raw.
		segments := []string{url.PathEscape(h)}
		if raw := h; raw != segments[0] {
			segments = append(segments, raw)
		}
		for _, x := range segments {
			for _, r := range []hostileCase{
				{method: "GET", path: "/items/" + x, header: attacker(nil), check: noSuccess},
				{method: "PUT", path: "/items/" + x, header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"name":"p"}`), check: noSuccess},
				{method: "PATCH", path: "/items/" + x, header: attacker(http.Header{"Content-Type": {"application/merge-patch+json"}}), body: []byte(`{"name":"p"}`), check: noSuccess},
				{method: "DELETE", path: "/items/" + x, header: attacker(nil), check: noSuccess},
				{method: "GET", path: "/items/" + x, header: anonymous(nil), check: noSuccess},
				{method: "GET", path: "/admin/tenants/" + x, header: admin(nil), check: noSuccess},
				{method: "PATCH", path: "/admin/tenants/" + x, header: admin(nil), body: []byte(`{"status":"suspended"}`), check: noSuccess},
				{method: "DELETE", path: "/admin/tenants/" + x, header: admin(nil), check: noSuccess},
				{method: "DELETE", path: "/admin/tenants/" + x, header: attacker(nil), check: noSuccess},
				{method: "GET", path: "/admin/tenants/" + x + "/api-keys", header: admin(nil), check: noSuccess},
				{method: "POST", path: "/admin/tenants/" + x + "/api-keys", header: admin(nil), body: []byte(`{}`), check: noSuccess},
				{method: "DELETE", path: "/admin/tenants/" + x + "/api-keys/abcdefghijklmnop", header: admin(nil), check: noSuccess},
				{method: "DELETE", path: "/admin/tenants/victim/api-keys/" + x, header: admin(nil), check: noSuccess},
				{method: "GET", path: "/admin/config/" + x, header: admin(nil)},
				{method: "PUT", path: "/admin/config/" + x, header: admin(nil), body: []byte(`{"v":1}`)},
				{method: "DELETE", path: "/admin/config/" + x, header: admin(nil)},
				{method: "GET", path: "/admin/config/" + x, header: attacker(nil), check: noSuccess},
				// Resource routes: the row id, and the resource name itself.
				{method: "GET", path: "/projects/" + x, header: attacker(nil), check: noSuccess},
				{method: "PUT", path: "/projects/" + x, header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"code":"P","title":"p"}`), check: noSuccess},
				{method: "PATCH", path: "/tasks/" + x, header: attacker(http.Header{"Content-Type": {"application/merge-patch+json"}}), body: []byte(`{"title":"p"}`), check: noSuccess},
				{method: "DELETE", path: "/projects/" + x, header: attacker(nil), check: noSuccess},
				{method: "GET", path: "/" + x, header: attacker(nil), check: noSuccess},
				{method: "POST", path: "/" + x, header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"name":"p"}`), check: noSuccess},
				{method: "GET", path: "/" + x + "/" + victimProject, header: attacker(nil), check: noSuccess},
				{method: "DELETE", path: "/" + x + "/" + victimProject, header: attacker(nil), check: noSuccess},
			} {
				r.what = fmt.Sprintf("path segment corpus[%d] (%s) in %s %s", i, map[bool]string{true: "escaped", false: "raw"}[x == segments[0]], r.method, r.path)
				add(r)
			}
		}

		// Every query parameter, and unknown names; escaped and raw (but
		// for spaces, which would break the request line: Go's client
		// sends a raw query as it is).
		values := []string{url.QueryEscape(h)}
		if raw := strings.ReplaceAll(h, " ", "%20"); raw != values[0] {
			values = append(values, raw)
		}
		for _, v := range values {
			qs := []string{"limit=" + v, "cursor=" + v, v + "=1", "cursor=" + v + "&cursor=" + v}
			if v != "" {
				qs = append(qs, "limit=10&"+v) // a parameter without "="
			}
			for _, q := range qs {
				add(hostileCase{what: fmt.Sprintf("query corpus[%d] %.40q on /items", i, q), method: "GET", path: "/items?" + q, header: attacker(nil), check: noSuccess})
				add(hostileCase{what: fmt.Sprintf("query corpus[%d] %.40q on /admin/tenants", i, q), method: "GET", path: "/admin/tenants?" + q, header: admin(nil), check: noSuccess})
			}
			add(hostileCase{what: fmt.Sprintf("query corpus[%d] on /items without a key", i), method: "GET", path: "/items?cursor=" + v, header: anonymous(nil), check: status(401)})
			// Filter names and values, typed by their columns.
			for _, q := range []string{"status=" + v, "project_id=" + v, "id=" + v, "title=" + v, v + "=todo",
				"status=todo&cursor=" + v, "status=todo&status=" + v, "priority=" + v, "due_on=" + v} {
				add(hostileCase{what: fmt.Sprintf("filter corpus[%d] %.40q on /tasks", i, q), method: "GET", path: "/tasks?" + q, header: attacker(nil)})
			}
			for _, q := range []string{"code=" + v, "code=SECRET&" + v + "=1"} {
				add(hostileCase{what: fmt.Sprintf("filter corpus[%d] %.40q on /projects", i, q), method: "GET", path: "/projects?" + q, header: attacker(nil)})
			}
		}

		// JSON bodies: properly encoded, and spliced in raw.
		for _, enc := range []struct {
			name string
			s    string
		}{{"encoded", jsonStr(h)}, {"raw", `"` + h + `"`}} {
			// The name comes back exactly as sent, or is refused.
			roundTrip := func(field string) func(r response) error {
				return func(r response) error {
					if r.status != 201 || enc.name != "encoded" {
						return nil
					}
					var it map[string]any
					if err := json.Unmarshal(r.body, &it); err != nil {
						return err
					}
					var want any
					json.Unmarshal([]byte(enc.s), &want)
					got := it[field]
					if field == "attributes" {
						got = it["attributes"].(map[string]any)["k"]
					}
					if got != want {
						return fmt.Errorf("%s came back as %q", field, got)
					}
					return nil
				}
			}
			for _, r := range []hostileCase{
				{method: "POST", path: "/items", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"name":` + enc.s + `}`), check: roundTrip("name")},
				{method: "POST", path: "/items", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"name":"d","description":` + enc.s + `}`), check: roundTrip("description")},
				{method: "POST", path: "/items", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"name":"k","attributes":{"k":` + enc.s + `,` + enc.s + `:` + enc.s + `}}`), check: roundTrip("attributes")},
				{method: "PUT", path: "/items/" + attackerItem, header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"name":` + enc.s + `,"id":` + enc.s + `}`), check: noSuccess},
				{method: "PATCH", path: "/items/" + victimIDs[2], header: attacker(http.Header{"Content-Type": {"application/merge-patch+json"}}), body: []byte(`{"name":` + enc.s + `}`), check: noSuccess},
				{method: "POST", path: "/items", header: anonymous(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"name":` + enc.s + `}`), check: status(401)},
				{method: "POST", path: "/admin/tenants", header: admin(nil), body: []byte(`{"id":` + enc.s + `,"name":"x"}`), check: createTenant(h)},
				{method: "POST", path: "/admin/tenants", header: admin(nil), body: []byte(`{"id":"victim","name":` + enc.s + `}`), check: noSuccess},
				{method: "PATCH", path: "/admin/tenants/attacker", header: admin(nil), body: []byte(`{"name":` + enc.s + `}`)},
				{method: "PATCH", path: "/admin/tenants/victim", header: admin(nil), body: []byte(`{"id":` + enc.s + `}`), check: noSuccess},
				{method: "PATCH", path: "/admin/tenants/victim", header: admin(nil), body: []byte(`{"status":` + enc.s + `}`), check: noSuccess},
				{method: "POST", path: "/admin/tenants/attacker/api-keys", header: admin(nil), body: []byte(`{"name":` + enc.s + `,"expires_at":` + enc.s + `}`), check: noSuccess},
				{method: "PUT", path: "/admin/config/hostile", header: admin(nil), body: []byte(enc.s)},
				// Every kind of resource field.
				{method: "POST", path: "/projects", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(fmt.Sprintf(`{"code":"H%d","title":%s}`, i, enc.s)), check: roundTrip("title")},
				{method: "POST", path: "/projects", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"code":` + enc.s + `,"title":"c"}`)},
				{method: "POST", path: "/projects", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"code":"X","title":"t","tags":[` + enc.s + `],"settings":{` + enc.s + `:` + enc.s + `}}`)},
				{method: "POST", path: "/projects", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"code":"Y","title":"t","budget":` + enc.s + `,"starts_on":` + enc.s + `}`), check: noSuccess},
				{method: "POST", path: "/projects", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{` + enc.s + `:1,"code":"Z","title":"t"}`), check: noSuccess},
				{method: "POST", path: "/tasks", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"project_id":` + enc.s + `,"title":"t"}`), check: noSuccess},
				{method: "POST", path: "/tasks", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"project_id":"` + victimProject + `","title":` + enc.s + `}`), check: noSuccess},
				{method: "POST", path: "/tasks", header: attacker(http.Header{"Content-Type": {"application/json"}}), body: []byte(`{"project_id":"` + attackerProject + `","title":"t","status":` + enc.s + `,"assignee":` + enc.s + `}`), check: noSuccess},
				{method: "PATCH", path: "/projects/" + attackerProject, header: attacker(http.Header{"Content-Type": {"application/merge-patch+json"}}), body: []byte(`{"settings":{"k":` + enc.s + `},"tags":[` + enc.s + `]}`)},
				{method: "PATCH", path: "/projects/" + victimProject, header: attacker(http.Header{"Content-Type": {"application/merge-patch+json"}}), body: []byte(`{"title":` + enc.s + `}`), check: noSuccess},
			} {
				r.what = fmt.Sprintf("body corpus[%d] (%s) in %s %s %.60q", i, enc.name, r.method, r.path, r.body)
				add(r)
			}
		}
	}

	// Run them on a few connections at once; t.Errorf is safe from here.
	var (
		sent, refused atomic.Int64
		failures      atomic.Int64
		wg            sync.WaitGroup
		next          = make(chan hostileCase)
	)
	fail := func(c hostileCase, format string, args ...any) {
		if failures.Add(1) <= 25 {
			t.Errorf("%s: %s", c.what, fmt.Sprintf(format, args...))
		}
	}
	start := time.Now()
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				r, err := hostileDo(&client, e.srv.URL, c)
				if errors.Is(err, errClientRefused) {
					refused.Add(1)
					continue
				}
				sent.Add(1)
				if err != nil {
					fail(c, "%v", err)
					continue
				}
				if msg := judgeHostile(c, r, secrets); msg != "" {
					fail(c, "%s; status %d, body %.300s", msg, r.status, r.body)
					continue
				}
				if c.check != nil {
					if err := c.check(r); err != nil {
						fail(c, "%v; body %.300s", err, r.body)
					}
				}
			}
		}()
	}
	for _, c := range cases {
		next <- c
	}
	close(next)
	wg.Wait()
	t.Logf("corpus of %d strings: %d requests sent, %d refused by the HTTP client (invalid URL or header value), %d failures, in %v; tenants created with corpus ids: %q",
		len(hostileStrings), sent.Load(), refused.Load(), failures.Load(), time.Since(start).Round(time.Millisecond), created)

	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("the server logged errors:\n%s", grepLines(e.logs.String(), `"level":"ERROR"`, 5))
	}

	// The catalog, the registry and the victim's items are as they were,
	// but for the tenants created with valid ids from the corpus.
	after := snapshot(t, e.url)
	for _, id := range created {
		schema := tenantapi.TenantID(id).Schema()
		if !slices.Contains(after.namespaces, schema) {
			t.Errorf("tenant %q was created without its schema", id)
		}
		after.namespaces = slices.DeleteFunc(after.namespaces, func(n string) bool { return n == schema })
		after.tables = slices.DeleteFunc(after.tables, func(n string) bool { return strings.HasPrefix(n, schema+".") })
		after.roles = slices.DeleteFunc(after.roles, func(n string) bool { return n == after.rolePrefix+id })
		after.tenants--
	}
	for _, d := range []struct {
		name          string
		before, after any
	}{
		{"schemas", before.namespaces, after.namespaces},
		{"tables", before.tables, after.tables},
		{"roles", before.roles, after.roles},
		{"tenants", before.tenants, after.tenants},
		{"victim items", before.victimItems, after.victimItems},
	} {
		if fmt.Sprint(d.before) != fmt.Sprint(d.after) {
			t.Errorf("%s changed:\nbefore %v\nafter  %v", d.name, d.before, d.after)
		}
	}
	for i, id := range victimIDs {
		r := e.as("victim", "GET", "/items/"+id, "")
		expect(t, r, 200, "")
		it := r.json(t)
		if it["name"] != canaries[i] || it["description"] != canaries[i]+"-d" || it["version"] != 1.0 {
			t.Errorf("victim item %s changed: %s", id, r.body)
		}
	}
	if r := e.as("victim", "GET", "/projects/"+victimProject, ""); r.status != 200 || r.json(t)["title"] != canaries[0]+"-p" || r.json(t)["version"] != 1.0 {
		t.Errorf("victim project changed: %d %s", r.status, r.body)
	}
	for _, id := range []string{"victim", "attacker"} {
		r := e.admin("GET", "/admin/tenants/"+id, "")
		expect(t, r, 200, "")
		if r.json(t)["status"] != "active" {
			t.Errorf("tenant %s: %s", id, r.body)
		}
	}
}

// errClientRefused marks a request Go's HTTP client will not send (a control
// character in a header value or the URL): no server ever sees it.
var errClientRefused = errors.New("refused by the HTTP client")

// hostileDo sends c and reads the whole answer.
func hostileDo(client *http.Client, base string, c hostileCase) (response, error) {
	req, err := http.NewRequest(c.method, base+c.path, bytes.NewReader(c.body))
	if err != nil {
		return response{}, errClientRefused
	}
	if c.body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "invalid header field") || strings.Contains(err.Error(), "invalid control character") {
			return response{}, errClientRefused
		}
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// judgeHostile returns what is wrong with r, the answer to c, or "".
func judgeHostile(c hostileCase, r response, secrets []string) string {
	if r.status >= 500 {
		return "server error"
	}
	if r.status >= 400 {
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			return "error with Content-Type " + ct
		}
		var p struct {
			Status int
			Code   string
		}
		if err := json.Unmarshal(r.body, &p); err != nil || p.Status != r.status || !slices.Contains(problemCodes, p.Code) {
			return "malformed problem"
		}
	}
	id := r.header.Get("X-Request-Id")
	if !requestIDRE.MatchString(id) {
		return fmt.Sprintf("X-Request-ID %q", id)
	}
	if sent := c.header.Get("X-Request-Id"); requestIDRE.MatchString(sent) && id != sent {
		return fmt.Sprintf("X-Request-ID %q, sent %q", id, sent)
	}
	if r.header.Get("X-Evil") != "" || r.header.Get("Access-Control-Allow-Origin") != "" {
		return "injected response header"
	}
	body := string(r.body)
	sentText := c.path + string(c.body) + fmt.Sprint(c.header)
	if p, err := url.PathUnescape(c.path); err == nil {
		sentText += p
	}
	if q, err := url.QueryUnescape(c.path); err == nil {
		sentText += q
	}
	for _, s := range secrets {
		// A victim's id the request itself names (a redirect that cleans
		// the path echoes it) is no leak; anything else is.
		if strings.Contains(body, s) && !strings.Contains(sentText, s) {
			return "the response shows the victim's data"
		}
	}
	for _, m := range sqlMarkers {
		if !strings.Contains(body, m) {
			continue
		}
		if r.status >= 400 && !strings.Contains(sentText, m) || !inCorpus(m) {
			return "the response shows SQL: " + m
		}
	}
	return ""
}

// inCorpus reports whether any corpus string contains s.
func inCorpus(s string) bool {
	for _, h := range hostileStrings {
		if strings.Contains(h, s) {
			return true
		}
	}
	return false
}

// grepLines returns up to n lines of s that contain sub.
func grepLines(s, sub string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHostileJSONValues sends JSON values that are valid JSON but that
// PostgreSQL refuses or blows up: numbers beyond numeric's range, numbers it
// prints in full (1e100000 is 100001 digits), and deep nesting. Each must be
// refused with 422 before it reaches the database, never answered with 500.
func TestHostileJSONValues(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	id := e.create("acme", `{"name":"x"}`)["id"].(string)
	many := func(n int, v string) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d":%s`, i, v)
		}
		return "{" + b.String() + "}"
	}
	for _, tt := range []struct {
		name, attrs string
		status      int
		field       string
	}{
		{"beyond numeric", `{"n":1e999999}`, 422, "/attributes/n"},
		{"below numeric's scale", `{"n":[1e-16384]}`, 422, "/attributes/n/0"},
		{"exponent beyond int", `{"n":1e2147483648}`, 422, "/attributes/n"},
		{"printed in 131072 digits", `{"n":1e131071}`, 422, "/attributes"},
		{"many numbers printed in full", many(20, "1e5000"), 422, "/attributes"},
		{"printed in 60001 digits", `{"n":1e60000}`, 201, ""},
		{"small and precise", `{"n":1.500e-3,"m":-0}`, 201, ""},
		{"nested 100000 deep", `{"n":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, 422, "/attributes"},
	} {
		for _, method := range []string{"POST", "PATCH"} {
			path, body := "/items", `{"name":"a","attributes":`+tt.attrs+`}`
			if method == "PATCH" {
				path = "/items/" + id
			}
			r := e.as("acme", method, path, body)
			want := tt.status
			if method == "PATCH" && want == 201 {
				want = 200
			}
			if r.status != want {
				t.Errorf("%s %s: status %d, want %d: %.300s", method, tt.name, r.status, want, r.body)
				continue
			}
			if tt.field != "" {
				var p struct{ Errors []struct{ Field string } }
				json.Unmarshal(r.body, &p)
				if len(p.Errors) == 0 || p.Errors[0].Field != tt.field {
					t.Errorf("%s %s: %s, want field %s", method, tt.name, r.body, tt.field)
				}
			}
			if len(r.body) > 100<<10 {
				t.Errorf("%s %s: a %d-byte answer", method, tt.name, len(r.body))
			}
		}
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("the server logged errors:\n%s", grepLines(e.logs.String(), `"level":"ERROR"`, 5))
	}

	t.Run("config values", func(t *testing.T) {
		for _, v := range []string{`1e999999`, `[1e-16384]`, strings.Repeat("[", 300000) + strings.Repeat("]", 300000), "[" + strings.Repeat(`1e131071,`, 200) + "1]"} {
			r := e.admin("PUT", "/admin/config/hostile", v)
			if r.status != 422 {
				t.Errorf("PUT /admin/config/hostile %.40s: %d %s", v, r.status, r.body)
			}
		}
	})
}
