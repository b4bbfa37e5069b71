package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

func TestMigrateStatusCLI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.New(t)
	env := map[string]string{"DATABASE_URL": url}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errs)
	}
	for _, id := range []string{"alpha", "beta", "broken"} {
		if code, _, errs := cli(t, env, "tenants", "create", id); code != 0 {
			t.Fatalf("create %s: exit %d: %s", id, code, errs)
		}
	}

	// A newer migration that fails for one tenant, applied by a "newer
	// binary" to alpha and broken only; the table broken already has
	// makes its migration fail.
	db, err := postgres.Open(ctx, postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base := postgres.NewMigrator(db)
	latest := base.LatestTenantVersion()
	newer := base.WithTenantMigrations(postgres.Migration{Version: latest + 1, Name: "extra", SQL: `CREATE TABLE extra (id int)`})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE "tenant_broken".extra (id int)`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alpha", "broken"} {
		if _, err := newer.MigrateTenants(ctx, postgres.MigrateOptions{Tenant: tenantapi.TenantID(id)}); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errs := cli(t, env, "migrate", "status", "--json")
	if code != 0 {
		t.Fatalf("migrate status --json: exit %d: %s", code, errs)
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("not one JSON document: %q", out)
	}
	var st struct {
		PublicVersion int `json:"public_version"`
		Latest        int `json:"latest_version"`
		Total         int `json:"tenants_total"`
		Versions      []struct{ Version, Tenants int }
		Behind        []struct {
			Tenant  string
			Version int
		}
		Failed []struct {
			Tenant  string
			Version int
			Error   string
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Latest != latest || st.Total != 3 || st.PublicVersion < 1 || len(st.Versions) != 2 ||
		st.Versions[0].Version != latest || st.Versions[0].Tenants != 2 ||
		st.Versions[1].Version != latest+1 || st.Versions[1].Tenants != 1 {
		t.Errorf("status = %s", out)
	}
	if len(st.Behind) != 0 || len(st.Failed) != 1 || st.Failed[0].Tenant != "broken" || !strings.Contains(st.Failed[0].Error, "extra") {
		t.Errorf("behind/failed = %s", out)
	}

	code, out, _ = cli(t, env, "migrate", "status")
	for _, want := range []string{"3 tenants", "ahead", "failed (1):", "broken at version"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate status lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	if code, _, _ := cli(t, env, "migrate", "status", "extra"); code != 2 {
		t.Errorf("migrate status with an argument: exit %d, want 2", code)
	}
}
