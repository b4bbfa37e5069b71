package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

// twoDatabases returns stores on a fresh control database and the URL of
// a second, empty database added to it as "b".
func twoDatabases(t *testing.T, cfg Config) (*stores, string) {
	t.Helper()
	s := setupWith(t, cfg)
	other := testdb.New(t)
	addDatabase(t, s.db, "b", other)
	return s, other
}

// addDatabase adds the database at conn as name.
func addDatabase(t testing.TB, db *DB, name, conn string) {
	t.Helper()
	addr, err := Address(conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDatabaseStore(db).Add(t.Context(), Database{Name: name, URL: conn, Address: addr}); err != nil {
		t.Fatalf("Add(%s): %v", name, err)
	}
}

// schemaIn reports whether the tenant's schema exists in the database at conn.
func schemaIn(t *testing.T, conn string, id tenantapi.TenantID) bool {
	t.Helper()
	db := open(t, Config{URL: conn})
	var n int
	if err := db.owner.QueryRow(t.Context(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, id.Schema()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestTenantInAnotherDatabase: a tenant created in database b has its
// schema there and nowhere else, and every store call (rows, usage,
// migrations, export, import, delete) works on it there.
func TestTenantInAnotherDatabase(t *testing.T) {
	t.Parallel()
	s, other := twoDatabases(t, Config{})
	ctx := t.Context()
	tn, err := s.tenants.CreateTenantIn(ctx, "acme", "Acme", "b")
	if err != nil {
		t.Fatal(err)
	}
	if tn.Database != "b" {
		t.Fatalf("created in %q, want b", tn.Database)
	}
	if !schemaIn(t, other, "acme") || s.schemaExists(t, "acme") {
		t.Fatal("the schema is not in b alone")
	}
	ref, _, _, err := s.tenants.TenantStatus(ctx, "acme")
	if err != nil || ref.Database != "b" {
		t.Fatalf("TenantStatus = %+v, %v", ref, err)
	}
	res := itemsAt(t, s.db, ref)
	c, err := s.rows.Create(ctx, ref, res, values(res, map[string]string{"name": "in b"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.rows.Get(ctx, ref, res, c.Row.ID); err != nil || string(got.JSON) != string(c.Row.JSON) {
		t.Fatalf("Get = %s, %v", got.JSON, err)
	}
	u, err := s.tenants.TenantUsage(ctx, "acme")
	if err != nil || u.Rows["items"] != 1 || u.StorageBytes == 0 {
		t.Fatalf("usage = %+v, %v", u, err)
	}

	// A migration reaches it in b.
	m2 := s.mig.WithTenantMigrations(Migration{Version: 2, Name: "notes", SQL: `CREATE TABLE notes (id uuid PRIMARY KEY, body text NOT NULL)`})
	rep, err := m2.MigrateTenants(ctx, MigrateOptions{})
	if err != nil || rep.Migrated != 1 || len(rep.Failed) != 0 {
		t.Fatalf("MigrateTenants = %+v, %v", rep, err)
	}
	bdb := open(t, Config{URL: other})
	var n int
	if err := bdb.owner.QueryRow(ctx, `SELECT count(*) FROM tenant_acme._tenantapi_migrations WHERE track = 'app'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("b's ledger has %d app migrations (%v), want 2", n, err)
	}
	if got, _ := s.tenants.Tenant(ctx, "acme"); got.SchemaVersion != 2 {
		t.Fatalf("registry says version %d, want 2", got.SchemaVersion)
	}

	// Export from b, import into main: the same rows.
	var archive bytes.Buffer
	tenants2 := NewTenantStore(s.db, m2)
	if _, err := tenants2.ExportTenant(ctx, "acme", &archive, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants2.ImportTenant(ctx, bytes.NewReader(archive.Bytes()), "copy", MainDatabase); err != nil {
		t.Fatal(err)
	}
	a, _, err := tenants2.TableChecksums(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := tenants2.TableChecksums(ctx, "copy")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("checksums in b %v, of the copy in main %v", a, b)
	}
	if cp, _ := s.tenants.Tenant(ctx, "copy"); cp.Database != MainDatabase {
		t.Errorf("copy imported into %q, want main", cp.Database)
	}

	// Deleting drops the schema in b.
	if err := tenantapi.DeleteTenant(ctx, s.tenants, "acme", 0, time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if schemaIn(t, other, "acme") {
		t.Error("the schema is still in b after the delete")
	}
}

// TestPlacement: a new tenant goes to the non-draining database with the
// fewest tenants; a draining one gets only tenants that name it; an
// unknown name is refused; every database draining is refused.
func TestPlacement(t *testing.T) {
	t.Parallel()
	s, _ := twoDatabases(t, Config{})
	ctx := t.Context()
	place := func(id tenantapi.TenantID, database string) string {
		t.Helper()
		tn, err := s.tenants.CreateTenantIn(ctx, id, string(id), database)
		if err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		return tn.Database
	}
	if got := place("t1", ""); got != MainDatabase {
		t.Errorf("first tenant in %s, want main (a tie goes to main)", got)
	}
	if got := place("t2", ""); got != "b" {
		t.Errorf("second tenant in %s, want b (fewest)", got)
	}
	ds := NewDatabaseStore(s.db)
	if err := ds.SetDraining(ctx, "b", true); err != nil {
		t.Fatal(err)
	}
	if got := place("t3", ""); got != MainDatabase {
		t.Errorf("with b draining, tenant in %s, want main", got)
	}
	if got := place("t4", "b"); got != "b" {
		t.Errorf("naming draining b, tenant in %s", got)
	}
	if err := ds.SetDraining(ctx, MainDatabase, true); err != nil {
		t.Fatal(err)
	}
	_, err := s.tenants.CreateTenant(ctx, "t5", "t5")
	wantCode(t, err, tenantapi.CodeConflict)
	_, err = s.tenants.CreateTenantIn(ctx, "t6", "t6", "nowhere")
	wantCode(t, err, tenantapi.CodeValidationFailed)
	if s.schemaExists(t, "t5") || s.schemaExists(t, "t6") {
		t.Error("a refused tenant left a schema")
	}
	list, err := ds.List(ctx)
	if err != nil || len(list) != 2 || list[0].Tenants != 2 || list[1].Tenants != 2 || !list[1].Draining {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

// TestDatabasesAddRemove: Add refuses a bad name, main, a taken name or
// address, a control database and one that cannot be reached, and never
// puts the password in what it says; Remove refuses while tenants live
// there and forgets the database after.
func TestDatabasesAddRemove(t *testing.T) {
	t.Parallel()
	s, other := twoDatabases(t, Config{})
	ctx := t.Context()
	ds := NewDatabaseStore(s.db)
	addr, _ := Address(other)
	for _, bad := range []struct {
		d    Database
		code tenantapi.Code
	}{
		{Database{Name: "Bad", URL: other, Address: addr}, tenantapi.CodeValidationFailed},
		{Database{Name: "main", URL: other, Address: addr}, tenantapi.CodeConflict},
		{Database{Name: "b", URL: other, Address: addr}, tenantapi.CodeConflict},
		{Database{Name: "c", URL: other, Address: addr}, tenantapi.CodeConflict},
		{Database{Name: "c", URL: s.url, Address: addr + "x"}, tenantapi.CodeConflict},
	} {
		_, err := ds.Add(ctx, bad.d)
		wantCode(t, err, bad.code)
	}
	u, _ := url.Parse(other)
	u.Host = "127.0.0.1:1"
	u.User = url.UserPassword("someone", "s3cret-pass")
	unreachable := u.String()
	ua, _ := Address(unreachable)
	_, err := ds.Add(ctx, Database{Name: "c", URL: unreachable, Address: ua})
	wantCode(t, err, tenantapi.CodeUnavailable)
	if bytes.Contains([]byte(err.Error()), []byte("s3cret-pass")) {
		t.Errorf("the error shows the password: %v", err)
	}
	list, err := ds.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	out, _ := json.Marshal(list)
	if bytes.Contains(out, []byte("s3cret")) || list[1].Where() != addr {
		t.Errorf("b is shown as %q", list[1].Where())
	}

	if _, err := s.tenants.CreateTenantIn(ctx, "acme", "Acme", "b"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, ds.Remove(ctx, "b"), tenantapi.CodeConflict)
	wantCode(t, ds.Remove(ctx, "main"), tenantapi.CodeConflict)
	wantCode(t, ds.Remove(ctx, "nowhere"), tenantapi.CodeNotFound)
	if err := tenantapi.DeleteTenant(ctx, s.tenants, "acme", 0, time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if err := ds.Remove(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if list, _ := ds.List(ctx); len(list) != 1 {
		t.Errorf("after Remove: %+v", list)
	}
}

// TestStaleRouteIsCorrected: a reference that places the tenant in a
// database it does not live in (as a cached one does after a move) still
// serves: the statement meets no schema there, and the store runs it where
// the registry places the tenant now.
func TestStaleRouteIsCorrected(t *testing.T) {
	t.Parallel()
	s, _ := twoDatabases(t, Config{TenantRoles: true})
	ctx := t.Context()
	ref := s.createTenant(t, "acme")
	if ref.Database != MainDatabase {
		t.Fatalf("created in %s", ref.Database)
	}
	res := itemsAt(t, s.db, ref)
	c, err := s.rows.Create(ctx, ref, res, values(res, map[string]string{"name": "x"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	stale := ref
	stale.Database = "b"
	if got, err := s.rows.Get(ctx, stale, res, c.Row.ID); err != nil || got.ID != c.Row.ID {
		t.Fatalf("Get through a stale route = %+v, %v", got, err)
	}
	// The correction is remembered: the next statement on that route goes
	// straight to main (a read after a write sent on reads where it went).
	if got := s.db.sites.corrected(stale); got.Database != MainDatabase {
		t.Errorf("after one correction the route to b goes to %q", got.Database)
	}
	if rows, _, err := s.rows.List(ctx, stale, res, tenantapi.RowQuery{Limit: 10}); err != nil || len(rows) != 1 {
		t.Fatalf("List through a stale route = %d rows, %v", len(rows), err)
	}
	idem := &tenantapi.Idempotency{Key: "k1"}
	if _, err := s.rows.Create(ctx, stale, res, values(res, map[string]string{"name": "y"}), idem); err != nil {
		t.Fatalf("idempotent Create through a stale route: %v", err)
	}
	if err := s.rows.Delete(ctx, stale, res, c.Row.ID, tenantapi.Precondition{}); err != nil {
		t.Fatalf("Delete through a stale route: %v", err)
	}
	// A route to a database removed since works too.
	removed := ref
	removed.Database = "removed"
	if _, err := s.rows.Get(ctx, removed, res, c.Row.ID); !errors.Is(err, tenantapi.ErrItemNotFound) {
		t.Errorf("Get of the deleted row through a route to a removed database = %v, want item not found", err)
	}
	// A tenant that is nowhere is still not found.
	gone := stale
	gone.UID = -1
	_, err = s.rows.Get(ctx, gone, res, uuid.Must(uuid.NewV7()))
	wantErr(t, err, tenantapi.ErrTenantNotFound)
}

// TestRuntimeRoleInEveryDatabase: EnsureRuntimeRole and GrantTenantRoles
// reach every database, so the runtime role serves a tenant of b under
// the tenant's role there, and may not read b's other tenants.
func TestRuntimeRoleInEveryDatabase(t *testing.T) {
	t.Parallel()
	ownerURL := testdb.New(t)
	other := testdb.New(t)
	role := fmt.Sprintf("rt_%d", time.Now().UnixNano()%1_000_000_000)
	owner := open(t, Config{URL: ownerURL})
	m := NewMigrator(owner)
	if _, err := m.MigratePublic(t.Context()); err != nil {
		t.Fatal(err)
	}
	addDatabase(t, owner, "b", other)
	if err := m.EnsureRuntimeRole(t.Context(), role, "pw"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, conn := range []string{ownerURL, other} {
			db, err := Open(ctx, Config{URL: conn})
			if err == nil {
				db.owner.Exec(ctx, `DROP OWNED BY `+quoteIdent(role))
				db.Close()
			}
		}
		if server, err := Open(ctx, Config{URL: testdb.ServerURL(t)}); err == nil {
			server.owner.Exec(ctx, `DROP ROLE `+quoteIdent(role))
			server.Close()
		}
	})
	u, _ := url.Parse(ownerURL)
	u.User = url.UserPassword(role, "pw")
	db := open(t, Config{URL: ownerURL, RuntimeURL: u.String(), TenantRoles: true})
	s := storesOn(t, ownerURL, db)
	ctx := t.Context()
	a, err := s.tenants.CreateTenantIn(ctx, "acme", "Acme", "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.tenants.CreateTenantIn(ctx, "other", "Other", "b"); err != nil {
		t.Fatal(err)
	}
	ref := tenantRef(a)
	res := itemsAt(t, db, ref)
	if _, err := s.rows.Create(ctx, ref, res, values(res, map[string]string{"name": "x"}), nil); err != nil {
		t.Fatalf("Create in b as the runtime role: %v", err)
	}
	st, err := db.site(ctx, "b")
	if err != nil || st.runtimeRole != role {
		t.Fatalf("site b = %+v, %v", st, err)
	}
	_, err = db.tenantExec(ctx, ref, `SELECT count(*) FROM tenant_other.items`)
	if sqlState(err) != sqlInsufficientPrivilege {
		t.Errorf("acme reading other's items in b: %v, want SQLSTATE 42501", err)
	}
	if n, err := m.GrantTenantRoles(ctx); err != nil || n != 0 {
		t.Errorf("GrantTenantRoles after creation = %d, %v; want nothing to fix", n, err)
	}
}

// TestCreateInAnotherDatabaseAllOrNothing: when the control database
// fails to commit after the tenant's database did (here a deferred check
// that fails at commit), the schema made there is dropped again.
func TestCreateInAnotherDatabaseAllOrNothing(t *testing.T) {
	t.Parallel()
	s, other := twoDatabases(t, Config{})
	s.exec(t, `CREATE FUNCTION public.doom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.id = 'doomed' THEN RAISE EXCEPTION 'doomed at commit'; END IF; RETURN NEW; END $$`)
	s.exec(t, `CREATE CONSTRAINT TRIGGER doom AFTER INSERT ON public.tenants DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION public.doom()`)
	if _, err := s.tenants.CreateTenantIn(t.Context(), "doomed", "Doomed", "b"); err == nil {
		t.Fatal("the create succeeded")
	}
	if schemaIn(t, other, "doomed") {
		t.Error("the schema is left in b with no registry row")
	}
	if _, err := s.tenants.Tenant(t.Context(), "doomed"); !errors.Is(err, tenantapi.ErrTenantNotFound) {
		t.Errorf("Tenant = %v", err)
	}
}

// TestPoolStatsOfEveryDatabase: the pools of a database opened for a
// tenant are in the metrics' snapshot, named after it.
func TestPoolStatsOfEveryDatabase(t *testing.T) {
	t.Parallel()
	s, _ := twoDatabases(t, Config{})
	if _, err := s.tenants.CreateTenantIn(t.Context(), "acme", "Acme", "b"); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range s.db.PoolStats() {
		names = append(names, p.Pool)
	}
	if fmt.Sprint(names) != "[owner b/owner]" {
		t.Errorf("pools %v, want [owner b/owner]", names)
	}
}
