package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// resourceFixtures are the schemas the httpapi tests build their
// documents from, each what `tenantapi resources --json` prints for an
// application set. TestResourcesFixtures keeps them true to the catalog.
var resourceFixtures = []struct{ migrations, file string }{
	{"", "../../httpapi/testdata/schema_builtin.json"},
	{"../../examples/projects", "../../httpapi/testdata/schema_projects.json"},
}

// TestResourcesFixtures checks that httpapi's schema fixtures are what the
// catalog reads from the built-in set and from examples/projects. With
// UPDATE_FIXTURES=1 it rewrites them.
func TestResourcesFixtures(t *testing.T) {
	t.Parallel()
	url := testdb.New(t)
	for _, f := range resourceFixtures {
		env := map[string]string{"DATABASE_URL": url}
		args := []string{"resources", "--json"}
		if f.migrations != "" {
			args = append(args, "--migrations", f.migrations)
		}
		code, out, errs := cli(t, env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, []byte(out), "", "  "); err != nil {
			t.Fatalf("%v: %v: %q", args, err, out)
		}
		if os.Getenv("UPDATE_FIXTURES") == "1" {
			if err := os.WriteFile(f.file, indented.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(indented.Bytes())) {
			t.Errorf("%s is not what `tenantapi %v` prints now; run UPDATE_FIXTURES=1 go test ./cmd/tenantapi -run TestResourcesFixtures and review the diff:\n%s",
				filepath.Base(f.file), args, indented.Bytes())
		}
	}
}

// TestOpenAPIServedForMigrations runs `serve --migrations
// examples/projects` and reads /openapi.json: it describes the set's
// resources as the catalog has them, items included, and /docs renders it.
func TestOpenAPIServedForMigrations(t *testing.T) {
	t.Parallel()
	const set = "../../examples/projects"
	env := map[string]string{"DATABASE_URL": testdb.New(t), "PORT": "0", "HOST": "127.0.0.1"}
	if code, _, errs := cli(t, env, "migrate", "--migrations", set); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errs)
	}
	out := &syncBuffer{}
	runInProcess(t, env, out, &syncBuffer{}, "serve", "--migrations", set)
	base := "http://" + waitFor(t, out, listenRE)[1]

	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	var doc struct {
		Info  map[string]any                       `json:"info"`
		Paths map[string]map[string]map[string]any `json:"paths"`
		Comps struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(get("/openapi.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info["x-application-set-version"] != 2.0 {
		t.Errorf("x-application-set-version = %v, want 2", doc.Info["x-application-set-version"])
	}
	for path, ops := range map[string][]string{
		"/items": {"get", "post"}, "/items/{item_id}": {"get", "put", "patch", "delete"},
		"/projects": {"get", "head", "post", "options"}, "/projects/{project_id}": {"get", "head", "put", "patch", "delete", "options"},
		"/tasks": {"get", "post"}, "/tasks/{task_id}": {"get", "put", "patch", "delete"},
	} {
		for _, m := range ops {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("%s %s is not documented", m, path)
			}
		}
	}
	for _, p := range []string{"/task_counters", "/_audit"} {
		if _, ok := doc.Paths[p]; ok {
			t.Errorf("the private table %s is documented", p)
		}
	}
	if id := doc.Paths["/tasks"]["get"]["operationId"]; id != "listTasks" {
		t.Errorf("GET /tasks operationId %v", id)
	}
	if id := doc.Paths["/items/{item_id}"]["patch"]["operationId"]; id != "patchItem" {
		t.Errorf("PATCH /items/{item_id} operationId %v", id)
	}

	prop := func(schema, name string) string {
		b, _ := json.Marshal(doc.Comps.Schemas[schema].Properties[name])
		return string(b)
	}
	for _, c := range []struct{ schema, prop, want string }{
		{"Task", "status", `"enum":["todo","doing","done"]`},
		{"Task", "status", `"type":"string"`},
		{"Project", "budget", `"type":["number","null"]`},
		{"Project", "budget", `"format":"decimal"`},
		{"Project", "starts_on", `"format":"date"`},
		{"Project", "code", `"maxLength":12`},
		{"Item", "name", `"maxLength":200`},
	} {
		if got := prop(c.schema, c.prop); !strings.Contains(got, c.want) {
			t.Errorf("%s.%s = %s, lacks %s", c.schema, c.prop, got, c.want)
		}
	}

	filters := map[string]map[string]any{}
	for _, p := range doc.Paths["/tasks"]["get"]["parameters"].([]any) {
		if p, ok := p.(map[string]any); ok && p["in"] == "query" {
			filters[p["name"].(string)] = p
		}
	}
	if b, _ := json.Marshal(filters["status"]); !strings.Contains(string(b), `"enum":["todo","doing","done"]`) {
		t.Errorf("GET /tasks status filter: %s", b)
	}
	if b, _ := json.Marshal(filters["project_id"]); !strings.Contains(string(b), `"format":"uuid"`) {
		t.Errorf("GET /tasks project_id filter: %s", b)
	}
	if page := get("/docs"); !bytes.Contains(page, []byte("openapi.json")) {
		t.Error("/docs does not load openapi.json")
	}
}
