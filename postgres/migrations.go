package postgres

import (
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// Migration is one versioned SQL file. Tenant files, of the application set
// and of the product's own track, run in one transaction each with the
// tenant's schema as the search_path, so they name their tables plainly;
// public files name the public schema.
type Migration struct {
	Version int
	Name    string
	SQL     string
	// File is the file's name in its folder, for messages: 0001_items.sql.
	// Empty for a migration made in code; FileName then makes one up.
	File string
	// Checksum is the hex SHA-256 of the file's bytes (of SQL when made in
	// code), recorded in the ledger when the migration is applied.
	Checksum string
}

// FileName returns the migration's file name, or the name it would have.
func (m Migration) FileName() string {
	if m.File != "" {
		return m.File
	}
	return fmt.Sprintf("%04d_%s.sql", m.Version, m.Name)
}

func (m Migration) checksum() string {
	if m.Checksum != "" {
		return m.Checksum
	}
	return checksumOf([]byte(m.SQL))
}

func checksumOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

//go:embed migrations/public/*.sql migrations/product/*.sql migrations/app/*.sql
var migrationFiles embed.FS

// The embedded migrations, parsed once. A malformed file name is a build
// mistake that every test catches, hence the panic.
var (
	publicMigrations  = mustLoadMigrations(migrationFiles, "migrations/public")
	productMigrations = mustLoadMigrations(migrationFiles, "migrations/product")
	builtinMigrations = mustLoadMigrations(migrationFiles, "migrations/app")
)

// LatestPublicVersion returns the version of the newest public migration
// this binary embeds.
func LatestPublicVersion() int { return latest(publicMigrations) }

// LatestTenantVersion returns the version of the newest migration of the
// built-in application set.
func LatestTenantVersion() int { return latest(builtinMigrations) }

// LatestProductVersion returns the version of the newest migration of the
// product's own per-tenant track.
func LatestProductVersion() int { return latest(productMigrations) }

// BuiltinMigrations returns the built-in application set: the items table.
func BuiltinMigrations() []Migration { return slices.Clone(builtinMigrations) }

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

// migrationFile is the grammar of a migration's file name,
// <version>_<name>.sql with version digits only.
var migrationFile = regexp.MustCompile(`^([0-9]{1,18})_([^/]+)\.sql$`)

// LoadMigrations reads an application set from the folder dir: every file
// named <version>_<name>.sql, in version order. Other files (a README) and
// folders are skipped, but a .sql file whose name does not fit, two files
// of one version, or an empty folder is an error that names the file.
func LoadMigrations(dir string) ([]Migration, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tenant migrations: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("tenant migrations: %s is not a folder", dir)
	}
	ms, err := loadMigrations(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("tenant migrations in %s: %w", dir, err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("tenant migrations: %s holds no <version>_<name>.sql file", dir)
	}
	return ms, nil
}

// loadMigrations reads dir's migration files, ordered by version.
func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		file := e.Name()
		if e.IsDir() || !strings.HasSuffix(file, ".sql") {
			continue
		}
		m := migrationFile.FindStringSubmatch(file)
		if m == nil {
			return nil, fmt.Errorf("%s: a migration is named <version>_<name>.sql, version digits only", file)
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: the version must be a positive number", file)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, file))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(body), File: file, Checksum: checksumOf(body)})
	}
	return sortMigrations(ms)
}

// sortMigrations orders ms by version and refuses duplicates.
func sortMigrations(ms []Migration) ([]Migration, error) {
	slices.SortFunc(ms, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	for i, m := range ms {
		if m.Version <= 0 {
			return nil, fmt.Errorf("%s: the version must be positive", m.FileName())
		}
		if i > 0 && ms[i-1].Version == m.Version {
			return nil, fmt.Errorf("%s and %s share version %d", ms[i-1].FileName(), m.FileName(), m.Version)
		}
	}
	return ms, nil
}

// quotedSchema returns the tenant's schema as a quoted identifier, the only
// form in which it reaches SQL.
func quotedSchema(id tenantapi.TenantID) string {
	return pgx.Identifier{id.Schema()}.Sanitize()
}

// schemaPlaceholder stands for the tenant's quoted schema in the product's
// own statements.
const schemaPlaceholder = "{{schema}}"

// forTenant returns product SQL with the placeholder replaced by the
// tenant's quoted schema. Migration files never go through it.
func forTenant(sql string, id tenantapi.TenantID) string {
	return strings.ReplaceAll(sql, schemaPlaceholder, quotedSchema(id))
}

// appliedMigration is a ledger row.
type appliedMigration struct {
	Version  int
	File     string
	Checksum string
}

// pending returns the migrations of ms not in applied.
func pending(ms []Migration, applied []appliedMigration) []Migration {
	var out []Migration
	for _, m := range ms {
		if !slices.ContainsFunc(applied, func(a appliedMigration) bool { return a.Version == m.Version }) {
			out = append(out, m)
		}
	}
	return out
}

// ErrMigrationChanged is wrapped by the errors that refuse an application
// set in which a file that tenants have applied was changed or removed.
var ErrMigrationChanged = errors.New("an applied migration was changed or removed")

// checkApplied returns an error naming the first applied migration that ms
// no longer holds, or holds with other contents. With newer set, applied
// versions beyond ms's newest are taken for a newer set's (a process of the
// previous release still serving while the next one migrates) and pass.
func checkApplied(ms []Migration, applied []appliedMigration, newer bool) error {
	newest := latest(ms)
	for _, a := range applied {
		if newer && a.Version > newest {
			continue
		}
		i := slices.IndexFunc(ms, func(m Migration) bool { return m.Version == a.Version })
		switch {
		case i < 0:
			return fmt.Errorf("%w: %s was applied and is missing from the folder; put it back", ErrMigrationChanged, a.File)
		case ms[i].checksum() != a.Checksum:
			return fmt.Errorf("%w: %s was changed after it was applied (SHA-256 %s, applied %s); undo the change and add a new file instead",
				ErrMigrationChanged, ms[i].FileName(), short(ms[i].checksum()), short(a.Checksum))
		}
	}
	return nil
}

func short(sum string) string { return sum[:min(len(sum), 12)] }
