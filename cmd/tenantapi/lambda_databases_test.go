package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// TestLambdaDatabasesAndMove runs OpsFunction's direct invocations under
// AWS's Runtime Interface Emulator against a second server added by its
// Secrets Manager secret, as a second Aurora cluster is: databases add and
// list, a tenant moved there, and the same function serving it there.
// The control database's owner has what an Aurora master user has for a
// move's source (CREATEROLE, REPLICATION); the second server's owner is a
// superuser, as the master user is for a subscription.
func TestLambdaDatabasesAndMove(t *testing.T) {
	t.Parallel()
	bootstrap, emulator := buildLambda(t, t.TempDir())
	owner := newRotatableOwner(t, "lambda_owner")
	if _, err := owner.admin.Exec(context.Background(), `ALTER ROLE `+owner.role+` REPLICATION`); err != nil {
		t.Fatal(err)
	}
	second, err := url.Parse(testdb.NewOnSecondServer(t))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(second.Host)
	password, _ := second.User.Password()
	const secondSecret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantapi/second-QwErTy"
	owner.sm.Put(secondSecret, fmt.Sprintf(`{"username":%q,"password":%q,"host":%q,"port":%s,"dbname":%q}`,
		second.User.Username(), password, host, port, strings.TrimPrefix(second.Path, "/")))
	owner.sm.Put(adminSecretARN, testAdminToken)
	env := owner.env()
	maps.Copy(env, map[string]string{"ADMIN_TOKEN_SECRET_ARN": adminSecretARN})
	fn := startRIE(t, bootstrap, emulator, env)

	fn.command("migrate")
	if m := fn.command("databases", "add", "b", "--secret-arn", secondSecret); m["name"] != "b" || m["address"] != "postgres://"+second.Host+second.Path {
		t.Fatalf("databases add: %v", m)
	}
	list := fn.command("databases", "list")
	if dbs, _ := list["databases"].([]any); len(dbs) != 2 || strings.Contains(fmt.Sprint(list), password) {
		t.Fatalf("databases list: %v", list)
	}
	fn.command("tenants", "create", "acme")
	key := fn.command("keys", "create", "acme")["key"].(string)
	h := map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + key, "content-type": "application/json"}
	r := fn.api(restEvent("POST", "/items", h, nil, `{"name":"before the move"}`, false))
	if r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, r.Body)
	}
	id := r.json(t)["id"].(string)
	if m := fn.command("tenants", "move", "acme", "--to", "b"); m["moved"] != true || m["rows"] == 0.0 {
		t.Fatalf("move: %v", m)
	}
	if m := fn.command("tenants", "show", "acme"); m["database"] != "b" {
		t.Fatalf("after the move: %v", m)
	}
	r = fn.api(restEvent("GET", "/items/"+id, h, nil, "", false))
	if r.StatusCode != 200 || r.json(t)["name"] != "before the move" {
		t.Fatalf("get after the move: %d %s", r.StatusCode, r.Body)
	}
	r = fn.api(restEvent("POST", "/items", h, nil, `{"name":"after the move"}`, false))
	if r.StatusCode != 201 {
		t.Fatalf("create after the move: %d %s", r.StatusCode, r.Body)
	}
	c, err := pgx.Connect(context.Background(), second.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM tenant_acme.items`).Scan(&n); err != nil || n != 2 {
		t.Errorf("the second server holds %d items of acme (%v), want 2", n, err)
	}
}
