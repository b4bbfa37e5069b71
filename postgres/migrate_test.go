package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr bool
	}{
		{"ordered", fstest.MapFS{
			"m/0002_b.sql": {Data: []byte("b")},
			"m/0001_a.sql": {Data: []byte("a")},
			"m/README.md":  {Data: []byte("not a migration")},
		}, []int{1, 2}, false},
		{"no name", fstest.MapFS{"m/0001.sql": {}}, nil, true},
		{"no number", fstest.MapFS{"m/init_a.sql": {}}, nil, true},
		{"zero", fstest.MapFS{"m/0000_a.sql": {}}, nil, true},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": {}, "m/01_b.sql": {}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := loadMigrations(tt.files, "m")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("versions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	t.Parallel()
	if LatestPublicVersion() < 1 || LatestTenantVersion() < 1 {
		t.Fatalf("latest versions = %d, %d; want both ≥ 1", LatestPublicVersion(), LatestTenantVersion())
	}
	for _, m := range append(BuiltinMigrations(), productMigrations...) {
		// Files run with the tenant's schema as the search_path: a
		// qualified name would reach past it.
		if strings.Contains(m.SQL, schemaPlaceholder) || strings.Contains(m.SQL, "tenant_") {
			t.Errorf("tenant migration %s names a schema", m.FileName())
		}
	}
}

func TestForTenantQuotesSchema(t *testing.T) {
	t.Parallel()
	got := forTenant("SELECT 1 FROM {{schema}}.items", "acme_1")
	if want := `SELECT 1 FROM "tenant_acme_1".items`; got != want {
		t.Errorf("forTenant = %q, want %q", got, want)
	}
}

func TestMigratePublic(t *testing.T) {
	t.Parallel()
	db := open(t, Config{URL: testdb.New(t)})
	m := NewMigrator(db)

	if v, err := db.PublicVersion(t.Context()); err != nil || v != 0 {
		t.Fatalf("PublicVersion before = %d, %v; want 0, nil", v, err)
	}
	wantCode(t, db.Ready(t.Context()), tenantapi.CodeUnavailable)

	// Concurrent first runs: the advisory lock lets exactly one apply.
	const runs = 4
	results := make([][]int, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			applied, err := m.MigratePublic(t.Context())
			if err != nil {
				t.Errorf("MigratePublic: %v", err)
			}
			results[i] = applied
		})
	}
	wg.Wait()
	var total int
	for _, r := range results {
		total += len(r)
	}
	if total != len(publicMigrations) {
		t.Errorf("applied %v in total, want each of %d migrations once", results, len(publicMigrations))
	}
	if err := db.Ready(t.Context()); err != nil {
		t.Errorf("Ready after migrating: %v", err)
	}
	if v, _ := db.PublicVersion(t.Context()); v != LatestPublicVersion() {
		t.Errorf("PublicVersion = %d, want %d", v, LatestPublicVersion())
	}
}

// appliedCount returns how many times the test migration logged each
// schema in public.apply_log.
func appliedCount(t *testing.T, s *stores, id tenantapi.TenantID) int {
	t.Helper()
	return s.queryInt(t, `SELECT count(*) FROM public.apply_log WHERE schema_name = $1`, quotedSchema(id))
}

// logMigration records in public.apply_log every time it is applied, so a
// test can see double applications.
var logMigration = Migration{Version: 2, Name: "log", SQL: `
	INSERT INTO public.apply_log (schema_name) VALUES ('"' || current_schema() || '"');
	ALTER TABLE items ADD COLUMN extra text`}

func TestMigrateTenantsFreshTenantsAreCurrent(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for _, id := range []tenantapi.TenantID{"a", "b", "c"} {
		s.createTenant(t, id)
	}
	r, err := s.mig.MigrateTenants(t.Context(), MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Total: 3, UpToDate: 3, Complete: true}
	if !equalReports(r, want) {
		t.Errorf("report = %+v, want %+v", r, want)
	}
	tn, _ := s.tenants.Tenant(t.Context(), "a")
	if tn.SchemaVersion != LatestTenantVersion() {
		t.Errorf("SchemaVersion = %d, want %d", tn.SchemaVersion, LatestTenantVersion())
	}
}

func equalReports(a, b Report) bool {
	return a.Total == b.Total && a.Migrated == b.Migrated && a.UpToDate == b.UpToDate &&
		len(a.Failed) == len(b.Failed) && a.Complete == b.Complete
}

func TestMigrateTenantsIncremental(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.exec(t, `CREATE TABLE public.apply_log (schema_name text NOT NULL)`)
	ids := []tenantapi.TenantID{"a", "b", "c", "d", "e"}
	for _, id := range ids {
		s.createTenant(t, id)
	}
	m2 := s.mig.WithTenantMigrations(logMigration)

	var mu sync.Mutex
	var progress []int
	r, err := m2.MigrateTenants(t.Context(), MigrateOptions{Concurrency: 2, Progress: func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if total != len(ids) {
			t.Errorf("progress total = %d, want %d", total, len(ids))
		}
		progress = append(progress, done)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Report{Total: 5, Migrated: 5, Complete: true}); !equalReports(r, want) {
		t.Errorf("report = %+v, want %+v", r, want)
	}
	if !slices.Equal(progress, []int{1, 2, 3, 4, 5}) {
		t.Errorf("progress = %v, want 1..5", progress)
	}
	for _, id := range ids {
		if n := appliedCount(t, s, id); n != 1 {
			t.Errorf("%s: migration applied %d times", id, n)
		}
		tn, _ := s.tenants.Tenant(t.Context(), id)
		if tn.SchemaVersion != 2 {
			t.Errorf("%s: SchemaVersion = %d, want 2", id, tn.SchemaVersion)
		}
	}

	// A second run skips everyone by the mirrored version alone.
	r, err = m2.MigrateTenants(t.Context(), MigrateOptions{})
	if want := (Report{Total: 5, UpToDate: 5, Complete: true}); err != nil || !equalReports(r, want) {
		t.Errorf("rerun = %+v, %v; want %+v", r, err, want)
	}

	// A tenant created by the new binary starts at version 2.
	NewTenantStore(s.db, m2).CreateTenant(t.Context(), "f", "F")
	if n := appliedCount(t, s, "f"); n != 1 {
		t.Errorf("new tenant: migration applied %d times, want 1", n)
	}
}

func TestMigrateTenantsOneFails(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for _, id := range []tenantapi.TenantID{"good1", "bad", "good2"} {
		s.createTenant(t, id)
	}
	// The migration creates a table that "bad" already has.
	s.exec(t, `CREATE TABLE "tenant_bad".notes (id int)`)
	m2 := s.mig.WithTenantMigrations(Migration{Version: 2, Name: "notes", SQL: `
		CREATE TABLE notes (id int);
		ALTER TABLE items ADD COLUMN note text`})

	r, err := m2.MigrateTenants(t.Context(), MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Report{Total: 3, Migrated: 2, Failed: make([]TenantFailure, 1), Complete: true}); !equalReports(r, want) {
		t.Fatalf("report = %+v, want %+v", r, want)
	}
	if r.Failed[0].Tenant != "bad" || r.Failed[0].Err == nil {
		t.Errorf("Failed = %+v, want bad with an error", r.Failed)
	}
	bad, _ := s.tenants.Tenant(t.Context(), "bad")
	if bad.SchemaVersion != 1 {
		t.Errorf("bad: SchemaVersion = %d, want 1 (unchanged)", bad.SchemaVersion)
	}
	// The failed migration rolled back as a whole: no new column.
	if n := s.queryInt(t, `SELECT count(*) FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'tenant_bad' AND c.relname = 'items' AND a.attname = 'note'`); n != 0 {
		t.Error("bad: half of the failed migration stayed")
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenants WHERE id = 'bad' AND migration_error LIKE '%0002_notes%'`); n != 1 {
		t.Error("bad: migration_error not recorded")
	}
	for _, id := range []tenantapi.TenantID{"good1", "good2"} {
		tn, _ := s.tenants.Tenant(t.Context(), id)
		if tn.SchemaVersion != 2 {
			t.Errorf("%s: SchemaVersion = %d, want 2", id, tn.SchemaVersion)
		}
	}

	// Fixed, a rerun finishes the job and clears the error.
	s.exec(t, `DROP TABLE "tenant_bad".notes`)
	r, err = m2.MigrateTenants(t.Context(), MigrateOptions{})
	if want := (Report{Total: 3, Migrated: 1, UpToDate: 2, Complete: true}); err != nil || !equalReports(r, want) {
		t.Errorf("rerun = %+v, %v; want %+v", r, err, want)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenants WHERE migration_error IS NOT NULL OR schema_version <> 2`); n != 0 {
		t.Errorf("%d tenants not clean after the rerun", n)
	}
}

func TestMigrateTenantsConcurrentRunsApplyOnce(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.exec(t, `CREATE TABLE public.apply_log (schema_name text NOT NULL)`)
	var ids []tenantapi.TenantID
	for i := range 12 {
		id := tenantapi.TenantID(fmt.Sprintf("t%02d", i))
		ids = append(ids, id)
		s.createTenant(t, id)
	}
	m2 := s.mig.WithTenantMigrations(logMigration)

	const runs = 3
	reports := make([]Report, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			r, err := m2.MigrateTenants(t.Context(), MigrateOptions{Concurrency: 3})
			if err != nil {
				t.Errorf("MigrateTenants: %v", err)
			}
			reports[i] = r
		})
	}
	wg.Wait()
	migrated := 0
	for _, r := range reports {
		if len(r.Failed) != 0 || !r.Complete {
			t.Errorf("report %+v: want no failures, complete", r)
		}
		migrated += r.Migrated
	}
	if migrated != len(ids) {
		t.Errorf("migrated %d tenants over all runs, want %d", migrated, len(ids))
	}
	for _, id := range ids {
		if n := appliedCount(t, s, id); n != 1 {
			t.Errorf("%s: applied %d times", id, n)
		}
	}
}

func TestMigrateTenantsOne(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.exec(t, `CREATE TABLE public.apply_log (schema_name text NOT NULL)`)
	s.createTenant(t, "a")
	s.createTenant(t, "b")
	m2 := s.mig.WithTenantMigrations(logMigration)

	r, err := m2.MigrateTenants(t.Context(), MigrateOptions{Tenant: "b"})
	if want := (Report{Total: 1, Migrated: 1, Complete: true}); err != nil || !equalReports(r, want) {
		t.Fatalf("report = %+v, %v; want %+v", r, err, want)
	}
	if appliedCount(t, s, "a") != 0 || appliedCount(t, s, "b") != 1 {
		t.Error("migrated the wrong tenant")
	}
	_, err = m2.MigrateTenants(t.Context(), MigrateOptions{Tenant: "nobody"})
	wantErr(t, err, tenantapi.ErrTenantNotFound)
}

func TestMigrateTenantsStopsWhenContextDone(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for i := range 6 {
		s.createTenant(t, tenantapi.TenantID(fmt.Sprintf("t%d", i)))
	}
	m2 := s.mig.WithTenantMigrations(Migration{Version: 2, Name: "slow", SQL: `
		ALTER TABLE items ADD COLUMN slow text;
		SELECT pg_catalog.pg_sleep(0.2)`})

	ctx, cancel := context.WithCancel(t.Context())
	r, err := m2.MigrateTenants(ctx, MigrateOptions{Concurrency: 1, Progress: func(done, total int) {
		if done == 2 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete || r.Migrated != 2 || len(r.Failed) != 0 {
		t.Fatalf("report = %+v; want incomplete after 2, no failures", r)
	}
	// Nobody was left half-migrated: versions agree with the ledgers.
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenants WHERE schema_version = 2`); n != 2 {
		t.Errorf("%d tenants at version 2, want 2", n)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenants WHERE migration_error IS NOT NULL`); n != 0 {
		t.Errorf("%d tenants have a migration error; stopping is not failing", n)
	}

	r, err = m2.MigrateTenants(t.Context(), MigrateOptions{})
	if want := (Report{Total: 6, Migrated: 4, UpToDate: 2, Complete: true}); err != nil || !equalReports(r, want) {
		t.Errorf("continued run = %+v, %v; want %+v", r, err, want)
	}
}

func TestWithTenantMigrationsRefusesDuplicates(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("no panic for a duplicate version")
		}
	}()
	NewMigrator(nil).WithTenantMigrations(Migration{Version: 1, Name: "again"})
}
