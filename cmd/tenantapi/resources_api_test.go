package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/postgres"
)

// The example application set (examples/projects) served over HTTP: every
// behaviour SPEC §10 promises, from outside.

func exampleSet(t *testing.T) []postgres.Migration {
	t.Helper()
	set, err := postgres.LoadMigrations("../../examples/projects")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// project creates a project for tenant id and returns it.
func (e *apiEnv) project(id, body string) map[string]any {
	e.t.Helper()
	r := e.as(id, "POST", "/projects", body)
	if r.status != 201 {
		e.t.Fatalf("create project: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// wantInvalid fails unless r is 422 with a problem on field.
func wantInvalid(t *testing.T, r response, field string) {
	t.Helper()
	expect(t, r, 422, "validation-failed")
	var p struct{ Errors []tenantapi.FieldError }
	json.Unmarshal(r.body, &p)
	for _, fe := range p.Errors {
		if fe.Field == field {
			return
		}
	}
	t.Fatalf("no problem on %q: %s", field, r.body)
}

func TestResourceTypesRoundTrip(t *testing.T) {
	e := setupSet(t, exampleSet(t))
	e.tenant("acme")
	p := e.as("acme", "POST", "/projects", `{"code":"APP","title":"Mobile app","budget":1234567890.10,
		"starts_on":"2026-02-28","tags":["ios","android",null],"settings":{"theme":"dark","n":[1,2.50]},"archived":true}`)
	expect(t, p, 201, "")
	// numeric keeps its digits exactly, as the text PostgreSQL holds.
	if !strings.Contains(string(p.body), `"budget":1234567890.10`) {
		t.Errorf("budget not exact: %s", p.body)
	}
	if p.header.Get("ETag") != `"1"` || !strings.HasSuffix(p.header.Get("Location"), "/projects/"+p.json(t)["id"].(string)) {
		t.Errorf("ETag %q, Location %q", p.header.Get("ETag"), p.header.Get("Location"))
	}
	pid := p.json(t)["id"].(string)
	got := e.as("acme", "GET", "/projects/"+pid, "")
	expect(t, got, 200, "")
	if string(got.body) != string(p.body) {
		t.Errorf("GET %s\nPOST %s", got.body, p.body)
	}
	m := got.json(t)
	for k, want := range map[string]any{"code": "APP", "starts_on": "2026-02-28", "archived": true, "version": 1.0} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if fmt.Sprint(m["tags"]) != "[ios android <nil>]" || fmt.Sprint(m["settings"]) != "map[n:[1 2.5] theme:dark]" {
		t.Errorf("tags %v, settings %v", m["tags"], m["settings"])
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if ts, _ := m[k].(string); len(ts) != len("2026-11-26T14:07:25.123456Z") || !strings.HasSuffix(ts, "Z") {
			t.Errorf("%s = %q", k, m[k])
		}
	}

	task := e.as("acme", "POST", "/tasks", `{"project_id":"`+pid+`","title":"Login","status":"doing","priority":5,
		"estimate":0.1,"due_on":"2026-03-01","assignee":"0193a6f1-7c3e-7b4a-9d2e-1f2a3b4c5d6e"}`)
	expect(t, task, 201, "")
	tm := task.json(t)
	for k, want := range map[string]any{"status": "doing", "priority": 5.0, "estimate": 0.1, "due_on": "2026-03-01",
		"assignee": "0193a6f1-7c3e-7b4a-9d2e-1f2a3b4c5d6e", "project_id": pid} {
		if tm[k] != want {
			t.Errorf("task %s = %v, want %v", k, tm[k], want)
		}
	}
	// Omitted optional columns take their defaults, or null.
	min := e.as("acme", "POST", "/tasks", `{"project_id":"`+pid+`","title":"Defaults"}`).json(t)
	if min["status"] != "todo" || min["priority"] != 3.0 || min["estimate"] != nil || min["due_on"] != nil {
		t.Errorf("defaults: %v", min)
	}
}

func TestResourceNoCoercion(t *testing.T) {
	e := setupSet(t, exampleSet(t))
	e.tenant("acme")
	pid := e.project("acme", `{"code":"APP","title":"t"}`)["id"].(string)
	task := func(extra string) response {
		body := `{"project_id":"` + pid + `","title":"t",` + extra + `}`
		if strings.Contains(extra, `"title"`) || strings.Contains(extra, `"project_id"`) {
			body = `{"project_id":"` + pid + `",` + extra + `}`
			if strings.Contains(extra, `"project_id"`) {
				body = `{"title":"t",` + extra + `}`
			}
		}
		return e.as("acme", "POST", "/tasks", body)
	}
	for _, c := range []struct{ body, field string }{
		{`"priority":"5"`, "/priority"},
		{`"priority":5.0`, "/priority"},
		{`"priority":1e0`, "/priority"},
		{`"priority":70000`, "/priority"}, // smallint
		{`"estimate":"1.5"`, "/estimate"},
		{`"estimate":1e400`, "/estimate"},
		{`"status":"nope"`, "/status"},
		{`"status":1`, "/status"},
		{`"due_on":"2026-02-30"`, "/due_on"},
		{`"due_on":"2026-2-3"`, "/due_on"},
		{`"assignee":"not-a-uuid"`, "/assignee"},
		{`"title":"a\u0000b"`, "/title"},
		{`"title":5`, "/title"},
		{`"unknown":1`, "/unknown"},
		{`"project_id":null`, "/project_id"},
	} {
		t.Run(c.body, func(t *testing.T) { wantInvalid(t, task(c.body), c.field) })
	}
	proj := func(body string) response { return e.as("acme", "POST", "/projects", body) }
	for _, c := range []struct{ body, field string }{
		{`{"code":"B","title":"t","archived":"true"}`, "/archived"},
		{`{"code":"B","title":"t","budget":1.234}`, "/budget"},         // numeric(12,2): no rounding
		{`{"code":"B","title":"t","budget":12345678901.5}`, "/budget"}, // 11 integer digits
		{`{"code":"B","title":"t","tags":"a"}`, "/tags"},
		{`{"code":"B","title":"t","tags":["a",1]}`, "/tags/1"},
		{`{"code":"B","title":"t","starts_on":"2026-01-01T00:00:00Z"}`, "/starts_on"},
		{`{"code":"TOOLONGCODE13","title":"t"}`, "/code"}, // varchar(12)
		{`{"title":"t"}`, "/code"},                        // required
		{`{"code":null,"title":"t"}`, "/code"},
	} {
		t.Run(c.body, func(t *testing.T) { wantInvalid(t, proj(c.body), c.field) })
	}
	// 1.50 is two digits after the point, within numeric(12,2).
	expect(t, proj(`{"code":"C","title":"t","budget":1.500}`), 201, "")
}

func TestResourceConstraintsAreProblems(t *testing.T) {
	e := setupSet(t, exampleSet(t))
	e.tenant("acme")
	p := e.project("acme", `{"code":"APP","title":"Secret title"}`)
	pid := p["id"].(string)
	noLeak := func(t *testing.T, r response) {
		t.Helper()
		for _, s := range []string{"SELECT", "INSERT", "CHECK (", "Secret title", "violates", "SQLSTATE", "~"} {
			if strings.Contains(string(r.body), s) {
				t.Errorf("response shows %q: %s", s, r.body)
			}
		}
	}
	// CHECK on one column: 422 on it.
	r := e.as("acme", "POST", "/projects", `{"code":"lower","title":"t"}`)
	wantInvalid(t, r, "/code")
	noLeak(t, r)
	r = e.as("acme", "POST", "/projects", `{"code":"B","title":"t","budget":-1}`)
	wantInvalid(t, r, "/budget")
	// CHECK over several columns: 422 on the root.
	r = e.as("acme", "POST", "/tasks", `{"project_id":"`+pid+`","title":"t","status":"done","due_on":"2026-01-01"}`)
	wantInvalid(t, r, "")
	// UNIQUE: 409 naming the fields, not the other row.
	r = e.as("acme", "POST", "/projects", `{"code":"APP","title":"dup"}`)
	expect(t, r, 409, "conflict")
	if !strings.Contains(string(r.body), "code") {
		t.Errorf("unique conflict does not name the field: %s", r.body)
	}
	noLeak(t, r)
	// A foreign key to a missing row: 422 on the field.
	r = e.as("acme", "POST", "/tasks", `{"project_id":"0193a6f1-7c3e-7b4a-9d2e-1f2a3b4c5d6e","title":"t"}`)
	wantInvalid(t, r, "/project_id")
	noLeak(t, r)
	// Deleting a referenced row (RESTRICT): 409, and the row stays.
	task := e.as("acme", "POST", "/tasks", `{"project_id":"`+pid+`","title":"t"}`).json(t)
	r = e.as("acme", "DELETE", "/projects/"+pid, "")
	expect(t, r, 409, "conflict")
	noLeak(t, r)
	expect(t, e.as("acme", "GET", "/projects/"+pid, ""), 200, "")
	expect(t, e.as("acme", "DELETE", "/tasks/"+task["id"].(string), ""), 204, "")
	expect(t, e.as("acme", "DELETE", "/projects/"+pid, ""), 204, "")
	// A PUT that breaks a CHECK on a missing row is 404: absence first.
	expect(t, e.as("acme", "PUT", "/projects/"+pid, `{"code":"lower","title":"t"}`), 404, "item-not-found")
}

func TestResourceWrites(t *testing.T) {
	e := setupSet(t, exampleSet(t))
	e.tenant("acme")
	p := e.project("acme", `{"code":"APP","title":"t","budget":10,"settings":{"a":1,"b":{"c":2}},"tags":["x"]}`)
	pid := p["id"].(string)
	path := "/projects/" + pid
	// PUT replaces: an omitted column goes back to its default.
	r := e.as("acme", "PUT", path, `{"code":"APP","title":"t2","id":"`+pid+`","version":99}`)
	expect(t, r, 200, "")
	m := r.json(t)
	if m["title"] != "t2" || m["budget"] != nil || fmt.Sprint(m["tags"]) != "[]" || fmt.Sprint(m["settings"]) != "map[]" || m["version"] != 2.0 {
		t.Errorf("PUT: %s", r.body)
	}
	wantInvalid(t, e.as("acme", "PUT", path, `{"code":"APP","title":"t","id":"0193a6f1-7c3e-7b4a-9d2e-1f2a3b4c5d6e"}`), "/id")
	// PATCH merges JSON members, null resets to the default or null.
	e.as("acme", "PATCH", path, `{"settings":{"a":1,"b":{"c":2}},"budget":5}`)
	r = e.as("acme", "PATCH", path, `{"settings":{"b":{"c":null,"d":3}},"budget":null,"archived":null}`, "If-Match", `"3"`)
	expect(t, r, 200, "")
	m = r.json(t)
	if fmt.Sprint(m["settings"]) != "map[a:1 b:map[d:3]]" || m["budget"] != nil || m["archived"] != false || m["version"] != 4.0 {
		t.Errorf("PATCH: %s", r.body)
	}
	wantInvalid(t, e.as("acme", "PATCH", path, `{"title":null}`), "/title")
	expect(t, e.as("acme", "PATCH", path, `{"title":"x"}`, "If-Match", `"1"`), 412, "precondition-failed")
	expect(t, e.as("acme", "GET", path, "", "If-None-Match", `"4"`), 304, "")
	expect(t, e.as("acme", "DELETE", path, "", "If-Match", `"1"`), 412, "precondition-failed")
	expect(t, e.as("acme", "DELETE", path, "", "If-Match", `"4"`), 204, "")
	expect(t, e.as("acme", "GET", path, ""), 404, "item-not-found")
	expect(t, e.as("acme", "GET", "/projects/not-a-uuid", ""), 404, "item-not-found")
	// Private tables and unknown names are no routes, before any check.
	for _, p := range []string{"/task_counters", "/_audit", "/nothing", "/projects_x/1"} {
		expect(t, e.do(req{method: "GET", path: p}), 404, "not-found")
	}
	// Idempotency-Key on a resource.
	body := `{"code":"IDEM","title":"t"}`
	first := e.as("acme", "POST", "/projects", body, "Idempotency-Key", "k1")
	expect(t, first, 201, "")
	again := e.as("acme", "POST", "/projects", body, "Idempotency-Key", "k1")
	expect(t, again, 201, "")
	if again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Errorf("replay: %s %s", again.header, again.body)
	}
	expect(t, e.as("acme", "POST", "/projects", `{"code":"OTHER","title":"t"}`, "Idempotency-Key", "k1"), 409, "idempotency-key-reused")
}

func TestResourceFilters(t *testing.T) {
	e := setupSet(t, exampleSet(t))
	e.tenant("acme")
	e.tenant("other")
	a := e.project("acme", `{"code":"A","title":"a"}`)["id"].(string)
	b := e.project("acme", `{"code":"B","title":"b"}`)["id"].(string)
	e.project("other", `{"code":"A","title":"theirs"}`)
	for i := range 7 {
		status := []string{"todo", "doing", "done"}[i%3]
		est := ""
		if status == "done" {
			est = `,"estimate":1`
		}
		for _, p := range []string{a, b} {
			expect(t, e.as("acme", "POST", "/tasks", fmt.Sprintf(`{"project_id":"%s","title":"t%d","status":"%s"%s}`, p, i, status, est)), 201, "")
		}
	}
	list := func(q string) (ids []string, next string, r response) {
		r = e.as("acme", "GET", "/tasks?"+q, "")
		if r.status != 200 {
			return nil, "", r
		}
		var page struct {
			Tasks []struct {
				ID, ProjectID, Status string
			} `json:"tasks"`
			Next *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Tasks {
			if !strings.Contains(q, "project_id="+a) && !strings.Contains(q, "status=") {
				continue
			}
			ids = append(ids, tk.ID)
		}
		if page.Next != nil {
			next = *page.Next
		}
		return ids, next, r
	}
	// AND of two filters, paged two at a time: every page repeats them.
	q := "project_id=" + a + "&status=todo"
	var all []string
	ids, next, r := list(q + "&limit=2")
	expect(t, r, 200, "")
	all = append(all, ids...)
	for pages := 0; next != "" && pages < 10; pages++ {
		ids, next, r = list(q + "&limit=2&cursor=" + url.QueryEscape(next))
		expect(t, r, 200, "")
		all = append(all, ids...)
	}
	if len(all) != 3 { // i = 0, 3, 6
		t.Errorf("project a, todo: %d tasks, want 3", len(all))
	}
	// A cursor with other filters, or none, is refused.
	_, next, _ = list(q + "&limit=1")
	expect(t, e.as("acme", "GET", "/tasks?project_id="+b+"&status=todo&cursor="+url.QueryEscape(next), ""), 400, "invalid-cursor")
	expect(t, e.as("acme", "GET", "/tasks?cursor="+url.QueryEscape(next), ""), 400, "invalid-cursor")
	// Typed values; unknown or unindexed names list the filterable ones.
	for _, c := range []string{"status=nope", "project_id=x", "id=1", "status=todo&status=done"} {
		expect(t, e.as("acme", "GET", "/tasks?"+c, ""), 400, "invalid-query")
	}
	r = e.as("acme", "GET", "/tasks?title=t1", "")
	expect(t, r, 400, "invalid-query")
	if !strings.Contains(string(r.body), "project_id") || !strings.Contains(string(r.body), "status") {
		t.Errorf("does not list the filterable columns: %s", r.body)
	}
	// A unique column leads an index: filterable; another tenant's rows
	// never match.
	r = e.as("acme", "GET", "/projects?code=A", "")
	expect(t, r, 200, "")
	if strings.Contains(string(r.body), "theirs") || !strings.Contains(string(r.body), a) {
		t.Errorf("projects?code=A: %s", r.body)
	}
}

// TestResourceVersionsInFlight serves two tenants at different versions of
// the set at once: each sees the shape of its own version.
func TestResourceVersionsInFlight(t *testing.T) {
	v2 := exampleSet(t)
	dir := t.TempDir()
	for _, m := range v2 {
		if err := os.WriteFile(filepath.Join(dir, m.FileName()), []byte(m.SQL), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v3SQL := `ALTER TABLE tasks ADD COLUMN labels text[] NOT NULL DEFAULT '{}';
CREATE TABLE notes (id uuid PRIMARY KEY, body text NOT NULL);`
	if err := os.WriteFile(filepath.Join(dir, "0003_labels.sql"), []byte(v3SQL), 0o644); err != nil {
		t.Fatal(err)
	}
	v3, err := postgres.LoadMigrations(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := setupSet(t, v3)
	ctx := context.Background()
	// "behind" is created by a process still on the second version.
	old, err := postgres.Open(ctx, postgres.Config{URL: e.url, ApplicationSet: v2})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := postgres.NewTenantStore(old, postgres.NewMigrator(old)).CreateTenant(ctx, "behind", "Behind"); err != nil {
		t.Fatal(err)
	}
	r := e.admin("POST", "/admin/tenants/behind/api-keys", `{"name":"k"}`)
	expect(t, r, 201, "")
	e.keyOf["behind"] = r.json(t)["key"].(string)
	e.tenant("ahead")

	task := func(id string) map[string]any {
		pid := e.project(id, `{"code":"A","title":"a"}`)["id"].(string)
		r := e.as(id, "POST", "/tasks", `{"project_id":"`+pid+`","title":"t"}`)
		expect(t, r, 201, "")
		return r.json(t)
	}
	if _, ok := task("ahead")["labels"]; !ok {
		t.Error("the tenant at version 3 does not see labels")
	}
	if _, ok := task("behind")["labels"]; ok {
		t.Error("the tenant at version 2 sees labels")
	}
	expect(t, e.as("ahead", "POST", "/notes", `{"body":"n"}`), 201, "")
	expect(t, e.as("behind", "GET", "/notes", ""), 404, "not-found")
	pid := e.as("behind", "GET", "/projects", "").json(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	wantInvalid(t, e.as("behind", "POST", "/tasks", `{"project_id":"`+pid+`","title":"t","labels":["x"]}`), "/labels")

	// Once migrated, the tenant gets its new columns: at once, or within
	// the cache TTL (100 ms here) the change feed takes to tell.
	if _, err := migrate(ctx, e.db, "behind", 1, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := e.as("behind", "POST", "/tasks", `{"project_id":"`+pid+`","title":"t","labels":["x"]}`)
		if r.status == 201 {
			if fmt.Sprint(r.json(t)["labels"]) != "[x]" {
				t.Errorf("labels: %s", r.body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after migrate: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestResourceWithoutVersion: a table without managed columns sends no
// ETag, If-Match "*" matches any row and any other If-Match value fails.
func TestResourceWithoutVersion(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "0001_notes.sql"), []byte(`CREATE TABLE notes (
		id uuid PRIMARY KEY, body text NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY, meta json)`), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := postgres.LoadMigrations(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := setupSet(t, set)
	e.tenant("acme")
	r := e.as("acme", "POST", "/notes", `{"body":"n","seq":99,"meta":[1,{"a":true}]}`)
	expect(t, r, 201, "")
	if r.header.Get("ETag") != "" {
		t.Errorf("ETag %q on a table without version", r.header.Get("ETag"))
	}
	n := r.json(t)
	if n["seq"] != 1.0 || fmt.Sprint(n["meta"]) != "[1 map[a:true]]" {
		t.Errorf("note: %s", r.body) // the identity column is the server's
	}
	path := "/notes/" + n["id"].(string)
	expect(t, e.as("acme", "PATCH", path, `{"body":"m"}`, "If-Match", `"1"`), 412, "precondition-failed")
	expect(t, e.as("acme", "PATCH", path, `{"body":"m"}`, "If-Match", `*`), 200, "")
	expect(t, e.as("acme", "PUT", path, `{"body":"p"}`, "If-Match", `"0"`), 412, "precondition-failed")
	expect(t, e.as("acme", "DELETE", path, "", "If-Match", `*`), 204, "")
	expect(t, e.as("acme", "DELETE", path, "", "If-Match", `*`), 404, "item-not-found")
	expect(t, e.as("acme", "GET", "/items", ""), 404, "not-found") // this set has no items
}
