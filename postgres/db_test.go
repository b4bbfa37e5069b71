package postgres

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

func TestOpenRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"bad url":       {URL: "postgres://u:topsecret@[::1"},
		"bad runtime":   {URL: "postgres://localhost/x", RuntimeURL: "postgres://u:topsecret@[::1"},
		"bad exec mode": {URL: "postgres://localhost/x", ExecMode: "simple"},
		"no url":        {},
	} {
		t.Run(name, func(t *testing.T) {
			db, err := Open(t.Context(), cfg)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			wantCode(t, err, tenantapi.CodeInternal)
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: take one and free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	db := open(t, Config{URL: "postgres://nobody@" + addr + "/x?connect_timeout=2"})
	s := &stores{db: db, items: NewItemStore(db), tenants: NewTenantStore(db, nil)}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	wantCode(t, db.Ping(ctx), tenantapi.CodeUnavailable)
	wantCode(t, db.Ready(ctx), tenantapi.CodeUnavailable)
	_, err = s.items.Item(ctx, tenantapi.TenantRef{ID: "acme", UID: 1}, [16]byte{})
	wantCode(t, err, tenantapi.CodeUnavailable)
	_, _, err = s.tenants.TenantStatus(ctx, "acme")
	wantCode(t, err, tenantapi.CodeUnavailable)
}

// Connections run with an empty search_path, so SQL that forgot its schema
// fails instead of reading public.
func TestEmptySearchPath(t *testing.T) {
	t.Parallel()
	s := setup(t)
	var path string
	if err := s.db.runtime.QueryRow(t.Context(), `SHOW search_path`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	if path != `""` && path != "" {
		t.Errorf("search_path = %s, want empty", path)
	}
	_, err := s.db.runtime.Exec(t.Context(), `SELECT count(*) FROM tenants`)
	if !isUndefinedTable(err) {
		t.Errorf("unqualified table: %v, want undefined_table", err)
	}
}

func TestReady(t *testing.T) {
	t.Parallel()
	s := setup(t)
	if err := s.db.Ready(t.Context()); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	// A newer binary migrated public: this one is no longer ready.
	s.exec(t, `INSERT INTO public.schema_migrations (version, name) VALUES (9999, 'future')`)
	wantCode(t, s.db.Ready(t.Context()), tenantapi.CodeUnavailable)
}

// A least-privilege runtime role serves tenant requests once granted what
// the deployment grants it; the owner keeps DDL.
func TestRuntimeRole(t *testing.T) {
	t.Parallel()
	owner := testdb.New(t)
	role := "rt_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_") + time.Now().Format("150405.000000")
	role = strings.NewReplacer(".", "_").Replace(role)
	server := open(t, Config{URL: testdb.ServerURL(t)})
	if _, err := server.owner.Exec(t.Context(), `CREATE ROLE `+quoteIdent(role)+` LOGIN PASSWORD 'pw'`); err != nil {
		t.Skipf("cannot create a role on this server: %v", err)
	}
	ownerDB := open(t, Config{URL: owner})
	t.Cleanup(func() {
		ctx := context.Background()
		ownerDB.owner.Exec(ctx, `DROP OWNED BY `+quoteIdent(role))
		server.owner.Exec(ctx, `DROP ROLE `+quoteIdent(role))
	})
	if _, err := NewMigrator(ownerDB).MigratePublic(t.Context()); err != nil {
		t.Fatal(err)
	}
	// What a deployment grants the runtime role, once per database.
	for _, stmt := range []string{
		`GRANT USAGE ON SCHEMA public TO ` + quoteIdent(role),
		`GRANT SELECT ON public.tenants, public.api_keys TO ` + quoteIdent(role),
		`ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO ` + quoteIdent(role),
		`ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ` + quoteIdent(role),
	} {
		if _, err := ownerDB.owner.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	ownerDB.Close()

	u, _ := url.Parse(owner)
	u.User = url.UserPassword(role, "pw")
	db := open(t, Config{URL: owner, RuntimeURL: u.String()})
	tenants, keys, items := NewTenantStore(db, nil), NewKeyStore(db), NewItemStore(db)

	tn, err := tenants.CreateTenant(t.Context(), "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	ref := tenantapi.TenantRef{ID: tn.ID, UID: tn.UID}
	_, secret, err := keys.CreateKey(t.Context(), "acme", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Authenticate(t.Context(), tenantapi.HashAPIKey(secret)); err != nil {
		t.Errorf("Authenticate as runtime: %v", err)
	}
	if _, _, err := tenants.TenantStatus(t.Context(), "acme"); err != nil {
		t.Errorf("TenantStatus as runtime: %v", err)
	}
	if _, err := items.CreateItem(t.Context(), ref, input("x", `{}`), idemKey("k", "x"), renderItem); err != nil {
		t.Errorf("CreateItem as runtime: %v", err)
	}
	if _, err := db.runtime.Exec(t.Context(), `DROP TABLE "tenant_acme".items`); err == nil {
		t.Error("the runtime role may drop tenant tables")
	}
	if err := db.Ready(t.Context()); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
