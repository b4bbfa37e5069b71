package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

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
	rows    *RowStore
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
	return storesOn(t, cfg.URL, open(t, cfg))
}

// storesOn migrates the public schema of db, at url, and returns the
// stores on it.
func storesOn(t *testing.T, url string, db *DB) *stores {
	t.Helper()
	mig := NewMigrator(db)
	if _, err := mig.MigratePublic(t.Context()); err != nil {
		t.Fatalf("MigratePublic: %v", err)
	}
	return &stores{
		url:     url,
		db:      db,
		mig:     mig,
		tenants: NewTenantStore(db, mig),
		keys:    NewKeyStore(db),
		rows:    NewRowStore(db),
		config:  NewConfigStore(db),
	}
}

// open opens cfg and closes it when the test ends. A pool that serves
// tenants keeps a budget of two prepared statements per connection unless
// cfg says otherwise (negative: none), so that the stores' tests run both
// prepared and unprepared statements.
func open(t testing.TB, cfg Config) *DB {
	t.Helper()
	if cfg.PreparedStatements == 0 {
		cfg.PreparedStatements = 2
	}
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
	return tenantRef(tn)
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

// itemsAt returns the items resource at ref's version, as the recorded
// schemas serve it.
func itemsAt(t testing.TB, db *DB, ref tenantapi.TenantRef) *tenantapi.Resource {
	t.Helper()
	sc, err := NewSchemaStore(db).Schema(t.Context(), ref.Version)
	if err != nil {
		t.Fatalf("Schema(%d): %v", ref.Version, err)
	}
	res, ok := sc.Resource("items")
	if !ok {
		t.Fatalf("version %d has no items resource", ref.Version)
	}
	return res
}

// tenantRef returns the reference of tn as a request holds it.
func tenantRef(tn tenantapi.Tenant) tenantapi.TenantRef {
	return tenantapi.TenantRef{ID: tn.ID, UID: tn.UID, Version: tn.SchemaVersion, Database: tn.Database}
}

// values returns the values of a write of res: each field named in set
// with its PostgreSQL input text, every other one as its default (what a
// POST or PUT leaving it out sends).
func values(res *tenantapi.Resource, set map[string]string) []tenantapi.Value {
	vals := make([]tenantapi.Value, 0, len(res.Fields))
	for i, f := range res.Fields {
		if text, ok := set[f.Name]; ok {
			vals = append(vals, tenantapi.Value{Field: i, Text: text})
		} else {
			vals = append(vals, tenantapi.Value{Field: i, Default: true})
		}
	}
	for name := range set {
		fieldOf(res, name) // a field res does not have is the test's mistake
	}
	return vals
}

// fieldOf returns the index of res's field name.
func fieldOf(res *tenantapi.Resource, name string) int {
	for i, f := range res.Fields {
		if f.Name == name {
			return i
		}
	}
	panic("resource " + res.Name + " has no field " + name)
}

// item returns the values of an item with name and attributes, the
// description left to its default.
func item(res *tenantapi.Resource, name, attrs string) []tenantapi.Value {
	return values(res, map[string]string{"name": name, "attributes": attrs})
}

// itemJSON is an item as the API shows it.
type itemJSON struct {
	ID          uuid.UUID       `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Attributes  json.RawMessage `json:"attributes"` // the stored jsonb text
	Version     int64           `json:"version"`
	CreatedAt   string          `json:"created_at"`
	UpdatedAt   string          `json:"updated_at"`
}

// decodeItem decodes a row of the items resource: exactly the members of
// an item, agreeing with the row's id and version (a listed row carries
// its version in the JSON only).
func decodeItem(t testing.TB, row tenantapi.Row) itemJSON {
	t.Helper()
	var it itemJSON
	dec := json.NewDecoder(bytes.NewReader(row.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&it); err != nil {
		t.Fatalf("item JSON %s: %v", row.JSON, err)
	}
	if it.ID != row.ID || row.Version != 0 && it.Version != row.Version {
		t.Fatalf("item JSON %s, row id %s version %d", row.JSON, row.ID, row.Version)
	}
	return it
}

// apiTime parses a timestamp as the API writes it: UTC, exactly six
// fractional digits, Z.
func apiTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse("2006-01-02T15:04:05.000000Z", s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return tm
}

// migrateAcme creates tenant acme, migrates it with the built-in set and
// extra, and returns it with the schema of its new version.
func (s *stores) migrateAcme(t *testing.T, extra Migration) (tenantapi.TenantRef, *tenantapi.Schema) {
	t.Helper()
	ctx := t.Context()
	s.createTenant(t, "acme")
	if _, err := s.mig.WithTenantMigrations(extra).MigrateTenants(ctx, MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	tn, err := s.tenants.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	ref := tenantRef(tn)
	sc, err := NewSchemaStore(s.db).Schema(ctx, ref.Version)
	if err != nil {
		t.Fatal(err)
	}
	return ref, sc
}
