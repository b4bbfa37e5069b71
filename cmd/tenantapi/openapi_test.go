package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
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
