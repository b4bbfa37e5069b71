package postgres

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

// runtimeSetup migrates a fresh database, has migrate create the runtime
// role, and opens the database as a service would: owner plus runtime role,
// with tenant roles on or off.
func runtimeSetup(t *testing.T, tenantRoles bool) (*DB, string) {
	return runtimeSetupB(t, tenantRoles)
}

func runtimeSetupB(t testing.TB, tenantRoles bool) (*DB, string) {
	return runtimeSetupWith(t, Config{TenantRoles: tenantRoles})
}

// runtimeSetupWith is runtimeSetup with the pool settings of cfg (its URLs
// are filled in).
func runtimeSetupWith(t testing.TB, cfg Config) (*DB, string) {
	t.Helper()
	owner := testdb.New(t)
	role := fmt.Sprintf("rt_%d", time.Now().UnixNano()%1_000_000_000)
	ownerDB := open(t, Config{URL: owner})
	m := NewMigrator(ownerDB)
	if _, err := m.MigratePublic(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureRuntimeRole(t.Context(), role, "first"); err != nil {
		t.Fatal(err)
	}
	// Running it again updates the password instead of failing.
	if err := m.EnsureRuntimeRole(t.Context(), role, "pw"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		server := open(t, Config{URL: testdb.ServerURL(t)})
		ctx := context.Background()
		ownerDB.owner.Exec(ctx, `DROP OWNED BY `+quoteIdent(role))
		server.owner.Exec(ctx, `DROP ROLE `+quoteIdent(role))
	})
	u, _ := url.Parse(owner)
	u.User = url.UserPassword(role, "pw")
	cfg.URL, cfg.RuntimeURL = owner, u.String()
	return open(t, cfg), role
}

func TestRuntimeRole(t *testing.T) {
	t.Parallel()
	for _, tenantRoles := range []bool{false, true} {
		t.Run(fmt.Sprintf("tenant roles %v", tenantRoles), func(t *testing.T) {
			t.Parallel()
			db, _ := runtimeSetup(t, tenantRoles)
			tenants, keys, rows := NewTenantStore(db, nil), NewKeyStore(db), NewRowStore(db)
			tn, err := tenants.CreateTenant(t.Context(), "acme", "Acme")
			if err != nil {
				t.Fatal(err)
			}
			ref := tenantRef(tn)
			res := itemsAt(t, db, ref)
			_, secret, err := keys.CreateKey(t.Context(), "acme", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keys.Authenticate(t.Context(), tenantapi.HashAPIKey(secret)); err != nil {
				t.Errorf("Authenticate as runtime: %v", err)
			}
			c, err := rows.Create(t.Context(), ref, res, item(res, "x", `{}`), idemKey("k", "x"))
			if err != nil {
				t.Fatalf("Create as runtime: %v", err)
			}
			if r, err := rows.Create(t.Context(), ref, res, item(res, "x", `{}`), idemKey("k", "x")); err != nil || !r.Replayed {
				t.Errorf("replay as runtime: %+v, %v", r, err)
			}
			if _, err := rows.Get(t.Context(), ref, res, c.Row.ID); err != nil {
				t.Errorf("Get: %v", err)
			}
			if got, _, err := rows.List(t.Context(), ref, res, tenantapi.RowQuery{Limit: 10}); err != nil || len(got) != 1 {
				t.Errorf("List: %v %v", got, err)
			}
			if err := rows.Check(t.Context(), ref, res, c.Row.ID, tenantapi.Precondition{}); err != nil {
				t.Errorf("Check: %v", err)
			}
			if _, err := rows.Replace(t.Context(), ref, res, c.Row.ID, item(res, "y", `{}`), tenantapi.Precondition{}); err != nil {
				t.Errorf("Replace: %v", err)
			}
			if _, err := rows.Patch(t.Context(), ref, res, c.Row.ID, tenantapi.Precondition{}, true, func(*tenantapi.Row) ([]tenantapi.Value, error) {
				return item(res, "z", `{}`), nil
			}); err != nil {
				t.Errorf("Patch: %v", err)
			}
			if err := rows.Delete(t.Context(), ref, res, c.Row.ID, tenantapi.Precondition{}); err != nil {
				t.Errorf("Delete: %v", err)
			}
			for _, ddl := range []string{`DROP TABLE "tenant_acme".items`, `CREATE SCHEMA tenant_evil`, `DELETE FROM public.tenants`} {
				if _, err := db.runtime.Exec(t.Context(), ddl); err == nil {
					t.Errorf("the runtime role may run %s", ddl)
				}
			}
			if err := db.Ready(t.Context()); err != nil {
				t.Errorf("Ready: %v", err)
			}
			// The tenant's role goes with the tenant.
			if _, err := tenants.MarkTenantDeleting(t.Context(), "acme"); err != nil {
				t.Fatal(err)
			}
			if err := tenants.DropTenant(t.Context(), "acme", time.Second); err != nil {
				t.Fatal(err)
			}
			role := db.main.tenantRole("acme")
			var n int
			db.owner.QueryRow(t.Context(), `SELECT count(*) FROM pg_roles WHERE rolname = $1`, role).Scan(&n)
			if n != 0 {
				t.Error("the tenant role outlived the tenant")
			}
		})
	}
}

// TestTenantRolesRefuseOtherSchemas proves the point of tenant roles: a
// statement run for tenant a that names tenant b's schema fails in
// PostgreSQL, and succeeds (leaks) only when tenant roles are off.
func TestTenantRolesRefuseOtherSchemas(t *testing.T) {
	t.Parallel()
	for _, tenantRoles := range []bool{false, true} {
		t.Run(fmt.Sprintf("tenant roles %v", tenantRoles), func(t *testing.T) {
			t.Parallel()
			db, _ := runtimeSetup(t, tenantRoles)
			tenants, rows := NewTenantStore(db, nil), NewRowStore(db)
			a, err := tenants.CreateTenant(t.Context(), "a", "A")
			if err != nil {
				t.Fatal(err)
			}
			b, err := tenants.CreateTenant(t.Context(), "b", "B")
			if err != nil {
				t.Fatal(err)
			}
			refB := tenantRef(b)
			res := itemsAt(t, db, refB)
			if _, err := rows.Create(t.Context(), refB, res, item(res, "b's secret", `{}`), nil); err != nil {
				t.Fatal(err)
			}
			refA := tenantapi.TenantRef{ID: a.ID, UID: a.UID}
			// A query for tenant a that wrongly names tenant b's schema.
			var name string
			err = db.tenantRow(t.Context(), refA, `SELECT name FROM "tenant_b".items LIMIT 1`).Scan(&name)
			if tenantRoles {
				if err == nil || sqlState(err) != "42501" {
					t.Fatalf("tenant a read tenant b's schema: %q, %v", name, err)
				}
			} else if err != nil || name != "b's secret" {
				t.Fatalf("without tenant roles the runtime role reads every schema: %q %v", name, err)
			}
			// Writes are refused the same way, and public stays out of reach.
			for _, sql := range []string{`DELETE FROM "tenant_b".items`, `SELECT count(*) FROM public.api_keys`} {
				_, err := db.tenantExec(t.Context(), refA, sql)
				if tenantRoles && (err == nil || !strings.Contains(err.Error(), "permission denied")) {
					t.Errorf("%s as tenant a: %v", sql, err)
				}
			}
			// After the batch, the connection is the runtime role again.
			var who string
			if err := db.runtime.QueryRow(t.Context(), `SELECT current_user::text`).Scan(&who); err != nil || strings.HasPrefix(who, "t") && strings.HasSuffix(who, "_a") {
				t.Errorf("role leaked past the statement: %q %v", who, err)
			}
		})
	}
}
