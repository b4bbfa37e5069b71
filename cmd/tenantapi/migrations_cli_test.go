package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// copyDir copies the files of dir into a new temporary folder.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestMigrateApplicationSetFolder(t *testing.T) {
	t.Parallel()
	dir := copyDir(t, "../../examples/projects")
	url := testdb.New(t)
	env := map[string]string{"DATABASE_URL": url}
	code, out, errs := cli(t, env, "migrate", "--migrations", dir)
	if code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errs)
	}
	// It says what the set serves, and why a table is not served.
	for _, want := range []string{"resources: items, projects, tasks", "not served: task_counters (its primary key is not one column id of type uuid)",
		"not served: _audit (its name starts with _)"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}
	env["TENANT_MIGRATIONS"] = dir
	if code, _, errs := cli(t, env, "tenants", "create", "acme"); code != 0 {
		t.Fatalf("tenants create: exit %d: %s", code, errs)
	}
	code, out, errs = cli(t, env, "migrate", "status", "--json")
	var st struct {
		Latest int   `json:"latest_version"`
		Behind []any `json:"behind"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Latest != 2 || len(st.Behind) != 0 {
		t.Fatalf("migrate status: exit %d %s %s", code, out, errs)
	}

	// A new file migrates the tenant; editing an applied one is refused by
	// name, and so is removing it, before any tenant is touched.
	if err := os.WriteFile(filepath.Join(dir, "0003_notes.sql"), []byte("CREATE TABLE notes (id uuid PRIMARY KEY, body text NOT NULL)"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := cli(t, env, "migrate"); code != 0 || !strings.Contains(out, "1 migrated") {
		t.Fatalf("migrate with 0003: exit %d: %s %s", code, out, errs)
	}
	if err := os.WriteFile(filepath.Join(dir, "0003_notes.sql"), []byte("CREATE TABLE notes (id uuid PRIMARY KEY)"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, env, "migrate"); code != 1 || !strings.Contains(errs, "0003_notes.sql was changed") {
		t.Errorf("migrate with a changed file: exit %d: %s", code, errs)
	}
	if err := os.Remove(filepath.Join(dir, "0003_notes.sql")); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, env, "migrate"); code != 1 || !strings.Contains(errs, "0003_notes.sql was applied and is missing") {
		t.Errorf("migrate with a removed file: exit %d: %s", code, errs)
	}
	if code, _, errs := cli(t, env, "migrate", "--migrations", filepath.Join(dir, "nope")); code == 0 || !strings.Contains(errs, "nope") {
		t.Errorf("migrate with a missing folder: exit %d: %s", code, errs)
	}
}

func TestResourcesCommand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": testdb.New(t)}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	env["TENANT_MIGRATIONS"] = "../../examples/projects"
	code, out, errs := cli(t, env, "resources", "--json")
	if code != 0 {
		t.Fatalf("resources --json: exit %d: %s", code, errs)
	}
	var s struct {
		Version   int `json:"version"`
		Resources []struct {
			Name   string `json:"name"`
			Fields []struct {
				Name       string `json:"name"`
				Filterable bool   `json:"filterable"`
			} `json:"fields"`
		} `json:"resources"`
		Private []struct{ Name, Reason string } `json:"private"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("not exactly one JSON document: %q", out)
	}
	if s.Version != 2 || len(s.Resources) != 3 || s.Resources[1].Name != "projects" || len(s.Private) != 2 {
		t.Errorf("resources = %+v", s)
	}
	code, out, _ = cli(t, env, "resources")
	for _, want := range []string{"/tasks", "one of todo|doing|done", "task_counters", "its primary key is not one column id of type uuid"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("resources: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	// Nothing was written: no tenant schema, no table of the set.
	code, out, _ = cli(t, env, "migrate", "status", "--json")
	if code != 0 || !strings.Contains(out, `"versions":[]`) {
		t.Errorf("after resources: %d %s", code, out)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "0001_typo.sql"), []byte("CREAT TABLE x (id uuid PRIMARY KEY)"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, map[string]string{"DATABASE_URL": env["DATABASE_URL"]}, "resources", "--migrations", bad); code != 1 || !strings.Contains(errs, "0001_typo.sql") || !strings.Contains(errs, "syntax error") {
		t.Errorf("resources with a syntax error: exit %d: %s", code, errs)
	}
}
