package main

import (
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLambdaOverDataAPI runs the real bootstrap under the Runtime
// Interface Emulator with DB_DRIVER=data-api and no DATABASE_URL: the
// Ops commands (migrate, which creates the runtime role, tenants, keys)
// by direct invocation, then API Gateway events for items and the
// examples/projects resources, served as the runtime role through the
// local Data API endpoint. It also measures the cold start of a tenant
// request with each driver on the same database.
func TestLambdaOverDataAPI(t *testing.T) {
	t.Parallel()
	bootstrap, emulator := buildLambda(t, t.TempDir())
	d := newDataAPIDeployment(t)
	d.sm.Put(adminSecretARN, testAdminToken)
	set, err := filepath.Abs("../../examples/projects")
	if err != nil {
		t.Fatal(err)
	}
	fnEnv := d.env()
	maps.Copy(fnEnv, d.awsEnv(t))
	maps.Copy(fnEnv, map[string]string{"ADMIN_TOKEN_SECRET_ARN": adminSecretARN, "TENANT_MIGRATIONS": set, "LOG_LEVEL": "info"})
	for _, k := range []string{"DATABASE_URL", "DATABASE_RUNTIME_URL"} {
		if _, ok := fnEnv[k]; ok {
			t.Fatalf("%s is set", k)
		}
	}

	ops := startRIE(t, bootstrap, emulator, fnEnv)
	if m := ops.command("migrate"); m["complete"] != true || m["runtime_role"] != d.runtimeRole || m["tenant_version"] != 2.0 {
		t.Fatalf("migrate: %v", m)
	}
	if m := ops.command("tenants", "create", "acme", "--name", "Acme"); m["id"] != "acme" {
		t.Fatalf("tenants create: %v", m)
	}
	key := ops.command("keys", "create", "acme")["key"].(string)

	fn := startRIE(t, bootstrap, emulator, fnEnv)
	acme := map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + key, "content-type": "application/json"}
	send := func(method, path string, query map[string][]string, body string, want int) gwResponse {
		t.Helper()
		r := fn.api(restEvent(method, path, acme, query, body, false))
		if r.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, r.StatusCode, r.Body)
		}
		return r
	}
	r := send("POST", "/items", nil, `{"name":"from lambda","attributes":{"k":[1,2]}}`, 201)
	id := r.json(t)["id"].(string)
	if loc := r.header("Location"); loc != "/prod/items/"+id {
		t.Errorf("Location %q", loc)
	}
	if r = send("GET", "/items/"+id, nil, "", 200); r.header("ETag") != `"1"` || r.json(t)["name"] != "from lambda" {
		t.Errorf("GET: %v %s", r.MultiValueHeaders, r.Body)
	}
	if r = send("GET", "/items", map[string][]string{"limit": {"10"}}, "", 200); len(r.json(t)["items"].([]any)) != 1 {
		t.Errorf("list: %s", r.Body)
	}
	project := send("POST", "/projects", nil, `{"code":"DATAAPI","title":"Without a VPC","budget":99.95,"tags":["aws"]}`, 201).json(t)
	if project["budget"] != 99.95 || project["archived"] != false {
		t.Errorf("project: %v", project)
	}
	task := send("POST", "/tasks", nil, `{"project_id":"`+project["id"].(string)+`","title":"Ship","status":"doing"}`, 201).json(t)
	r = send("GET", "/tasks", map[string][]string{"project_id": {project["id"].(string)}}, "", 200)
	if tasks, _ := r.json(t)["tasks"].([]any); len(tasks) != 1 || tasks[0].(map[string]any)["id"] != task["id"] {
		t.Errorf("GET /tasks?project_id: %s", r.Body)
	}
	r = fn.api(restEvent("PATCH", "/projects/"+project["id"].(string),
		map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + key, "content-type": "application/merge-patch+json", "if-match": `"1"`},
		nil, `{"archived":true}`, false))
	if r.StatusCode != 200 || r.json(t)["archived"] != true {
		t.Errorf("PATCH /projects: %d %s", r.StatusCode, r.Body)
	}
	send("DELETE", "/items/"+id, nil, "", 204)
	if out := fn.out.String() + ops.out.String(); strings.Contains(out, key) || strings.Contains(out, "runtime-password") {
		t.Error("the function's output shows a secret")
	}
	if n := d.api.Unsigned(); n != 0 {
		t.Errorf("%d unsigned Data API calls", n)
	}

	// Cold starts: a fresh execution environment's first tenant request
	// (process start, configuration, the key and tenant read, the list),
	// three each, with the Data API and with pgx connections on the same
	// database, as the same runtime role; the pgx function reads its
	// owner and runtime secrets from Secrets Manager, as deployed.
	u, err := url.Parse(d.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	const pgxOwnerSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantapi/pgx-owner-MnOpQr"
	d.sm.Put(pgxOwnerSecretARN, fmt.Sprintf(`{"username":%q,"password":%q}`, u.User.Username(), password))
	pgxEnv := maps.Clone(fnEnv)
	delete(pgxEnv, "DB_CLUSTER_ARN")
	maps.Copy(pgxEnv, map[string]string{"DB_DRIVER": "pgx", "DB_SECRET_ARN": pgxOwnerSecretARN,
		"DB_HOST": u.Hostname(), "DB_PORT": u.Port(), "DB_SSLMODE": "disable"})
	for _, driver := range []struct {
		name string
		env  map[string]string
	}{{"data-api", fnEnv}, {"pgx", pgxEnv}} {
		var (
			cold, warm []time.Duration
			fresh      *rie
		)
		for range 3 {
			fresh = startRIE(t, bootstrap, emulator, driver.env)
			start := time.Now()
			if r := fresh.api(restEvent("GET", "/items", acme, nil, "", false)); r.StatusCode != 200 {
				t.Fatalf("%s: cold request: %d %s", driver.name, r.StatusCode, r.Body)
			}
			cold = append(cold, time.Since(start))
		}
		for range 21 {
			start := time.Now()
			if r := fresh.api(restEvent("GET", "/items", acme, nil, "", false)); r.StatusCode != 200 {
				t.Fatalf("%s: warm request: %d %s", driver.name, r.StatusCode, r.Body)
			}
			warm = append(warm, time.Since(start))
		}
		slices.Sort(cold)
		slices.Sort(warm)
		t.Logf("%s: cold start (process start to the first answer of GET /items): median %v of %v; warm median %v",
			driver.name, cold[1].Round(time.Millisecond), roundAll(cold), warm[len(warm)/2].Round(time.Microsecond))
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
