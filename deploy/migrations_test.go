package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi/postgres"
)

// TestPackagedMigrationsAsTenantapiReadsThem runs the Makefile's packaging
// of TENANT_MIGRATIONS_DIR on folders that tenantapi accepts and refuses:
// the build must accept the same folders, copy exactly the files tenantapi
// reads from them (readable by all, as Lambda's user needs), and refuse the
// others before any function starts, saying which folder.
func TestPackagedMigrationsAsTenantapiReadsThem(t *testing.T) {
	folders := []struct {
		name  string
		files map[string]string // name: contents ("/" a folder); nil: no folder
	}{
		{"a set with a README and a subfolder", map[string]string{
			"0001_a.sql": "CREATE TABLE a (id uuid PRIMARY KEY);", "2_b c.sql": "SELECT 2;",
			"README.md": "notes", "0003_c.SQL": "not a migration", "sub/": "/", "sub/0004_d.sql": "SELECT 4;",
		}},
		{"an 18-digit version", map[string]string{"000000000000000007_x.sql": "SELECT 1;"}},
		{"a 19-digit version", map[string]string{"0000000000000000007_x.sql": "SELECT 1;"}},
		{"version zero", map[string]string{"0_x.sql": "SELECT 1;", "1_y.sql": "SELECT 1;"}},
		{"a shared version", map[string]string{"01_a.sql": "SELECT 1;", "1_b.sql": "SELECT 1;"}},
		{"a .sql file of another name", map[string]string{"0001_a.sql": "SELECT 1;", "v2_b.sql": "SELECT 1;"}},
		{"no name after the version", map[string]string{"0001_a.sql": "SELECT 1;", "0002_.sql": "SELECT 1;"}},
		{"a hidden .sql file", map[string]string{"0001_a.sql": "SELECT 1;", ".0002_b.sql": "SELECT 1;"}},
		{"a folder named like a migration", map[string]string{"0001_a.sql/": "/"}},
		{"no migration", map[string]string{"README.md": "notes"}},
		{"no folder", nil},
	}
	for _, f := range folders {
		t.Run(f.name, func(t *testing.T) {
			root := t.TempDir()
			src := filepath.Join(root, "set")
			if f.files != nil {
				if err := os.Mkdir(src, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			for name, body := range f.files {
				p := filepath.Join(src, name)
				dir := filepath.Dir(p)
				if body == "/" {
					dir = p
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if body != "/" {
					if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			ms, loadErr := postgres.LoadMigrations(src)
			artifacts := filepath.Join(root, "artifacts")
			out, makeErr := makeIn("lambda-migrations", "ARTIFACTS_DIR="+artifacts, "TENANT_MIGRATIONS_DIR="+src)
			if loadErr != nil {
				if makeErr == nil {
					t.Fatalf("tenantapi refuses the folder (%v) but the build packaged it:\n%s", loadErr, out)
				}
				if !strings.Contains(string(out), "TENANT_MIGRATIONS_DIR="+src+": ") {
					t.Errorf("the build's message does not name the folder:\n%s", out)
				}
				if _, err := os.Stat(filepath.Join(artifacts, packagedMigrations)); !os.IsNotExist(err) {
					t.Errorf("a refused folder left %s/ in the package", packagedMigrations)
				}
				return
			}
			if makeErr != nil {
				t.Fatalf("tenantapi reads %d migrations from the folder but the build refused it: %v\n%s", len(ms), makeErr, out)
			}
			want := map[string]string{}
			for _, m := range ms {
				want[m.File] = "-rw-r--r-- " + m.SQL
			}
			if got := packagedFiles(t, filepath.Join(artifacts, packagedMigrations)); !reflect.DeepEqual(got, want) {
				t.Errorf("packaged %v, want what tenantapi reads: %v", got, want)
			}
			if fi, err := os.Stat(filepath.Join(artifacts, packagedMigrations)); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("%s/ of the package: %v %v, want mode 0755", packagedMigrations, fi.Mode(), err)
			}
		})
	}
}
