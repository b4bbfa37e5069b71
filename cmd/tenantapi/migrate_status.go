package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/tenantapi/tenantapi/postgres"
)

const migrateStatusSynopsis = `tenantapi migrate status [--json]

Shows where the fleet stands against this binary's migrations, from the
registry alone (no tenant schema is read): how many tenants are at each
schema version, the ones behind this binary's latest version, and the ones
whose last migration failed, with the error. Tenants being deleted are left
out. It changes nothing; run 'tenantapi migrate' to bring tenants up.
`

// migrateStatusOut is the --json document of migrate status.
type migrateStatusOut struct {
	PublicVersion       int `json:"public_version"`
	PublicLatestVersion int `json:"public_latest_version"`
	postgres.FleetStatus
	Total int `json:"tenants_total"`
}

func cmdMigrateStatus(ctx context.Context, env *env, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate status", migrateStatusSynopsis)
	asJSON := fs.Bool("json", false, "print exactly one JSON document")
	dbc := env.db()
	migrationsFlag(fs, &dbc)
	if pos, done, err := parseFlags(fs, args, stdout, stderr); done || err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("migrate status takes no arguments (got %q)", pos[0])
	}
	if err := env.err(); err != nil {
		return err
	}
	db, err := openDatabase(ctx, dbc, env.secrets, stderr)
	if err != nil {
		return err
	}
	defer db.close()
	out := migrateStatusOut{PublicLatestVersion: postgres.LatestPublicVersion()}
	if out.PublicVersion, err = db.PublicVersion(ctx); err != nil {
		return err
	}
	if out.FleetStatus, err = postgres.NewMigrator(db.DB).Status(ctx); err != nil {
		return err
	}
	for _, v := range out.Versions {
		out.Total += v.Tenants
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	printMigrateStatus(stdout, out)
	return nil
}

func printMigrateStatus(w io.Writer, st migrateStatusOut) {
	fmt.Fprintf(w, "public schema: version %d (this binary: %d)\n", st.PublicVersion, st.PublicLatestVersion)
	fmt.Fprintf(w, "tenant schemas: %d tenants; this binary's latest version is %d\n", st.Total, st.Latest)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  VERSION\tTENANTS\t")
	for _, v := range st.Versions {
		note := ""
		switch {
		case v.Version < st.Latest:
			note = "behind"
		case v.Version > st.Latest:
			note = "ahead (a newer binary migrated them)"
		}
		fmt.Fprintf(tw, "  %d\t%d\t%s\n", v.Version, v.Tenants, note)
	}
	tw.Flush()
	if len(st.Behind) > 0 {
		fmt.Fprintf(w, "behind (%d):\n", len(st.Behind))
		for _, b := range st.Behind {
			fmt.Fprintf(w, "  %s at version %d\n", b.Tenant, b.Version)
		}
	}
	if len(st.Failed) > 0 {
		fmt.Fprintf(w, "failed (%d):\n", len(st.Failed))
		for _, f := range st.Failed {
			fmt.Fprintf(w, "  %s at version %d: %s\n", f.Tenant, f.Version, f.Error)
		}
	}
	if len(st.Behind) == 0 && len(st.Failed) == 0 {
		fmt.Fprintln(w, "every tenant is up to date")
	}
}
