package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// tsClientDir is the TypeScript client package, generated from the
// OpenAPI document of examples/projects.
const tsClientDir = "../../clients/typescript"

// TestTypeScriptClient runs the TypeScript client's tests against the
// tenantapi binary: `serve` of examples/projects on a fresh database, with
// two tenants and a key each made by the CLI. It first checks that the
// client is generated from what the server serves now: the checked-in
// openapi.json equals /openapi.json, and regenerating from it gives the
// checked-in code (UPDATE_OPENAPI=1 rewrites both). Then `npm test`: tsc
// (strict) over the generated code, the wrapper and the tests, and
// `node --test`. Node and npm are required; their absence fails the test.
func TestTypeScriptClient(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(tsClientDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: the TypeScript client's tests need Node.js 20.19 or newer with npm", tool)
		}
	}

	set, err := filepath.Abs("../../examples/projects")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t, t.TempDir())
	// TENANT_MIGRATIONS: every command, tenants create included, works with the set.
	env := map[string]string{"DATABASE_URL": testdb.New(t), "PORT": "0", "HOST": "127.0.0.1", "TENANT_MIGRATIONS": set}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errs)
	}
	tenants := []string{"ts_alpha", "ts_beta"}
	keys := map[string]string{}
	for _, id := range tenants {
		cliJSON(t, env, "tenants", "create", id, "--name", "TypeScript "+id, "--json")
		keys[id] = cliJSON(t, env, "keys", "create", id, "--name", "typescript", "--json")["key"].(string)
	}
	srv := startProcess(t, bin, env, "serve")
	base := "http://" + waitFor(t, srv.out, listenRE)[1]

	npm := func(timeout time.Duration, extraEnv []string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", args...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "NO_COLOR=1", "npm_config_fund=false", "npm_config_audit=false", "npm_config_update_notifier=false"), extraEnv...)
		cmd.WaitDelay = 5 * time.Second // node started by npm may keep the output open
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("npm %s did not finish within %v:\n%s", strings.Join(args, " "), timeout, out)
		}
		if err != nil {
			t.Fatalf("npm %s: %v:\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if !nodeModulesCurrent(dir) {
		npm(3*time.Minute, nil, "ci")
	}

	// The document the client is generated from is the one served now.
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.json: %d %v", resp.StatusCode, err)
	}
	snapshot := filepath.Join(dir, "openapi.json")
	if os.Getenv("UPDATE_OPENAPI") == "1" {
		if err := os.WriteFile(snapshot, served, 0o644); err != nil {
			t.Fatal(err)
		}
		npm(time.Minute, nil, "run", "--silent", "generate")
	}
	if checked, err := os.ReadFile(snapshot); err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(checked, served) {
		t.Fatalf("clients/typescript/openapi.json is not what `tenantapi serve --migrations examples/projects` serves at /openapi.json; " +
			"run UPDATE_OPENAPI=1 go test ./cmd/tenantapi -run TestTypeScriptClient (it regenerates src/generated too) and review the diff")
	}

	// The checked-in generated code is what the generator makes of the
	// checked-in document.
	regenerated := t.TempDir()
	npm(time.Minute, []string{"OPENAPI_URL=" + snapshot, "OPENAPI_OUTPUT=" + regenerated}, "run", "--silent", "generate")
	if diff := diffTrees(t, filepath.Join(dir, "src", "generated"), regenerated); diff != "" {
		t.Fatalf("clients/typescript/src/generated is not what `npm run generate` makes of openapi.json (%s); run it and commit the result", diff)
	}

	// npm test compiles with tsc first, strict and with noEmitOnError, so a
	// type error in the generated code, the wrapper or the tests fails it.
	out := npm(2*time.Minute, []string{
		"TENANTAPI_URL=" + base,
		"TENANTAPI_TENANT_A=" + tenants[0], "TENANTAPI_KEY_A=" + keys[tenants[0]],
		"TENANTAPI_TENANT_B=" + tenants[1], "TENANTAPI_KEY_B=" + keys[tenants[1]],
	}, "run", "--silent", "test")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ℹ ") {
			t.Log(strings.TrimPrefix(line, "ℹ "))
		}
	}
}

// nodeModulesCurrent reports whether dir's node_modules was installed from
// its package-lock.json as it is now: npm records the installed tree in
// node_modules/.package-lock.json, which then matches the lock file's
// packages.
func nodeModulesCurrent(dir string) bool {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return err == nil && !installed.ModTime().Before(lock.ModTime())
}

// diffTrees compares two folders file by file and names the first
// difference, or returns "".
func diffTrees(t *testing.T, want, got string) string {
	t.Helper()
	files := func(root string) map[string][]byte {
		m := map[string][]byte{}
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			rel, _ := filepath.Rel(root, path)
			m[filepath.ToSlash(rel)] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w, g := files(want), files(got)
	for name, b := range w {
		if gb, ok := g[name]; !ok {
			return name + " is not generated any more"
		} else if !bytes.Equal(b, gb) {
			return name + " differs"
		}
	}
	for name := range g {
		if _, ok := w[name]; !ok {
			return name + " is missing"
		}
	}
	return ""
}
