package tenantapi_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tenantapi/tenantapi"

// adapters are the packages that connect the domain to one dependency each.
// They import the domain, never each other; only cmd/tenantapi wires them.
var adapters = []string{"httpapi", "postgres", "awslambda", "awssecrets", "jwtauth", "metrics/prom", "metrics/emf"}

// imports returns the imports of the non-test Go files in dir.
func imports(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return out
		}
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[p] = true
		}
	}
	return out
}

// TestImportDirection checks STYLE rule 1: the domain package imports
// neither the database driver nor net/http nor any package of ours, and
// the adapters never import each other.
func TestImportDirection(t *testing.T) {
	for p := range imports(t, ".") {
		if strings.HasPrefix(p, "github.com/jackc/") || p == "net/http" || strings.HasPrefix(p, module+"/") {
			t.Errorf("the domain package imports %s", p)
		}
	}
	for _, a := range adapters {
		for p := range imports(t, a) {
			for _, other := range adapters {
				if other != a && p == module+"/"+other {
					t.Errorf("%s imports %s: adapters must not import each other", a, other)
				}
			}
			if strings.HasPrefix(p, module+"/cmd") {
				t.Errorf("%s imports %s", a, p)
			}
		}
	}
	for p := range imports(t, "httpapi") {
		if strings.HasPrefix(p, "github.com/jackc/") {
			t.Errorf("httpapi imports the database driver %s", p)
		}
	}
}
