package main

import (
	"context"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/postgres"
)

// The resource scenarios' databases: tenants whose application set is
// examples/projects (items, projects, tasks), at --tenants-large and at
// --tenants-small tenants (the start-up at few tenants needs a database
// that holds only those).
const (
	resourceDatabase      = "resources"
	resourceSmallDatabase = "resources_small"
	exampleSet            = "examples/projects"
)

// provisionResources creates the two databases of the example set, runs
// `tenantapi migrate --migrations examples/projects` on each (which records
// the set's shapes in public.application_schemas) and provisions their
// tenants with the set, each with as many projects as items.
func (h *harness) provisionResources(ctx context.Context) error {
	dir, err := filepath.Abs(exampleSet)
	if err != nil {
		return err
	}
	set, err := postgres.LoadMigrations(dir)
	if err != nil {
		return err
	}
	h.setDir = dir
	conn, err := pgx.Connect(ctx, h.c.ownerURL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, d := range []struct {
		name    string
		tenants int
	}{{resourceSmallDatabase, h.o.small}, {resourceDatabase, h.o.large}} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+d.name); err != nil {
			return err
		}
		if err := h.tenantapiCommand(ctx, d.name, "migrate", "--migrations", dir); err != nil {
			return err
		}
		f, err := h.provision(ctx, dataSpec{database: d.name, set: set, setDir: exampleSet, tenants: d.tenants,
			items: h.o.items, projects: h.o.items, workers: 6})
		if err != nil {
			return err
		}
		h.res.Datasets = append(h.res.Datasets, f.prov)
	}
	return nil
}

// resourceSpecs are the resource section's runs: GET /items/{id} and GET
// /projects/{id} through the same tenantapi (the example set, tenant roles
// on, every other setting at its default), on the same tenants at the same
// concurrency, alternating, a fresh server each run; pairs at few and at
// many tenants.
func (h *harness) resourceSpecs() []runSpec {
	pairs := []struct{ tenants, pairs int }{{h.o.small, 5}, {h.o.large, 3}}
	if h.o.quick {
		pairs = []struct{ tenants, pairs int }{{h.o.small, 1}, {h.o.large, 1}}
	}
	var specs []runSpec
	for _, p := range pairs {
		for range p.pairs {
			for _, res := range []string{"items", "projects"} {
				specs = append(specs, runSpec{Section: "resources", Variant: "GET /" + res + "/{id}", Scenario: "get",
					Tenants: p.tenants, Target: tTenantapi, TenantRoles: true, Env: []string{"TENANT_MIGRATIONS=" + h.setDir},
					Database: resourceDatabase, Resource: res})
			}
		}
	}
	return specs
}
