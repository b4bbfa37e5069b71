package main

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/fakerdsdata"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

// A second Aurora cluster reached through the Data API: another cluster
// ARN on the same local endpoint, backed by the second PostgreSQL server,
// with a database of DB_NAME there as every cluster of a deployment has.
const (
	dataSecondClusterARN = "arn:aws:rds:eu-west-1:123456789012:cluster:tenantapi-b"
	dataSecondSecretARN  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantapi/b-owner-StUvWx"
)

// secondCluster adds dataSecondClusterARN to the endpoint: a database named
// as main's on the second server, its superuser as dataSecondSecretARN. It
// returns where the database is, as that superuser, once the endpoint
// starts. The runtime role that migrate and databases add make there is
// dropped when the test ends, after the database.
func secondCluster(t *testing.T) (change func(*dataAPIDeployment, *fakerdsdata.Options), dbURL func() string) {
	var second string
	change = func(d *dataAPIDeployment, o *fakerdsdata.Options) {
		server := testdb.SecondServerURL(t)
		su, err := url.Parse(server)
		if err != nil {
			t.Fatal(err)
		}
		role := pgx.Identifier{d.runtimeRole}.Sanitize()
		t.Cleanup(func() { execOn(t, server, "DROP ROLE IF EXISTS "+role) })
		db := pgx.Identifier{d.dbName}.Sanitize()
		execOn(t, server, "CREATE DATABASE "+db+" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
		t.Cleanup(func() { execOn(t, server, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
		su.Path = "/" + d.dbName
		second = su.String()
		password, _ := su.User.Password()
		o.Clusters = map[string]string{dataSecondClusterARN: second}
		o.Secrets[dataSecondSecretARN] = fakerdsdata.Credentials{Username: su.User.Username(), Password: password}
	}
	return change, func() string { return second }
}

// execOn runs sql on a connection of its own to dbURL.
func execOn(t *testing.T, dbURL, sql string) {
	t.Helper()
	queryOn[any](t, dbURL, sql)
}

// queryOn is the single value of sql (none for a statement that returns
// no row, with T any) on a connection of its own to dbURL.
func queryOn[T any](t *testing.T, dbURL, sql string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v T
	rows, err := c.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err == nil {
		if rows.Next() {
			err = rows.Scan(&v)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// TestDataAPIClusters adds a second cluster with databases add over the
// Data API, places a tenant there and serves it through the HTTP API,
// with both secrets and with the runtime role's alone; a move is refused.
func TestDataAPIClusters(t *testing.T) {
	change, secondURL := secondCluster(t)
	d := newDataAPIDeployment(t, change)
	second := secondURL()
	d.setProcessEnv(t)
	env := d.env()

	if m := cliJSON(t, env, "migrate", "--json"); m["complete"] != true {
		t.Fatalf("migrate: %v", m)
	}
	m := cliJSON(t, env, "databases", "add", "b", "--secret-arn", dataSecondSecretARN, "--cluster-arn", dataSecondClusterARN, "--json")
	if m["name"] != "b" || m["address"] != "rds-data-api://"+dataSecondClusterARN+"/"+d.dbName ||
		m["cluster_arn"] != dataSecondClusterARN || m["secret_arn"] != dataSecondSecretARN || m["wal_level"] == "" {
		t.Fatalf("databases add: %v", m)
	}
	code, _, errs := cli(t, env, "databases", "add", "c", "--secret-arn", dataSecondSecretARN, "--cluster-arn", dataSecondClusterARN)
	if code == 0 || !strings.Contains(errs, "database b is at that address already") {
		t.Errorf("the same cluster added twice: exit %d: %s", code, errs)
	}
	if !queryOn[bool](t, second, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+d.runtimeRole+`')`) {
		t.Fatal("databases add made no runtime role on the second cluster")
	}
	list := cliJSON(t, env, "databases", "list", "--json")
	dbs, _ := list["databases"].([]any)
	if len(dbs) != 2 {
		t.Fatalf("databases list: %v", list)
	}
	if b := dbs[1].(map[string]any); b["name"] != "b" || b["cluster_arn"] != dataSecondClusterARN || b["tenants"] != 0.0 {
		t.Errorf("databases list: b is %v", b)
	}
	if code, out, errs := cli(t, env, "databases", "list"); code != 0 || !strings.Contains(out, dataSecondClusterARN+" "+dataSecondSecretARN) {
		t.Errorf("databases list: exit %d: %s%s", code, out, errs)
	}
	if m := cliJSON(t, env, "migrate", "--json"); m["complete"] != true || m["runtime_role"] != d.runtimeRole {
		t.Fatalf("migrate with two clusters: %v", m)
	}

	if m := cliJSON(t, env, "tenants", "create", "acme", "--database", "b", "--json"); m["database"] != "b" {
		t.Fatalf("tenants create: %v", m)
	}
	key := cliJSON(t, env, "keys", "create", "acme", "--json")["key"].(string)
	if m := cliJSON(t, env, "databases", "list", "--json"); m["databases"].([]any)[1].(map[string]any)["tenants"] != 1.0 {
		t.Errorf("databases list after the tenant: %v", m)
	}

	// Served by b: by serve with both secrets, then by the Lambda
	// function of tenant requests, which has the runtime role's alone.
	base, _, stop := serveInProcess(t, withEnv(env, "PORT", "0", "HOST", "127.0.0.1"))
	x := call(http.DefaultClient, "create", "acme", key, "POST", base+"/items", `{"name":"served with both secrets"}`)
	if x.status != 201 {
		t.Fatalf("POST /items: %v", x)
	}
	first := x.itemID
	if x := call(http.DefaultClient, "read", "acme", key, "GET", base+"/items/"+first, ""); x.status != 200 {
		t.Errorf("GET /items/%s: %v", first, x)
	}
	if err := stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := queryOn[int](t, second, `SELECT count(*)::int FROM tenant_acme.items`); n != 1 {
		t.Fatalf("the second cluster holds %d items of acme, want 1", n)
	}

	// b's owner secret logs in no more while the function serves: it
	// reaches b as the runtime role, with its own secret.
	su, err := url.Parse(second)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := su.User.Password()
	d.api.PutSecret(dataSecondSecretARN, fakerdsdata.Credentials{Username: su.User.Username(), Password: "not-the-password"})
	bootstrap, emulator := buildLambda(t, t.TempDir())
	fnEnv := withEnv(env, "DB_SECRET_ARN", "")
	maps.Copy(fnEnv, d.awsEnv(t))
	fn := startRIE(t, bootstrap, emulator, fnEnv)
	h := map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + key, "content-type": "application/json"}
	if r := fn.api(restEvent("GET", "/items/"+first, h, nil, "", false)); r.StatusCode != 200 || r.json(t)["name"] != "served with both secrets" {
		t.Fatalf("runtime role alone: GET /items/%s: %d %s", first, r.StatusCode, r.Body)
	}
	if r := fn.api(restEvent("POST", "/items", h, nil, `{"name":"served by the runtime role alone"}`, false)); r.StatusCode != 201 {
		t.Fatalf("runtime role alone: POST /items: %d %s", r.StatusCode, r.Body)
	}
	if n := queryOn[int](t, second, `SELECT count(*)::int FROM tenant_acme.items`); n != 2 {
		t.Errorf("the second cluster holds %d items of acme, want 2", n)
	}
	d.api.PutSecret(dataSecondSecretARN, fakerdsdata.Credentials{Username: su.User.Username(), Password: password})
	if queryOn[bool](t, d.dbURL, `SELECT to_regnamespace('tenant_acme') IS NOT NULL`) {
		t.Error("acme has a schema in main too")
	}
	// The runtime role served there as itself.
	if got := queryOn[string](t, second, `SELECT string_agg(grantee::text, ',' ORDER BY grantee) FROM information_schema.role_table_grants
		WHERE table_schema = 'tenant_acme' AND table_name = 'items' AND privilege_type = 'INSERT' AND grantee = '`+d.runtimeRole+`'`); got != d.runtimeRole {
		t.Errorf("the runtime role's INSERT on acme's items in b: %q", got)
	}

	// Moves need the pgx driver; the refusal leaves no move behind.
	for _, to := range []string{"main", "b"} {
		code, _, errs := cli(t, env, "tenants", "move", "acme", "--to", to)
		if to == "b" {
			if code != 0 {
				t.Errorf("a move to where the tenant lives: exit %d: %s", code, errs)
			}
			continue
		}
		if code == 0 || !strings.Contains(errs, "tenant moves need the pgx driver (DB_DRIVER=pgx)") {
			t.Errorf("tenants move --to %s: exit %d: %s", to, code, errs)
		}
	}
	if n := queryOn[int](t, d.dbURL, `SELECT count(*)::int FROM public.tenant_moves`); n != 0 {
		t.Errorf("a refused move left %d rows in tenant_moves", n)
	}
	if m := cliJSON(t, env, "tenants", "show", "acme", "--json"); m["database"] != "b" {
		t.Errorf("after the refused move: %v", m)
	}
	code, _, errs = cli(t, env, "tenants", "move", "acme", "--abort")
	if code == 0 || !strings.Contains(errs, "tenant moves need the pgx driver") {
		t.Errorf("aborting after the refused move: exit %d: %s", code, errs)
	}
	if n := d.api.Unsigned(); n != 0 {
		t.Errorf("%d unsigned Data API calls", n)
	}
}
