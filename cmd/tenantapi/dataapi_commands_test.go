package main

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/fakerdsdata"
	"github.com/tenantapi/tenantapi/internal/fakesecrets"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

// The commands with DB_DRIVER=data-api, as a user runs them: the real
// configuration path (openDataAPI, the SDK's default configuration,
// AWS_ENDPOINT_URL_RDS_DATA). The SDK reads the process environment, not
// the one cli passes, so these tests set it and cannot run in parallel.

const (
	dataOwnerSecretARN   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantapi/data-owner-AbCdEf"
	dataRuntimeSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantapi/data-runtime-GhIjKl"
)

// dataAPIDeployment is a database reached through a local Data API
// endpoint as the owner and a runtime role, whose secret is in a local
// Secrets Manager for migrate to create the role.
type dataAPIDeployment struct {
	dbURL, dbName string
	api           *fakerdsdata.Server
	sm            *fakesecrets.Server
	runtimeRole   string
}

// newDataAPIDeployment makes the database, the runtime role's name and
// password (the role itself is migrate's to create) and both endpoints;
// change, when given, adjusts the Data API endpoint's options first.
func newDataAPIDeployment(t *testing.T, change ...func(*dataAPIDeployment, *fakerdsdata.Options)) *dataAPIDeployment {
	t.Helper()
	d := &dataAPIDeployment{runtimeRole: newRoleName(t, "dataapi_runtime")}
	d.dbURL = testdb.New(t)
	u, err := url.Parse(d.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	d.dbName = strings.TrimPrefix(u.Path, "/")
	ownerPassword, _ := u.User.Password()
	const runtimePassword = "runtime-password-0123456789"
	d.sm = fakesecrets.Start()
	t.Cleanup(d.sm.Close)
	d.sm.Put(dataRuntimeSecretARN, `{"username":"`+d.runtimeRole+`","password":"`+runtimePassword+`"}`)
	opts := fakerdsdata.Options{
		DatabaseURL: d.dbURL,
		Secrets: map[string]fakerdsdata.Credentials{
			dataOwnerSecretARN:   {Username: u.User.Username(), Password: ownerPassword},
			dataRuntimeSecretARN: {Username: d.runtimeRole, Password: runtimePassword},
		},
	}
	for _, fn := range change {
		fn(d, &opts)
	}
	d.api, err = fakerdsdata.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.api.Close)
	return d
}

// env is the function's or command's configuration: the Data API and no
// DATABASE_URL.
func (d *dataAPIDeployment) env() map[string]string {
	return map[string]string{
		"DB_DRIVER": "data-api", "DB_CLUSTER_ARN": d.api.ClusterARN(), "DB_NAME": d.dbName,
		"DB_SECRET_ARN": dataOwnerSecretARN, "DB_RUNTIME_SECRET_ARN": dataRuntimeSecretARN,
	}
}

// awsEnv is what the AWS SDK reads: both endpoints, a region and static
// credentials, and no shared configuration or instance metadata.
func (d *dataAPIDeployment) awsEnv(t *testing.T) map[string]string {
	none := filepath.Join(t.TempDir(), "none")
	return map[string]string{
		"AWS_ENDPOINT_URL_RDS_DATA": d.api.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": d.sm.URL,
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
	}
}

// setProcessEnv sets the SDK's variables in this process for the test.
func (d *dataAPIDeployment) setProcessEnv(t *testing.T) {
	for k, v := range d.awsEnv(t) {
		t.Setenv(k, v)
	}
}

// TestDataAPICommands runs migrate, tenants, keys and resources over the
// Data API, with a runtime role and the examples/projects set.
func TestDataAPICommands(t *testing.T) {
	d := newDataAPIDeployment(t)
	d.setProcessEnv(t)
	env := d.env()
	env["TENANT_MIGRATIONS"] = "../../examples/projects"

	m := cliJSON(t, env, "migrate", "--json")
	if m["complete"] != true || m["runtime_role"] != d.runtimeRole || m["tenant_version"] != 2.0 {
		t.Errorf("migrate: %v", m)
	}
	if m = cliJSON(t, env, "tenants", "create", "acme", "--name", "Acme", "--json"); m["id"] != "acme" || m["status"] != "active" || m["schema_version"] != 2.0 {
		t.Errorf("tenants create: %v", m)
	}
	if code, _, errs := cli(t, env, "tenants", "create", "acme"); code != 1 || !strings.Contains(errs, "exists") {
		t.Errorf("tenants create of an existing id: exit %d: %s", code, errs)
	}
	if m = cliJSON(t, env, "tenants", "list", "--json"); len(m["tenants"].([]any)) != 1 {
		t.Errorf("tenants list: %v", m)
	}
	k := cliJSON(t, env, "keys", "create", "acme", "--name", "ops", "--json")
	key, _ := k["key"].(string)
	if !strings.HasPrefix(key, "tak_") || k["tenant_id"] != "acme" {
		t.Errorf("keys create: %v", k)
	}
	if m = cliJSON(t, env, "keys", "list", "acme", "--json"); len(m["api_keys"].([]any)) != 1 {
		t.Errorf("keys list: %v", m)
	}
	m = cliJSON(t, env, "resources", "--json")
	var names []string
	for _, r := range m["resources"].([]any) {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	if m["version"] != 2.0 || strings.Join(names, ",") != "items,projects,tasks" {
		t.Errorf("resources: version %v, resources %v", m["version"], names)
	}

	// The runtime role serves a project, which usage then counts.
	base, _, stop := serveInProcess(t, withEnv(env, "PORT", "0", "HOST", "127.0.0.1"))
	if x := call(http.DefaultClient, "create", "acme", key, "POST", base+"/projects", `{"code":"DATA","title":"Over the Data API","budget":10.25}`); x.status != 201 {
		t.Fatalf("POST /projects: %v", x)
	}
	if err := stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	m = cliJSON(t, env, "tenants", "usage", "acme", "--json")
	if rows, _ := m["rows"].(map[string]any); rows["projects"] != 1.0 {
		t.Errorf("tenants usage: %v", m)
	}
	if m = cliJSON(t, env, "migrate", "--json"); m["complete"] != true || m["tenants_up_to_date"] != 1.0 {
		t.Errorf("second migrate: %v", m)
	}
	if n := d.api.Unsigned(); n != 0 {
		t.Errorf("%d unsigned Data API calls", n)
	}
}

// TestDataAPIOpensNoConnection: in Data API mode the product opens no
// PostgreSQL connection of its own. After a migrate, a tenant made
// through the admin API and a run of requests, every session on the
// database is one of the endpoint's.
func TestDataAPIOpensNoConnection(t *testing.T) {
	d := newDataAPIDeployment(t)
	d.setProcessEnv(t)
	env := d.env()
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	base, _, stop := serveInProcess(t, withEnv(env, "PORT", "0", "HOST", "127.0.0.1", "ADMIN_TOKEN", testAdminToken))
	if x := call(http.DefaultClient, "tenant", "", testAdminToken, "POST", base+"/admin/tenants", `{"id":"acme","name":"Acme"}`); x.status != 201 {
		t.Fatalf("create tenant: %v", x)
	}
	key := cliJSON(t, env, "keys", "create", "acme", "--json")["key"].(string)
	for i := range 20 {
		x := call(http.DefaultClient, "create", "acme", key, "POST", base+"/items", `{"name":"item"}`)
		if x.status != 201 {
			t.Fatalf("POST %d: %v", i, x)
		}
		if x := call(http.DefaultClient, "read", "acme", key, "GET", base+"/items/"+x.itemID, ""); x.status != 200 {
			t.Fatalf("GET: %v", x)
		}
	}

	// Looked at while the server still runs: a connection of its own
	// would be open now.
	const observer = "dataapi-test-observer"
	cfg, err := pgx.ParseConfig(testdb.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = observer
	ctx := context.Background()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT application_name, usename::text, count(*) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2`, d.dbName)
	if err != nil {
		t.Fatal(err)
	}
	theirs := 0
	for rows.Next() {
		var app, user string
		var n int
		if err := rows.Scan(&app, &user, &n); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d sessions of %q as %s", n, app, user)
		if app == fakerdsdata.ApplicationName {
			theirs += n
		} else {
			t.Errorf("%d sessions on the database with application_name %q (user %s): not the Data API's", n, app, user)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if theirs == 0 {
		t.Error("no session of the endpoint either: the query sees nothing")
	}
	if err := stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// withEnv returns a copy of env with the variables kv (name, value, …).
func withEnv(env map[string]string, kv ...string) map[string]string {
	out := maps.Clone(env)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
