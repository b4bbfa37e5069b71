package postgres

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
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
	s := &stores{db: db, rows: NewRowStore(db), tenants: NewTenantStore(db, nil)}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	wantCode(t, db.Ping(ctx), tenantapi.CodeUnavailable)
	wantCode(t, db.Ready(ctx), tenantapi.CodeUnavailable)
	_, err = NewSchemaStore(db).Schema(ctx, 1)
	wantCode(t, err, tenantapi.CodeUnavailable)
	// The schemas cannot be read either: the resource is the one a
	// process read before the database went away.
	items := &tenantapi.Resource{Name: "items", Versioned: true}
	_, err = s.rows.Get(ctx, tenantapi.TenantRef{ID: "acme", UID: 1, Version: 1}, items, [16]byte{})
	wantCode(t, err, tenantapi.CodeUnavailable)
	_, _, _, err = s.tenants.TenantStatus(ctx, "acme")
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
func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
