package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// The database ceiling sends statements the database runs, with tenant
// roles off and on (each role switch, in each exec mode): its POST stores the item the HTTP target's POST
// creates, and its GET and list read items tenantapi wrote.
func TestDBTarget(t *testing.T) {
	ctx := t.Context()
	url := testdb.New(t)
	db, err := postgres.Open(ctx, postgres.Config{URL: url, TenantRoles: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	mig := postgres.NewMigrator(db)
	if _, err := mig.MigratePublic(ctx); err != nil {
		t.Fatal(err)
	}
	tn, err := postgres.NewTenantStore(db, mig).CreateTenant(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	ref := tenantapi.TenantRef{ID: tn.ID, UID: tn.UID, Version: tn.SchemaVersion}
	sc, err := postgres.NewSchemaStore(db).Schema(ctx, ref.Version)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := sc.Resource("items")
	rows := postgres.NewRowStore(db)
	vals := []tenantapi.Value{{Field: 0, Text: "seed"}, {Field: 1, Default: true}, {Field: 2, Default: true}}
	seed, err := rows.Create(ctx, ref, res, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewTenantStore(db, mig).CreateTenant(ctx, "beta", "Beta"); err != nil {
		t.Fatal(err)
	}
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(cc.Database))
	tenants := []benchkit.Tenant{{ID: "acme", Items: []string{seed.Row.ID.String()}}, {ID: "beta"}}
	tenant := &tenants[0]

	type variant struct {
		roles            bool
		roleSwitch, mode string
	}
	variants := []variant{{false, switchSetConfig, "exec"}, {false, switchSetConfig, "simple_protocol"}}
	for _, sw := range []string{switchSetConfig, switchRoleOnly, switchSetLocal} {
		for _, mode := range []string{"exec", "cache_statement", "simple_protocol"} {
			variants = append(variants, variant{true, sw, mode})
		}
	}
	for n, v := range variants {
		t.Run(fmt.Sprintf("tenant roles %v, %s, %s", v.roles, v.roleSwitch, v.mode), func(t *testing.T) {
			d, err := newDBTarget(ctx, options{db: url, execMode: v.mode, conns: 1, tenantRoles: v.roles, roleSwitch: v.roleSwitch},
				"t"+hex.EncodeToString(sum[:4])+"_", tenants)
			if err != nil {
				t.Fatal(err)
			}
			defer d.close()
			if v.roles {
				// The role switch takes effect: another tenant's role
				// cannot read acme's items.
				if seen, err := d.checkRoles(ctx, tenants); err != nil {
					t.Error(err)
				} else {
					t.Log(seen)
				}
			}
			if err := d.post(ctx, tenant, uint64(n+7)); err != nil {
				t.Fatal(err)
			}
			if err := d.get(ctx, tenant, seed.Row.ID.String()); err != nil {
				t.Error(err)
			}
			if err := d.list(ctx, tenant); err != nil {
				t.Error(err)
			}
			if d.roundTrips() < 3 {
				t.Errorf("%d round trips for three calls", d.roundTrips())
			}
		})
	}
	page, _, err := rows.List(ctx, ref, res, tenantapi.RowQuery{})
	if err != nil || len(page) != 1+len(variants) {
		t.Fatalf("List = %d rows, %v; want the seed and %d posts", len(page), err, len(variants))
	}
	for i, row := range page[1:] {
		var got struct {
			Name, Description string
			Attributes        map[string]any
			Version           int64
		}
		if err := json.Unmarshal(row.JSON, &got); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("bench item %d", i+7)
		if got.Name != want || got.Description != "made by the load generator" || got.Version != 1 ||
			fmt.Sprint(got.Attributes) != fmt.Sprintf("map[n:%d tags:[a b]]", i+7) {
			t.Errorf("posted item %s, want the HTTP target's body (name %q)", row.JSON, want)
		}
	}
}
