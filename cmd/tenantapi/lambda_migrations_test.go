package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// makeLambdaPackage runs the Makefile target that sam build runs for
// ApiFunction, with the application set of migrations (a folder, relative to
// the project as a user passes it), into a new folder, and returns it. The
// bootstrap is built for this machine rather than linux/arm64 so that it can
// run here; everything else is the target's own.
func makeLambdaPackage(t *testing.T, migrations string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	pkg := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "build-ApiFunction", "ARTIFACTS_DIR="+pkg,
		"TENANT_MIGRATIONS_DIR="+migrations,
		"LAMBDA_ENV=GOOS="+runtime.GOOS+" GOARCH="+runtime.GOARCH+" CGO_ENABLED=0")
	cmd.Dir = "../.."
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "ARTIFACTS_DIR=") || strings.HasPrefix(e, "TENANT_MIGRATIONS_DIR=")
	})
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-ApiFunction: %v\n%s", err, out)
	}
	return pkg
}

// TestLambdaPackagedMigrations runs the package that sam build makes with
// TENANT_MIGRATIONS_DIR=examples/projects under the Runtime Interface
// Emulator, TENANT_MIGRATIONS naming its migrations/ folder as template.yaml
// does: OpsFunction migrates the tenants to that set, ApiFunction serves its
// tables, and a package without the folder it names does not start.
func TestLambdaPackagedMigrations(t *testing.T) {
	t.Parallel()
	pkg := makeLambdaPackage(t, "examples/projects")
	bootstrap, set := filepath.Join(pkg, "bootstrap"), filepath.Join(pkg, "migrations")
	for _, f := range []string{"0001_items.sql", "0002_projects.sql"} {
		if _, err := os.Stat(filepath.Join(set, f)); err != nil {
			t.Fatalf("the package lacks migrations/%s: %v", f, err)
		}
	}
	emulator := buildEmulator(t, t.TempDir())

	owner := newRotatableOwner(t, "lambda_set")
	fnEnv := owner.env()
	// The package's folder stands in for /var/task.
	fnEnv["LAMBDA_TASK_ROOT"] = pkg
	fnEnv["TENANT_MIGRATIONS"] = set
	ops := startRIE(t, bootstrap, emulator, fnEnv)
	if m := ops.command("migrate"); m["complete"] != true {
		t.Fatalf("migrate: %v", m)
	}
	ops.command("tenants", "create", "acme", "--name", "Acme")
	key := ops.command("keys", "create", "acme")["key"].(string)

	api := startRIE(t, bootstrap, emulator, fnEnv)
	acme := map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + key, "content-type": "application/json"}
	create := func(path, body string) map[string]any {
		t.Helper()
		r := api.api(restEvent("POST", path, acme, nil, body, false))
		if r.StatusCode != 201 {
			t.Fatalf("POST %s: %d %s", path, r.StatusCode, r.Body)
		}
		m := r.json(t)
		if loc := r.header("Location"); loc != "/prod"+path+"/"+m["id"].(string) {
			t.Errorf("POST %s: Location %q", path, loc)
		}
		return m
	}
	project := create("/projects", `{"code":"LAMBDA","title":"On Lambda","budget":1250.50,"tags":["aws"]}`)
	if project["code"] != "LAMBDA" || project["budget"] != 1250.5 || project["archived"] != false || project["version"] != 1.0 {
		t.Errorf("project: %v", project)
	}
	other := create("/projects", `{"code":"OTHER","title":"Elsewhere"}`)
	task := create("/tasks", `{"project_id":"`+project["id"].(string)+`","title":"Ship it","status":"doing"}`)
	if task["project_id"] != project["id"] || task["status"] != "doing" || task["priority"] != 3.0 {
		t.Errorf("task: %v", task)
	}
	create("/tasks", `{"project_id":"`+other["id"].(string)+`","title":"Not this one"}`)

	r := api.api(restEvent("GET", "/tasks", acme, map[string][]string{"project_id": {project["id"].(string)}}, "", false))
	if r.StatusCode != 200 {
		t.Fatalf("GET /tasks?project_id: %d %s", r.StatusCode, r.Body)
	}
	list := r.json(t)
	tasks, _ := list["tasks"].([]any)
	if len(tasks) != 1 || tasks[0].(map[string]any)["id"] != task["id"] || list["next_cursor"] != nil {
		t.Errorf("GET /tasks?project_id=%s: %s", project["id"], r.Body)
	}
	// A task of a missing project is the referencing field's error.
	r = api.api(restEvent("POST", "/tasks", acme, nil, `{"project_id":"01890000-0000-7000-8000-000000000000","title":"Orphan"}`, false))
	if r.StatusCode != 422 || !strings.Contains(r.Body, "project_id") {
		t.Errorf("a task of a missing project: %d %s", r.StatusCode, r.Body)
	}

	// examples/projects keeps the built-in items as its first file.
	create("/items", `{"name":"still here"}`)
	if r := api.api(restEvent("GET", "/items", acme, nil, "", false)); r.StatusCode != 200 || len(r.json(t)["items"].([]any)) != 1 {
		t.Errorf("GET /items: %d %s", r.StatusCode, r.Body)
	}
	// Tables that are not resources of the set, and names it has not.
	for _, path := range []string{"/task_counters", "/_audit", "/widgets"} {
		if r := api.api(restEvent("GET", path, acme, nil, "", false)); r.StatusCode != 404 || r.json(t)["code"] != "not-found" {
			t.Errorf("GET %s: %d %s", path, r.StatusCode, r.Body)
		}
	}

	// TENANT_MIGRATIONS naming a folder the package lacks (TenantMigrations
	// set, the build without TENANT_MIGRATIONS_DIR): the function does not
	// start, and says which folder.
	missing := filepath.Join(pkg, "nope")
	fnEnv["TENANT_MIGRATIONS"] = missing
	broken := startRIE(t, bootstrap, emulator, fnEnv)
	if status, out := broken.post(restEvent("GET", "/items", acme, nil, "", false)); status == 200 {
		t.Errorf("a function without its folder answered: %s", out)
	}
	// The emulator passes the function's output on after the failed
	// invocation has answered.
	waitFor(t, broken.out, regexp.MustCompile(regexp.QuoteMeta("tenant migrations: stat "+missing)))

	// The folder packaged but TENANT_MIGRATIONS left unset (TenantMigrations
	// empty): the function runs with the built-in set, and the log says so.
	// (Tenants are still served at the version they are at.)
	delete(fnEnv, "TENANT_MIGRATIONS")
	builtin := startRIE(t, bootstrap, emulator, fnEnv)
	if r := builtin.api(restEvent("GET", "/items", acme, nil, "", false)); r.StatusCode != 200 {
		t.Errorf("GET /items with the built-in set: %d %s", r.StatusCode, r.Body)
	}
	if out := builtin.out.String(); !strings.Contains(out, "TENANT_MIGRATIONS is not set") || !strings.Contains(out, set) {
		t.Errorf("no warning that the packaged set is unused:\n%s", out)
	}
}
