package postgres

import (
	"cmp"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// Migration is one versioned SQL script. Tenant migrations write {{schema}}
// wherever the tenant's schema belongs; it is replaced by the quoted schema
// name and nothing else is ever spliced into them.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// schemaPlaceholder stands for the tenant's quoted schema in tenant SQL.
const schemaPlaceholder = "{{schema}}"

//go:embed migrations/public/*.sql migrations/tenant/*.sql
var migrationFiles embed.FS

// The embedded migrations, parsed once. A malformed file name is a build
// mistake that every test catches, hence the panic.
var (
	publicMigrations = mustLoadMigrations(migrationFiles, "migrations/public")
	tenantMigrations = mustLoadMigrations(migrationFiles, "migrations/tenant")
)

// LatestPublicVersion returns the version of the newest public migration
// this binary embeds.
func LatestPublicVersion() int { return latest(publicMigrations) }

// LatestTenantVersion returns the version of the newest tenant migration
// this binary embeds.
func LatestTenantVersion() int { return latest(tenantMigrations) }

func latest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

func mustLoadMigrations(fsys fs.FS, dir string) []Migration {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		panic(err)
	}
	return ms
}

// loadMigrations reads dir's NNNN_name.sql files, ordered by version.
func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		file := e.Name()
		base, ok := strings.CutSuffix(file, ".sql")
		if !ok || e.IsDir() {
			continue
		}
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || name == "" {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", path.Join(dir, file))
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, file))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	return sortMigrations(ms)
}

// sortMigrations orders ms by version and refuses duplicates.
func sortMigrations(ms []Migration) ([]Migration, error) {
	slices.SortFunc(ms, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	for i, m := range ms {
		if m.Version <= 0 {
			return nil, fmt.Errorf("migration %s: version must be positive", m.Name)
		}
		if i > 0 && ms[i-1].Version == m.Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].Name, m.Name, m.Version)
		}
	}
	return ms, nil
}

// quotedSchema returns the tenant's schema as a quoted identifier, the only
// form in which it reaches SQL.
func quotedSchema(id tenantapi.TenantID) string {
	return pgx.Identifier{id.Schema()}.Sanitize()
}

// forTenant returns tenant SQL with the placeholder replaced by the tenant's
// quoted schema.
func forTenant(sql string, id tenantapi.TenantID) string {
	return strings.ReplaceAll(sql, schemaPlaceholder, quotedSchema(id))
}

// pending returns the migrations of ms whose versions are not in applied.
func pending(ms []Migration, applied []int) []Migration {
	var out []Migration
	for _, m := range ms {
		if !slices.Contains(applied, m.Version) {
			out = append(out, m)
		}
	}
	return out
}
