package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// TestMigrateCreatesTheRuntimeRole: the first migrate of a deployment
// with a runtime role creates the role before anything reads through it
// (the summary reads the schema record as the runtime role).
func TestMigrateCreatesTheRuntimeRole(t *testing.T) {
	t.Parallel()
	role := newRoleName(t, "migrate_runtime")
	dbURL := testdb.New(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "runtime-password-0123456789")
	env := map[string]string{"DATABASE_URL": dbURL, "DATABASE_RUNTIME_URL": u.String()}
	m := cliJSON(t, env, "migrate", "--json")
	if m["complete"] != true || m["runtime_role"] != role || len(m["public_applied"].([]any)) == 0 {
		t.Errorf("first migrate: %v", m)
	}
	if m = cliJSON(t, env, "migrate", "--json"); m["complete"] != true || len(m["public_applied"].([]any)) != 0 {
		t.Errorf("second migrate: %v", m)
	}
	if m = cliJSON(t, env, "tenants", "create", "acme", "--json"); m["id"] != "acme" {
		t.Errorf("tenants create: %v", m)
	}
}

// newRoleName returns a role name of its own for the test, and drops
// the role when the test ends. Call it before testdb.New, so that the
// drop runs after the database's.
func newRoleName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	server := testdb.ServerURL(t)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server)
		if err == nil {
			c.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
			c.Close(context.Background())
		}
	})
	return name
}
