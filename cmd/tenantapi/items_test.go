package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)

func TestItemLifecycle(t *testing.T) {
	e := setup(t)
	e.tenant("acme")

	r := e.as("acme", "POST", "/items", `{"name":"Widget","attributes":{"color":"red","n":1.50,"<tag>":"a&b"}}`)
	expect(t, r, 201, "")
	it := r.json(t)
	id := it["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("id %q is not a UUIDv7", id)
	}
	if got := r.header.Get("Location"); got != "/items/"+id {
		t.Errorf("Location %q", got)
	}
	if got := r.header.Get("ETag"); got != `"1"` {
		t.Errorf("ETag %q", got)
	}
	if it["name"] != "Widget" || it["description"] != "" || it["version"] != 1.0 {
		t.Errorf("item %v", it)
	}
	if !timestampRE.MatchString(it["created_at"].(string)) || it["created_at"] != it["updated_at"] {
		t.Errorf("timestamps %v %v", it["created_at"], it["updated_at"])
	}
	attrs := it["attributes"].(map[string]any)
	if attrs["color"] != "red" || attrs["n"] != 1.5 || attrs["<tag>"] != "a&b" {
		t.Errorf("attributes %v", attrs)
	}

	r = e.as("acme", "GET", "/items/"+id, "")
	expect(t, r, 200, "")
	if r.header.Get("ETag") != `"1"` || r.json(t)["name"] != "Widget" {
		t.Errorf("get: %v %s", r.header, r.body)
	}
	if r.header.Get("Cache-Control") != "private, no-cache" || r.header.Get("Vary") != "Authorization, X-Tenant-ID" {
		t.Errorf("caching headers: %v", r.header)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("no nosniff")
	}

	r = e.as("acme", "HEAD", "/items/"+id, "")
	if r.status != 200 || len(r.body) != 0 || r.header.Get("ETag") != `"1"` {
		t.Errorf("HEAD: %d %q %v", r.status, r.body, r.header)
	}
	r = e.as("acme", "GET", "/items/"+id, "", "If-None-Match", `W/"1"`)
	if r.status != 304 || r.header.Get("ETag") != `"1"` {
		t.Errorf("If-None-Match weak: %d %v", r.status, r.header)
	}
	r = e.as("acme", "GET", "/items/"+id, "", "If-None-Match", `"7", "8"`)
	expect(t, r, 200, "")

	// PUT replaces; an omitted field goes back to its default.
	e.as("acme", "PATCH", "/items/"+id, `{"description":"long"}`)
	r = e.as("acme", "PUT", "/items/"+id, `{"name":"Gadget","id":"`+id+`","version":99}`)
	expect(t, r, 200, "")
	it = r.json(t)
	if it["name"] != "Gadget" || it["description"] != "" || it["version"] != 3.0 || r.header.Get("ETag") != `"3"` {
		t.Errorf("put: %s", r.body)
	}
	if len(it["attributes"].(map[string]any)) != 0 {
		t.Errorf("put kept attributes: %s", r.body)
	}

	// PATCH merges.
	e.as("acme", "PATCH", "/items/"+id, `{"attributes":{"a":{"b":1,"c":2},"d":3}}`)
	r = e.as("acme", "PATCH", "/items/"+id, `{"description":"x","attributes":{"a":{"b":null},"d":null,"e":[1]}}`)
	expect(t, r, 200, "")
	it = r.json(t)
	if got, _ := json.Marshal(it["attributes"]); string(got) != `{"a":{"c":2},"e":[1]}` || it["description"] != "x" || it["name"] != "Gadget" {
		t.Errorf("patch: %s", r.body)
	}
	r = e.as("acme", "PATCH", "/items/"+id, `{"description":null,"attributes":null}`)
	it = r.json(t)
	if it["description"] != "" || len(it["attributes"].(map[string]any)) != 0 || it["version"] != 6.0 {
		t.Errorf("patch null: %s", r.body)
	}

	expect(t, e.as("acme", "DELETE", "/items/"+id, ""), 204, "")
	expect(t, e.as("acme", "GET", "/items/"+id, ""), 404, "item-not-found")
	expect(t, e.as("acme", "DELETE", "/items/"+id, ""), 404, "item-not-found")
	expect(t, e.as("acme", "PUT", "/items/"+id, `{"name":"x"}`), 404, "item-not-found")
	expect(t, e.as("acme", "GET", "/items/not-a-uuid", ""), 404, "item-not-found")
}

func TestItemValidation(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	deep := strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32)
	tooDeep := strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33)
	big := `{"x":"` + strings.Repeat("a", 64<<10) + `"}`
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"ok minimal", `{"name":"a"}`, 201, ""},
		{"name missing", `{}`, 422, "/name"},
		{"name empty", `{"name":""}`, 422, "/name"},
		{"name not string", `{"name":5}`, 422, "/name"},
		{"name 200 code points", `{"name":"` + strings.Repeat("é", 200) + `"}`, 201, ""},
		{"name 201 code points", `{"name":"` + strings.Repeat("é", 201) + `"}`, 422, "/name"},
		{"description too long", `{"name":"a","description":"` + strings.Repeat("x", 10001) + `"}`, 422, "/description"},
		{"attributes array", `{"name":"a","attributes":[1]}`, 422, "/attributes"},
		{"attributes scalar", `{"name":"a","attributes":"x"}`, 422, "/attributes"},
		{"attributes depth 32", `{"name":"a","attributes":` + deep + `}`, 201, ""},
		{"attributes depth 33", `{"name":"a","attributes":` + tooDeep + `}`, 422, "/attributes"},
		{"attributes too big", `{"name":"a","attributes":` + big + `}`, 422, "/attributes"},
		{"NUL in name", `{"name":"a\u0000b"}`, 422, "/name"},
		{"NUL in attributes", `{"name":"a","attributes":{"k":["x","\u0000"]}}`, 422, "/attributes/k/1"},
		{"unknown field", `{"name":"a","colour":"red"}`, 422, "/colour"},
		{"read-only fields ignored", `{"name":"a","id":"x","version":7,"created_at":1,"updated_at":null}`, 201, ""},
		{"not an object", `[]`, 422, ""},
		{"duplicate key", `{"name":"a","name":"b"}`, 400, ""},
		{"nested duplicate key", `{"name":"a","attributes":{"x":1,"x":2}}`, 400, ""},
		{"trailing data", `{"name":"a"} {}`, 400, ""},
		{"invalid UTF-8", "{\"name\":\"a\xff\"}", 400, ""},
		{"not JSON", `{"name":`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.as("acme", "POST", "/items", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			switch tt.status {
			case 400:
				if r.code(t) != "malformed-json" {
					t.Errorf("code %s", r.body)
				}
			case 422:
				p := r.json(t)
				if p["code"] != "validation-failed" {
					t.Errorf("code %s", r.body)
				}
				errs, _ := p["errors"].([]any)
				found := false
				for _, fe := range errs {
					if fe.(map[string]any)["field"] == tt.field {
						found = true
					}
				}
				if !found {
					t.Errorf("no error for field %q: %s", tt.field, r.body)
				}
			}
		})
	}

	t.Run("PUT and PATCH", func(t *testing.T) {
		id := e.create("acme", `{"name":"a"}`)["id"].(string)
		other := "0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f"
		expect(t, e.as("acme", "PUT", "/items/"+id, `{"name":"a","id":"`+other+`"}`), 422, "validation-failed")
		expect(t, e.as("acme", "PATCH", "/items/"+id, `{"id":"`+other+`"}`), 422, "validation-failed")
		expect(t, e.as("acme", "PATCH", "/items/"+id, `{"name":null}`), 422, "validation-failed")
		expect(t, e.as("acme", "PATCH", "/items/"+id, `{"attributes":[1]}`), 422, "validation-failed")
		expect(t, e.as("acme", "PATCH", "/items/"+id, `[1]`), 422, "validation-failed")
		r := e.as("acme", "PATCH", "/items/"+id, `{"name":"b"}`, "Content-Type", "application/json")
		expect(t, r, 415, "unsupported-media-type")
		if r.header.Get("Accept-Patch") != "application/merge-patch+json" {
			t.Errorf("Accept-Patch %q", r.header.Get("Accept-Patch"))
		}
		expect(t, e.as("acme", "PUT", "/items/"+id, `{"name":"b"}`, "Content-Type", "text/plain"), 415, "unsupported-media-type")
		expect(t, e.as("acme", "POST", "/items", `{"name":"b"}`, "Content-Type", ""), 415, "unsupported-media-type")
		expect(t, e.as("acme", "POST", "/items", `{"name":"b"}`, "Content-Type", "application/json; charset=utf-8"), 201, "")
	})

	t.Run("body limit", func(t *testing.T) {
		huge := `{"name":"a","description":"` + strings.Repeat("x", 1<<20) + `"}`
		expect(t, e.as("acme", "POST", "/items", huge), 413, "payload-too-large")
		// 415 outranks 413.
		expect(t, e.as("acme", "POST", "/items", huge, "Content-Type", "text/plain"), 415, "unsupported-media-type")
	})
}

func TestErrorPrecedence(t *testing.T) {
	e := setup(t)
	keyA := e.tenant("alpha")
	keyB := e.tenant("beta")
	e.tenant("sleepy")
	expect(t, e.admin("PATCH", "/admin/tenants/sleepy", `{"status":"suspended"}`), 200, "")
	id := e.create("alpha", `{"name":"a"}`)["id"].(string)
	bearer := func(k string) string { return "Bearer " + k }

	tests := []struct {
		name   string
		rq     req
		status int
		code   string
	}{
		{"unknown route", req{method: "GET", path: "/nope"}, 404, "not-found"},
		{"method not allowed", req{method: "POST", path: "/items/" + id}, 405, "method-not-allowed"},
		{"missing tenant", req{method: "GET", path: "/items", header: map[string]string{"Authorization": bearer(keyA)}}, 400, "missing-tenant-id"},
		{"bad tenant", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "Alpha", "Authorization": bearer(keyA)}}, 400, "invalid-tenant-id"},
		{"tenant with a space", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "al pha"}}, 400, "invalid-tenant-id"},
		{"tenant too long", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": strings.Repeat("a", 41)}}, 400, "invalid-tenant-id"},
		{"two tenants", req{method: "GET", path: "/items", headers: http.Header{"X-Tenant-Id": {"alpha", "beta"}}}, 400, "invalid-tenant-id"},
		{"no credential, unknown tenant", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "ghost"}}, 401, "unauthorized"},
		{"malformed key", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "alpha", "Authorization": "Bearer tak_nope"}}, 401, "unauthorized"},
		{"key with bad checksum", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "alpha", "Authorization": bearer(corrupt(keyA))}}, 401, "unauthorized"},
		{"other tenant's key", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "alpha", "Authorization": bearer(keyB)}}, 403, "forbidden"},
		{"other tenant's key, unknown tenant", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "ghost", "Authorization": bearer(keyB)}}, 403, "forbidden"},
		{"suspended", req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "sleepy", "Authorization": bearer(e.keyOf["sleepy"])}}, 403, "tenant-suspended"},
		{"415 before 400", req{method: "POST", path: "/items", header: map[string]string{"X-Tenant-ID": "alpha", "Authorization": bearer(keyA), "Content-Type": "text/plain"}, body: "{"}, 415, "unsupported-media-type"},
		{"400 before 404", req{method: "PUT", path: "/items/0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f", header: map[string]string{"X-Tenant-ID": "alpha", "Authorization": bearer(keyA), "Content-Type": "application/json"}, body: "{"}, 400, "malformed-json"},
		{"404 before 422", req{method: "PUT", path: "/items/0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f", header: map[string]string{"X-Tenant-ID": "alpha", "Authorization": bearer(keyA), "Content-Type": "application/json"}, body: `{"name":""}`}, 404, "item-not-found"},
		{"412 before 422", req{method: "PUT", path: "/items/" + id, header: map[string]string{"X-Tenant-ID": "alpha", "Authorization": bearer(keyA), "Content-Type": "application/json", "If-Match": `"9"`}, body: `{"name":""}`}, 412, "precondition-failed"},
		{"422", req{method: "PUT", path: "/items/" + id, header: map[string]string{"X-Tenant-ID": "alpha", "Authorization": bearer(keyA), "Content-Type": "application/json", "If-Match": `"1"`}, body: `{"name":""}`}, 422, "validation-failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.rq)
			expect(t, r, tt.status, tt.code)
			if r.header.Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID")
			}
			switch tt.status {
			case 401:
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			case 405:
				if r.header.Get("Allow") != "DELETE, GET, HEAD, OPTIONS, PATCH, PUT" {
					t.Errorf("Allow %q", r.header.Get("Allow"))
				}
			}
			if strings.Contains(string(r.body), "SELECT") || strings.Contains(string(r.body), "tenant_") {
				t.Errorf("error shows internals: %s", r.body)
			}
		})
	}
}

func TestPreconditions(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	id := e.create("acme", `{"name":"a"}`)["id"].(string)
	path := "/items/" + id
	expect(t, e.as("acme", "PUT", path, `{"name":"b"}`, "If-Match", `"2"`), 412, "precondition-failed")
	expect(t, e.as("acme", "PUT", path, `{"name":"b"}`, "If-Match", `W/"1"`), 412, "precondition-failed")
	expect(t, e.as("acme", "PUT", path, `{"name":"b"}`, "If-Match", `"5", "1"`), 200, "")
	expect(t, e.as("acme", "PATCH", path, `{"name":"c"}`, "If-Match", `"1"`), 412, "precondition-failed")
	expect(t, e.as("acme", "PATCH", path, `{"name":"c"}`, "If-Match", "*"), 200, "")
	expect(t, e.as("acme", "DELETE", path, "", "If-Match", `"1"`), 412, "precondition-failed")
	expect(t, e.as("acme", "PUT", path, `{"name":"d"}`, "If-Match", `not-an-etag`), 400, "invalid-query")

	// Concurrent writers with the same If-Match: exactly one wins.
	for _, method := range []string{"PUT", "PATCH", "DELETE"} {
		id := e.create("acme", `{"name":"race"}`)["id"].(string)
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"name":"w%d"}`, i)
				if method == "DELETE" {
					body = ""
				}
				statuses[i] = e.as("acme", method, "/items/"+id, body, "If-Match", `"1"`).status
			}()
		}
		wg.Wait()
		wins := 0
		for _, s := range statuses {
			switch s {
			case 200, 204:
				wins++
			case 412, 404:
			default:
				t.Errorf("%s: unexpected status %d", method, s)
			}
		}
		if wins != 1 {
			t.Errorf("%s: %d winners (%v), want 1", method, wins, statuses)
		}
	}
}

func TestPagination(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	e.tenant("other")
	e.create("other", `{"name":"not mine"}`)
	want := map[string]bool{}
	for i := 0; i < 7; i++ {
		want[e.create("acme", fmt.Sprintf(`{"name":"i%d"}`, i))["id"].(string)] = true
	}
	seen := map[string]bool{}
	cursor, pages, last := "", 0, ""
	for {
		path := "/items?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.as("acme", "GET", path, "")
		expect(t, r, 200, "")
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor *string          `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, it := range page.Items {
			id := it["id"].(string)
			if seen[id] || !want[id] || id <= last {
				t.Fatalf("item %s repeated, foreign or out of order", id)
			}
			seen[id], last = true, id
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		if pages > 5 {
			t.Fatal("too many pages")
		}
	}
	if pages != 3 || len(seen) != 7 {
		t.Errorf("%d pages, %d items", pages, len(seen))
	}
	r := e.as("acme", "GET", "/items", "")
	if items := r.json(t)["items"].([]any); len(items) != 7 || r.json(t)["next_cursor"] != nil {
		t.Errorf("default page: %s", r.body)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=01", "limit=abc", "limit=1&limit=2", "limit=-1", "limit=", "foo=1", "limit=1000"} {
		expect(t, e.as("acme", "GET", "/items?"+q, ""), 400, "invalid-query")
	}
	expect(t, e.as("acme", "GET", "/items?limit=500", ""), 200, "")
	for _, c := range []string{"x", "AAAA", "%00", strings.Repeat("A", 23)} {
		expect(t, e.as("acme", "GET", "/items?cursor="+c, ""), 400, "invalid-cursor")
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	e.tenant("other")
	body := `{"name":"once"}`
	first := e.as("acme", "POST", "/items", body, "Idempotency-Key", "order-42")
	expect(t, first, 201, "")
	again := e.as("acme", "POST", "/items", body, "Idempotency-Key", "order-42")
	expect(t, again, 201, "")
	if string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" ||
		again.header.Get("Location") != first.header.Get("Location") || again.header.Get("ETag") != first.header.Get("ETag") {
		t.Errorf("replay differs:\n%s %v\n%s %v", first.body, first.header, again.body, again.header)
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("first response marked replayed")
	}
	expect(t, e.as("acme", "POST", "/items", `{"name":"twice"}`, "Idempotency-Key", "order-42"), 409, "idempotency-key-reused")
	// Keys are scoped to the tenant.
	expect(t, e.as("other", "POST", "/items", body, "Idempotency-Key", "order-42"), 201, "")
	for _, k := range []string{strings.Repeat("k", 256), "caf\u00e9", "tab\there"} {
		expect(t, e.as("acme", "POST", "/items", body, "Idempotency-Key", k), 400, "invalid-query")
	}
	if items := e.as("acme", "GET", "/items", "").json(t)["items"].([]any); len(items) != 1 {
		t.Errorf("%d items, want 1", len(items))
	}

	// Concurrent first requests with one key create exactly one item.
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.as("acme", "POST", "/items", `{"name":"burst"}`, "Idempotency-Key", "burst").status
		}()
	}
	wg.Wait()
	for _, s := range statuses {
		if s != 201 && s != 409 {
			t.Errorf("burst status %d", s)
		}
	}
	if items := e.as("acme", "GET", "/items", "").json(t)["items"].([]any); len(items) != 2 {
		t.Errorf("%d items after burst, want 2", len(items))
	}
}

// An item at one version has one representation: every answer that shows
// it has the bytes of the write that made that version, attributes included
// in PostgreSQL's jsonb text (its spacing and key order), whatever spacing
// and order the request used.
func TestItemOneRepresentationPerVersion(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	attrs := `{ "bb" : 1, "a":{"y":[1,2],"xx":"é\u00e9"}, "c": null }`
	// listed returns the bytes of item id in the list, as sent.
	listed := func(id string) string {
		t.Helper()
		var page struct{ Items []json.RawMessage }
		if err := json.Unmarshal(e.as("acme", "GET", "/items?limit=500", "").body, &page); err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Items {
			var it struct{ ID string }
			if err := json.Unmarshal(raw, &it); err != nil {
				t.Fatal(err)
			}
			if it.ID == id {
				return string(raw)
			}
		}
		t.Fatalf("item %s not listed", id)
		return ""
	}
	// same checks that GET and the list show id as want does.
	same := func(what, id string, want []byte) {
		t.Helper()
		if got := e.as("acme", "GET", "/items/"+id, "").body; string(got) != string(want) {
			t.Errorf("GET after %s:\n%s\nwant the bytes %s answered:\n%s", what, got, what, want)
		}
		if got := listed(id); got != string(want) {
			t.Errorf("list after %s:\n%s\nwant the bytes %s answered:\n%s", what, got, what, want)
		}
	}
	for _, key := range []string{"", "order-7"} {
		body := `{"name":"Widget","attributes":` + attrs + `}`
		created := e.as("acme", "POST", "/items", body, "Idempotency-Key", key)
		expect(t, created, 201, "")
		id := created.json(t)["id"].(string)
		what := "POST"
		if key != "" {
			what = "POST with Idempotency-Key"
			replay := e.as("acme", "POST", "/items", body, "Idempotency-Key", key)
			expect(t, replay, 201, "")
			if string(replay.body) != string(created.body) {
				t.Errorf("replay:\n%s\nwant the first answer:\n%s", replay.body, created.body)
			}
		}
		same(what, id, created.body)

		put := e.as("acme", "PUT", "/items/"+id, body)
		expect(t, put, 200, "")
		same("PUT", id, put.body)
		patch := e.as("acme", "PATCH", "/items/"+id, `{"attributes":{"c" :true}}`)
		expect(t, patch, 200, "")
		same("PATCH", id, patch.body)
	}
}

func TestTenantIsolation(t *testing.T) {
	e := setup(t)
	keyA := e.tenant("alpha")
	e.tenant("beta")
	a := e.create("alpha", `{"name":"secret of alpha"}`)["id"].(string)
	path := "/items/" + a
	// Beta's key with alpha's header: forbidden, whatever the method.
	for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
		body := ""
		if m == "PUT" || m == "PATCH" {
			body = `{"name":"pwned"}`
		}
		expect(t, e.as("beta", m, path, body, "X-Tenant-ID", "alpha"), 403, "forbidden")
		// Beta's own header with alpha's item id: not found.
		expect(t, e.as("beta", m, path, body), 404, "item-not-found")
	}
	expect(t, e.as("beta", "GET", "/items", "", "X-Tenant-ID", "alpha"), 403, "forbidden")
	r := e.as("beta", "GET", "/items", "")
	if strings.Contains(string(r.body), a) {
		t.Error("beta's list shows alpha's item")
	}
	r = e.as("alpha", "GET", path, "")
	if r.json(t)["name"] != "secret of alpha" || r.json(t)["version"] != 1.0 {
		t.Errorf("alpha's item changed: %s", r.body)
	}
	_ = keyA
}

func TestRequestIDAndCORS(t *testing.T) {
	e := setup(t, func(c *serverConfig) { c.CORSOrigins = []string{"https://app.example.com"} })
	e.tenant("acme")
	r := e.as("acme", "GET", "/items", "", "X-Request-ID", "abc-123.x:y_z")
	if r.header.Get("X-Request-ID") != "abc-123.x:y_z" {
		t.Errorf("request id not echoed: %q", r.header.Get("X-Request-ID"))
	}
	if !strings.Contains(e.logs.String(), `"request_id":"abc-123.x:y_z"`) {
		t.Error("request id not in the log line")
	}
	r = e.as("acme", "GET", "/items", "", "X-Request-ID", "bad id!")
	if got := r.header.Get("X-Request-ID"); got == "" || got == "bad id!" {
		t.Errorf("bad request id kept: %q", got)
	}
	r = e.do(req{method: "GET", path: "/nope"})
	if r.header.Get("X-Request-ID") == "" {
		t.Error("404 without X-Request-ID")
	}

	// Preflight: answered before tenant and credential checks.
	r = e.do(req{method: "OPTIONS", path: "/items", header: map[string]string{
		"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, x-tenant-id"}})
	expect(t, r, 204, "")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "X-Tenant-ID") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") ||
		r.header.Get("Allow") != "GET, HEAD, OPTIONS, POST" {
		t.Errorf("preflight headers: %v", r.header)
	}
	r = e.do(req{method: "OPTIONS", path: "/items", header: map[string]string{
		"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}})
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin: %d %v", r.status, r.header)
	}
	r = e.as("acme", "GET", "/items", "", "Origin", "https://app.example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Idempotent-Replayed") {
		t.Errorf("CORS on a response: %v", r.header)
	}
	expect(t, e.do(req{method: "OPTIONS", path: "/nope"}), 404, "not-found")
}

func TestAccessLogHasNoSecrets(t *testing.T) {
	e := setup(t)
	key := e.tenant("acme")
	e.create("acme", `{"name":"a"}`)
	e.as("acme", "GET", "/items", "", "Authorization", "Bearer "+key[:10])
	logs := e.logs.String()
	for _, secret := range []string{key, testAdminToken, key[:30]} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains a secret")
		}
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if strings.Contains(l, `"route":"/items"`) {
			json.Unmarshal([]byte(l), &line)
		}
	}
	if line["tenant_id"] != "acme" || line["method"] == nil || line["status"] == nil || line["duration_ms"] == nil {
		t.Errorf("access line %v", line)
	}
}

// corrupt changes the last character of a key, breaking its checksum.
func corrupt(key string) string {
	last := "a"
	if strings.HasSuffix(key, "a") {
		last = "b"
	}
	return key[:len(key)-1] + last
}

// TestAcceptPatchOnOptions: OPTIONS on a route that takes PATCH names the
// media types its PATCH accepts (RFC 5789 §3.1), as a PATCH's 415 does.
func TestAcceptPatchOnOptions(t *testing.T) {
	e := setup(t)
	for path, want := range map[string]string{
		"/items/0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f": "application/merge-patch+json",
		"/admin/tenants/acme":                         "application/json, application/merge-patch+json",
		"/items":                                      "",
		"/admin/config/k":                             "",
	} {
		h := map[string]string{}
		if strings.HasPrefix(path, "/admin/") {
			h["Authorization"] = "Bearer " + testAdminToken
		}
		r := e.do(req{method: "OPTIONS", path: path, header: h})
		expect(t, r, 204, "")
		if got := r.header.Get("Accept-Patch"); got != want {
			t.Errorf("OPTIONS %s: Accept-Patch %q, want %q", path, got, want)
		}
	}
}
