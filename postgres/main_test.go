package postgres

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// stores is what most tests need: a fresh, migrated database and the stores
// on it.
type stores struct {
	url     string
	db      *DB
	mig     *Migrator
	tenants *TenantStore
	keys    *KeyStore
	items   *ItemStore
	config  *ConfigStore
}

// setup returns stores on a fresh database with the public schema migrated.
func setup(t *testing.T) *stores {
	t.Helper()
	return setupWith(t, Config{})
}

// setupWith is setup with cfg (its URL is filled in).
func setupWith(t *testing.T, cfg Config) *stores {
	t.Helper()
	cfg.URL = testdb.New(t)
	db := open(t, cfg)
	mig := NewMigrator(db)
	if _, err := mig.MigratePublic(t.Context()); err != nil {
		t.Fatalf("MigratePublic: %v", err)
	}
	return &stores{
		url:     cfg.URL,
		db:      db,
		mig:     mig,
		tenants: NewTenantStore(db, mig),
		keys:    NewKeyStore(db),
		items:   NewItemStore(db),
		config:  NewConfigStore(db),
	}
}

// open opens cfg and closes it when the test ends.
func open(t testing.TB, cfg Config) *DB {
	t.Helper()
	db, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// createTenant creates an active tenant and returns its reference.
func (s *stores) createTenant(t *testing.T, id tenantapi.TenantID) tenantapi.TenantRef {
	t.Helper()
	tn, err := s.tenants.CreateTenant(t.Context(), id, "Tenant "+string(id))
	if err != nil {
		t.Fatalf("CreateTenant(%s): %v", id, err)
	}
	return tenantapi.TenantRef{ID: tn.ID, UID: tn.UID, Version: tn.SchemaVersion}
}

// exec runs SQL as the owner, for arranging what the API cannot.
func (s *stores) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := s.db.owner.Exec(context.WithoutCancel(t.Context()), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// queryInt runs a query returning one integer.
func (s *stores) queryInt(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.owner.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return n
}

// schemaExists reports whether the tenant's schema is in the catalog.
func (s *stores) schemaExists(t *testing.T, id tenantapi.TenantID) bool {
	t.Helper()
	return s.queryInt(t, `SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1`, id.Schema()) == 1
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code tenantapi.Code) {
	t.Helper()
	if got := tenantapi.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
