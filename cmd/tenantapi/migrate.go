package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/postgres"
)

// migrateResult is the summary of a migrate run (also its --json output).
type migrateResult struct {
	PublicApplied []int           `json:"public_applied"`
	PublicVersion int             `json:"public_version"`
	TenantVersion int             `json:"tenant_version"`
	Total         int             `json:"tenants_total"`
	Migrated      int             `json:"tenants_migrated"`
	UpToDate      int             `json:"tenants_up_to_date"`
	Failed        []migrateFailed `json:"tenants_failed"`
	Complete      bool            `json:"complete"`
	// RuntimeRole is the runtime role migrate created or updated, if any,
	// and TenantRolesGranted how many tenants' roles it was newly granted.
	RuntimeRole        string `json:"runtime_role,omitempty"`
	TenantRolesGranted int    `json:"tenant_roles_granted,omitempty"`
	// Resources are what the set's newest version serves, and Private its
	// tables that are not served, each with the reason.
	Resources []string                 `json:"resources"`
	Private   []tenantapi.PrivateTable `json:"private_tables"`
}

type migrateFailed struct {
	Tenant tenantapi.TenantID `json:"tenant"`
	Error  string             `json:"error"`
}

func cmdMigrate(ctx context.Context, env *env, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "status" {
		return cmdMigrateStatus(ctx, env, args[1:], stdout, stderr)
	}
	dbc := env.db()
	fs := newFlagSet("migrate", "tenantapi migrate [--tenant ID] [--concurrency N] [--migrations DIR] [--json]\n       tenantapi migrate status [--migrations DIR] [--json]\n\nApplies the public schema's migrations, then every tenant schema's (or one\ntenant's): the product's own tables and your application set (--migrations,\nor the built-in items), each tenant in its own transaction. A tenant that\nfails stays at its previous version and the rest go on; the exit status is 1\nif any failed. A folder in which a file that tenants have applied was changed\nor removed is refused, naming the file, before any tenant is touched.\n")
	tenant := fs.String("tenant", "", "migrate only this tenant")
	concurrency := fs.Int("concurrency", 4, "tenants migrated at once")
	asJSON := fs.Bool("json", false, "print the summary as one JSON document")
	migrationsFlag(fs, &dbc)
	if pos, done, err := parseFlags(fs, args, stdout, stderr); done || err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("migrate takes no arguments (got %q)", pos[0])
	}
	if err := env.err(); err != nil {
		return err
	}
	if *concurrency < 1 || *concurrency > 64 {
		return usagef("--concurrency must be from 1 to 64")
	}
	var id tenantapi.TenantID
	if *tenant != "" {
		var err error
		if id, err = tenantapi.ParseTenantID(*tenant); err != nil {
			return usagef("--tenant: %v", err.(*tenantapi.Error).Detail)
		}
	}
	db, err := openDatabase(ctx, dbc, env.secrets, stderr)
	if err != nil {
		return err
	}
	defer db.close()
	res, err := migrate(ctx, db.DB, id, *concurrency, progressTo(stdout, *asJSON))
	if err != nil {
		return err
	}
	if env.migrated != nil {
		env.migrated(res.Migrated, len(res.Failed))
	}
	if db.runtimeUser != "" {
		// The runtime role serves tenants; migrate keeps it and its grants
		// in step with the configuration (a rotated password included).
		m := postgres.NewMigrator(db.DB)
		if err := m.EnsureRuntimeRole(ctx, db.runtimeUser, db.runtimePassword); err != nil {
			return err
		}
		if res.TenantRolesGranted, err = m.GrantTenantRoles(ctx); err != nil {
			return err
		}
		res.RuntimeRole = db.runtimeUser
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	} else {
		printMigrateSummary(stdout, res)
	}
	if len(res.Failed) > 0 || !res.Complete {
		return errSilent
	}
	return nil
}

// migrate applies public migrations, then tenant migrations.
func migrate(ctx context.Context, db *postgres.DB, id tenantapi.TenantID, concurrency int, progress func(done, total int)) (migrateResult, error) {
	m := postgres.NewMigrator(db)
	res := migrateResult{PublicVersion: postgres.LatestPublicVersion(), TenantVersion: m.LatestTenantVersion(), Failed: []migrateFailed{}}
	applied, err := m.MigratePublic(ctx)
	if err != nil {
		return res, fmt.Errorf("migrating the public schema: %w", err)
	}
	res.PublicApplied = append([]int{}, applied...)
	report, err := m.MigrateTenants(ctx, postgres.MigrateOptions{Tenant: id, Concurrency: concurrency, Progress: progress})
	if err != nil {
		return res, fmt.Errorf("migrating tenants: %w", err)
	}
	res.Total, res.Migrated, res.UpToDate, res.Complete = report.Total, report.Migrated, report.UpToDate, report.Complete
	schema, err := m.RecordedSchema(ctx, res.TenantVersion)
	if err != nil {
		return res, err
	}
	res.Resources, res.Private = []string{}, schema.Private
	for _, r := range schema.Resources {
		res.Resources = append(res.Resources, r.Name)
	}
	for _, f := range report.Failed {
		res.Failed = append(res.Failed, migrateFailed{Tenant: f.Tenant, Error: f.Err.Error()})
	}
	return res, nil
}

// progressTo returns a progress printer when w is a terminal and the output
// is not JSON; otherwise nil.
func progressTo(w io.Writer, asJSON bool) func(done, total int) {
	f, ok := w.(*os.File)
	if asJSON || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(w, "\rmigrating tenants: %d/%d", done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}

func printMigrateSummary(w io.Writer, r migrateResult) {
	fmt.Fprintf(w, "public schema: version %d (%d applied now)\n", r.PublicVersion, len(r.PublicApplied))
	fmt.Fprintf(w, "tenant schemas: version %d — %d tenants: %d migrated, %d up to date, %d failed\n",
		r.TenantVersion, r.Total, r.Migrated, r.UpToDate, len(r.Failed))
	for _, f := range r.Failed {
		fmt.Fprintf(w, "  FAILED %s: %s\n", f.Tenant, f.Error)
	}
	fmt.Fprintf(w, "resources: %s\n", strings.Join(r.Resources, ", "))
	for _, p := range r.Private {
		fmt.Fprintf(w, "  not served: %s (%s)\n", p.Name, p.Reason)
	}
	if r.RuntimeRole != "" {
		fmt.Fprintf(w, "runtime role %s: up to date (%d tenant roles newly granted)\n", r.RuntimeRole, r.TenantRolesGranted)
	}
	if !r.Complete {
		fmt.Fprintln(w, "stopped before every tenant was done; run migrate again to continue")
	}
}
