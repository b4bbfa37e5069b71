package postgres

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi"
)

// legacyTenant makes tenant id as the releases before the application set
// did: items and idempotency_keys created with schema-qualified DDL, the
// single ledger schema_migrations holding version 1 "items", and a
// registry row at schema version 1 with no product version. It stores an
// item and an idempotency key.
func legacyTenant(t *testing.T, s *stores, id tenantapi.TenantID) {
	t.Helper()
	q := quotedSchema(id)
	s.exec(t, `INSERT INTO public.tenants (id, name, schema_version) VALUES ($1, 'Legacy', 1)`, string(id))
	s.exec(t, `CREATE SCHEMA `+q+`;
		CREATE TABLE `+q+`.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
		CREATE TABLE `+q+`.items (id uuid PRIMARY KEY, name text NOT NULL, description text NOT NULL DEFAULT '',
			attributes jsonb NOT NULL DEFAULT '{}', version bigint NOT NULL DEFAULT 1,
			created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
		CREATE TABLE `+q+`.idempotency_keys (key text PRIMARY KEY, request_hash bytea NOT NULL, response bytea NOT NULL,
			item_id uuid NOT NULL, created_at timestamptz NOT NULL);
		INSERT INTO `+q+`.schema_migrations (version, name) VALUES (1, 'items');
		INSERT INTO `+q+`.items (id, name, created_at, updated_at) VALUES ('0193a6f1-0000-7000-8000-000000000001', 'Old', now(), now());
		INSERT INTO `+q+`.idempotency_keys VALUES ('k1', '\x00', '\x7b7d', '0193a6f1-0000-7000-8000-000000000001', now())`)
	if err := s.db.main.grantTenant(t.Context(), s.db.owner, id); err != nil {
		t.Fatalf("grantTenant: %v", err)
	}
}

func TestMigrateCarriesLegacyTenantsOver(t *testing.T) {
	t.Parallel()
	s := setup(t)
	legacyTenant(t, s, "old")
	s.createTenant(t, "new")

	// Its application version is current; its product track is behind.
	st, err := s.mig.Status(t.Context())
	if err != nil || len(st.Behind) != 1 || st.Behind[0].Tenant != "old" {
		t.Errorf("status before = %+v, %v; want the legacy tenant behind", st, err)
	}
	r, err := s.mig.MigrateTenants(t.Context(), MigrateOptions{})
	if want := (Report{Total: 2, Migrated: 1, UpToDate: 1, Complete: true}); err != nil || !equalReports(r, want) {
		t.Fatalf("report = %+v, %v; want %+v", r, err, want)
	}
	q := quotedSchema("old")
	if n := s.queryInt(t, `SELECT count(*) FROM `+q+`.items WHERE name = 'Old'`); n != 1 {
		t.Errorf("items kept: %d, want 1", n)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM `+q+`._tenantapi_idempotency_keys WHERE key = 'k1'`); n != 1 {
		t.Errorf("idempotency keys carried over: %d, want 1", n)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'tenant_old' AND c.relname IN ('schema_migrations', 'idempotency_keys')`); n != 0 {
		t.Errorf("%d old tables left behind", n)
	}
	var file, sum string
	if err := s.db.owner.QueryRow(t.Context(), `SELECT file, checksum FROM `+q+`._tenantapi_migrations WHERE track = 'app' AND version = 1`).Scan(&file, &sum); err != nil {
		t.Fatalf("carried ledger: %v", err)
	}
	if file != "0001_items.sql" || sum != builtinMigrations[0].checksum() {
		t.Errorf("carried ledger row = %s %s, want the built-in file's", file, sum)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM `+q+`._tenantapi_migrations WHERE track = 'product'`); n != len(productMigrations) {
		t.Errorf("product track has %d rows, want %d", n, len(productMigrations))
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenants WHERE schema_version = $1 AND product_version = $2`,
		LatestTenantVersion(), LatestProductVersion()); n != 2 {
		t.Errorf("%d of 2 tenants current in the registry", n)
	}
	st, err = s.mig.Status(t.Context())
	if err != nil || len(st.Behind) != 0 || len(st.Failed) != 0 {
		t.Errorf("status after = %+v, %v; want nothing pending", st, err)
	}
	// The items of the carried tenant work as before, idempotency included.
	tn, err := s.tenants.Tenant(t.Context(), "old")
	if err != nil {
		t.Fatal(err)
	}
	ref := tenantRef(tn)
	res := itemsAt(t, s.db, ref)
	if rows, _, err := s.rows.List(t.Context(), ref, res, tenantapi.RowQuery{Limit: 10}); err != nil || len(rows) != 1 || decodeItem(t, rows[0]).Name != "Old" {
		t.Errorf("List = %d, %v", len(rows), err)
	}
	_, err = s.rows.Create(t.Context(), ref, res, item(res, "New", `{}`), idemKey("k1", "another body"))
	wantCode(t, err, tenantapi.CodeIdempotencyKeyReused)
	r, err = s.mig.MigrateTenants(t.Context(), MigrateOptions{})
	if want := (Report{Total: 2, UpToDate: 2, Complete: true}); err != nil || !equalReports(r, want) {
		t.Errorf("second run = %+v, %v; want %+v", r, err, want)
	}
}

func TestMigrateRefusesChangedOrRemovedFiles(t *testing.T) {
	t.Parallel()
	s := setup(t)
	notes := Migration{Version: 2, Name: "notes", SQL: `CREATE TABLE notes (id uuid PRIMARY KEY)`}
	m2 := s.mig.WithTenantMigrations(notes)
	tenants := NewTenantStore(s.db, m2)
	if _, err := tenants.CreateTenant(t.Context(), "a", "A"); err != nil {
		t.Fatal(err)
	}
	changed := notes
	changed.SQL += ` -- edited`
	removed := s.mig // the built-in set alone: 0002_notes.sql is gone
	for name, m := range map[string]*Migrator{
		"changed": s.mig.WithTenantMigrations(changed),
		"removed": removed,
	} {
		_, err := m.MigrateTenants(t.Context(), MigrateOptions{})
		if !errors.Is(err, ErrMigrationChanged) || !strings.Contains(err.Error(), "0002_notes.sql") {
			t.Errorf("%s: MigrateTenants = %v; want ErrMigrationChanged naming 0002_notes.sql", name, err)
		}
	}
	// A create with a changed file is refused too. (With the file removed
	// the set looks like an earlier release's, whose creates stay allowed.)
	if _, err := NewTenantStore(s.db, s.mig.WithTenantMigrations(changed)).CreateTenant(t.Context(), "b", "B"); err == nil {
		t.Error("CreateTenant succeeded with a changed file")
	}
	if s.schemaExists(t, "b") {
		t.Error("the refused create left a schema")
	}
	// The untouched set still migrates.
	if _, err := m2.MigrateTenants(t.Context(), MigrateOptions{}); err != nil {
		t.Errorf("MigrateTenants with the applied set: %v", err)
	}
}

func TestMigrateFileWithSyntaxErrorNamesItAndKeepsVersion(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "a")
	bad := s.mig.WithTenantMigrations(Migration{Version: 2, Name: "typo", SQL: `CREAT TABLE notes (id uuid PRIMARY KEY)`})
	// The set is applied to a scratch schema first, to record what each
	// version serves: a file that cannot run at all is refused there,
	// before any tenant is touched.
	r, err := bad.MigrateTenants(t.Context(), MigrateOptions{})
	if err == nil || r.Migrated != 0 {
		t.Fatalf("report = %+v, %v; want the run refused", r, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "0002_typo.sql") || !strings.Contains(msg, "syntax error") {
		t.Errorf("error = %q; want it to name the file and the syntax error", msg)
	}
	if v := s.queryInt(t, `SELECT schema_version FROM public.tenants WHERE id = 'a'`); v != 1 {
		t.Errorf("schema_version = %d, want 1", v)
	}
	// A file that failed everywhere was applied nowhere: fixing it is no
	// change to refuse.
	fixed := s.mig.WithTenantMigrations(Migration{Version: 2, Name: "typo", SQL: `CREATE TABLE notes (id uuid PRIMARY KEY)`})
	if r, err := fixed.MigrateTenants(t.Context(), MigrateOptions{}); err != nil || r.Migrated != 1 {
		t.Errorf("fixed run = %+v, %v", r, err)
	}
}

func TestLoadMigrationsFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadMigrations(dir); err == nil || !strings.Contains(err.Error(), "holds no") {
		t.Errorf("empty folder: %v", err)
	}
	write("20260101120000_projects.sql", "CREATE TABLE projects (id uuid PRIMARY KEY)")
	write("README.md", "notes")
	ms, err := LoadMigrations(dir)
	if err != nil || len(ms) != 1 || ms[0].Version != 20260101120000 || ms[0].File != "20260101120000_projects.sql" {
		t.Fatalf("LoadMigrations = %+v, %v", ms, err)
	}
	if ms[0].Checksum != checksumOf([]byte("CREATE TABLE projects (id uuid PRIMARY KEY)")) {
		t.Error("checksum is not the file's SHA-256")
	}
	write("init.sql", "")
	if _, err := LoadMigrations(dir); err == nil || !strings.Contains(err.Error(), "init.sql") {
		t.Errorf("bad name: %v; want it named", err)
	}
	if _, err := LoadMigrations(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing folder accepted")
	}
}

// The example set starts from the built-in file byte for byte, so tenants
// carried over from earlier releases (recorded with the built-in file's
// checksum) migrate with it.
func TestExampleSetStartsWithTheBuiltinFile(t *testing.T) {
	t.Parallel()
	set, err := LoadMigrations("../examples/projects")
	if err != nil {
		t.Fatal(err)
	}
	if set[0].File != builtinMigrations[0].File || set[0].Checksum != builtinMigrations[0].Checksum {
		t.Errorf("examples/projects/%s differs from the built-in %s", set[0].File, builtinMigrations[0].File)
	}
}
