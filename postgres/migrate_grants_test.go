package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// TestGrantsMissing checks the catalog query a tenant migration runs instead
// of granting again: silent when everything is in place, and it notices each
// thing grantTenant would repair.
func TestGrantsMissing(t *testing.T) {
	t.Parallel()
	db, runtime := runtimeSetup(t, true)
	tenants := NewTenantStore(db, nil)
	if _, err := tenants.CreateTenant(t.Context(), "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	role := pgx.Identifier{db.main.tenantRole("acme")}.Sanitize()
	missing := func(runtimeRole string) bool {
		t.Helper()
		var m bool
		if err := db.owner.QueryRow(t.Context(), grantsMissingSQL, db.main.tenantRole("acme"), "tenant_acme", runtimeRole).Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := db.owner.Exec(t.Context(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	regrant := func() {
		t.Helper()
		tx, err := db.owner.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(t.Context())
		if err := db.main.grantTenant(t.Context(), tx, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if missing(runtime) || missing("") {
		t.Fatal("a freshly provisioned tenant has grants missing")
	}
	for _, breakIt := range []string{
		`REVOKE DELETE ON "tenant_acme".items FROM ` + role,
		`REVOKE USAGE ON SCHEMA "tenant_acme" FROM ` + role,
		`REVOKE ` + role + ` FROM ` + pgx.Identifier{runtime}.Sanitize(),
		`REVOKE ` + role + ` FROM CURRENT_USER`,
		`REVOKE UPDATE ON "tenant_acme".items FROM ` + pgx.Identifier{runtime}.Sanitize(),
		`REVOKE USAGE ON SCHEMA "tenant_acme" FROM ` + pgx.Identifier{runtime}.Sanitize(),
		`CREATE TABLE "tenant_acme".notes (id int)`,
	} {
		exec(breakIt)
		if !missing(runtime) {
			t.Errorf("after %s: nothing missing", breakIt)
		}
		regrant()
		if missing(runtime) {
			t.Errorf("after %s and grantTenant: still missing", breakIt)
		}
	}
	// A role that does not exist is missing, not an error.
	var m bool
	if err := db.owner.QueryRow(t.Context(), grantsMissingSQL, "no_such_role", "tenant_acme", "").Scan(&m); err != nil || !m {
		t.Errorf("absent role: %v %v", m, err)
	}
}

// TestMigrateTenantsGrantsNewTables runs a migration that creates a table
// through the pipelined path: the tenant role (and so the runtime role with
// tenant roles on) may use it afterwards, and a migration that creates none
// leaves the grants as they were.
func TestMigrateTenantsGrantsNewTables(t *testing.T) {
	t.Parallel()
	db, _ := runtimeSetup(t, true)
	tenants := NewTenantStore(db, nil)
	tn, err := tenants.CreateTenant(t.Context(), "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	ref := tenantapi.TenantRef{ID: tn.ID, UID: tn.UID}
	m2 := NewMigrator(db).WithTenantMigrations(Migration{Version: 2, Name: "notes", SQL: `
		CREATE TABLE notes (id int);
		INSERT INTO notes VALUES (7)`})
	r, err := m2.MigrateTenants(t.Context(), MigrateOptions{})
	if want := (Report{Total: 1, Migrated: 1, Complete: true}); err != nil || !equalReports(r, want) {
		t.Fatalf("report = %+v, %v; want %+v", r, err, want)
	}
	var id int
	if err := db.tenantRow(t.Context(), ref, `SELECT id FROM "tenant_acme".notes`).Scan(&id); err != nil || id != 7 {
		t.Errorf("the tenant role cannot read the new table: %d %v", id, err)
	}
	var version int
	var ledger []int
	if err := db.owner.QueryRow(t.Context(), `SELECT schema_version FROM public.tenants WHERE id = 'acme'`).Scan(&version); err != nil || version != 2 {
		t.Errorf("schema_version = %d, %v; want 2", version, err)
	}
	rows, _ := db.owner.Query(t.Context(), `SELECT version FROM "tenant_acme"._tenantapi_migrations WHERE track = 'app' ORDER BY version`)
	if ledger, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil || len(ledger) != 2 || ledger[1] != 2 {
		t.Errorf("ledger = %v, %v", ledger, err)
	}
	// The next migration only adds a column: no GRANT runs (the table's
	// ACL, which a GRANT rewrites, keeps its xmin).
	var before, after string
	xmin := `SELECT xmin::text FROM pg_catalog.pg_class WHERE oid = '"tenant_acme".notes'::regclass`
	db.owner.QueryRow(t.Context(), xmin).Scan(&before)
	m3 := m2.WithTenantMigrations(Migration{Version: 3, Name: "col", SQL: `ALTER TABLE items ADD COLUMN c int`})
	if r, err := m3.MigrateTenants(t.Context(), MigrateOptions{}); err != nil || r.Migrated != 1 {
		t.Fatalf("report = %+v, %v", r, err)
	}
	db.owner.QueryRow(t.Context(), xmin).Scan(&after)
	if before == "" || before != after {
		t.Errorf("notes' catalog row changed (%s → %s): granted again for nothing", before, after)
	}
}

// TestMigrateTenantsDeletedMeanwhile: a tenant whose schema is gone while
// its registry row says deleting is skipped, not failed, even though the
// pipelined ledger read fails.
func TestMigrateTenantsDeletedMeanwhile(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "gone")
	s.createTenant(t, "kept")
	m2 := s.mig.WithTenantMigrations(Migration{Version: 2, Name: "col", SQL: `ALTER TABLE items ADD COLUMN c int`})
	// The run lists tenants first; simulate a delete that lands after.
	applied, err := m2.migrateTenant(t.Context(), "kept", MainDatabase)
	if err != nil || !applied {
		t.Fatalf("kept: %v %v", applied, err)
	}
	if _, err := s.tenants.MarkTenantDeleting(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	s.exec(t, `DROP SCHEMA "tenant_gone" CASCADE`)
	applied, err = m2.migrateTenant(t.Context(), "gone", MainDatabase)
	if err != nil || applied {
		t.Errorf("deleting tenant: %v %v; want skipped", applied, err)
	}
	s.exec(t, `DELETE FROM public.tenants WHERE id = 'gone'`)
	applied, err = m2.migrateTenant(t.Context(), "gone", MainDatabase)
	if err != nil || applied {
		t.Errorf("deleted tenant: %v %v; want skipped", applied, err)
	}
	// Every path gave its connection back idle: the pool still works.
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenants`); n != 1 {
		t.Errorf("%d tenants", n)
	}
}

// TestGrantTenantRolesCatchesUp checks what migrate runs for tenants made
// before the runtime role existed or before it was granted their rights
// directly: it finds exactly those and repairs them.
func TestGrantTenantRolesCatchesUp(t *testing.T) {
	t.Parallel()
	db, runtime := runtimeSetup(t, false)
	tenants := NewTenantStore(db, nil)
	for _, id := range []tenantapi.TenantID{"a", "b", "c"} {
		if _, err := tenants.CreateTenant(t.Context(), id, "T"); err != nil {
			t.Fatal(err)
		}
	}
	m := NewMigrator(db)
	if n, err := m.GrantTenantRoles(t.Context()); err != nil || n != 0 {
		t.Fatalf("fresh tenants: %d fixed, %v", n, err)
	}
	rt := pgx.Identifier{runtime}.Sanitize()
	for _, sql := range []string{
		`REVOKE USAGE ON SCHEMA "tenant_a" FROM ` + rt,
		`REVOKE ALL ON "tenant_a".items FROM ` + rt,
		`REVOKE ` + pgx.Identifier{db.main.tenantRole("b")}.Sanitize() + ` FROM ` + rt,
	} {
		if _, err := db.owner.Exec(t.Context(), sql); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := m.GrantTenantRoles(t.Context()); err != nil || n != 2 {
		t.Fatalf("after breaking a and b: %d fixed, %v; want 2", n, err)
	}
	for _, id := range []tenantapi.TenantID{"a", "b", "c"} {
		var missing bool
		if err := db.owner.QueryRow(t.Context(), grantsMissingSQL, db.main.tenantRole(id), id.Schema(), runtime).Scan(&missing); err != nil || missing {
			t.Errorf("tenant %s: grants missing %v, %v", id, missing, err)
		}
	}
}
