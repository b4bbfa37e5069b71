package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/postgres"
)

const tenantsUsage = `tenantapi tenants <subcommand> [flags]

Subcommands:
  create ID [--name NAME] [--database NAME] [--json]
                                     create a tenant (schema and migrations, atomically), in the
                                     database named or the non-draining one with the fewest tenants
  list [--json]                      list tenants
  show ID [--json]                   show one tenant with its schema version
  usage ID [--json]                  row count of each resource and storage bytes of the tenant's schema
                                     (request counts live in each server process:
                                     GET /admin/tenants/{id}/usage)
  suspend ID [--json]                refuse the tenant's API calls (403), keeping its data
  activate ID [--json]               serve a suspended tenant again
  limit ID --rps N [--burst N] [--json]
                                     set the tenant's own rate limit (server mode;
                                     --rps 0: none; --burst default: one second's worth)
  limit ID --default [--json]        back to RATE_LIMIT_RPS and RATE_LIMIT_BURST
  delete ID --yes                    revoke its keys, wait out caches, drop its schema
  export ID [--out FILE]             write a consistent snapshot of every table of the tenant
                                     as one archive (default: standard output; keys are not exported)
  move ID --to NAME [--keep-source] [--json]
                                     move the tenant to another database online (logical
                                     replication; writes held a moment, reads never); run it
                                     again after a crash to finish it
  move ID --abort                    undo a move that has not flipped yet
  import FILE [--as NEWID] [--database NAME]
                                     create the tenant from an archive ('-': standard input), all or
                                     nothing, verified, then migrated to this binary's version
`

// tenantOut is a tenant as the CLI prints it in JSON, the same shape as the
// admin API's.
type tenantOut struct {
	ID            tenantapi.TenantID     `json:"id"`
	Name          string                 `json:"name"`
	Status        tenantapi.TenantStatus `json:"status"`
	SchemaVersion int                    `json:"schema_version"`
	CreatedAt     time.Time              `json:"created_at"`
	UpdatedAt     time.Time              `json:"updated_at"`
	RateLimit     *rateLimitOut          `json:"rate_limit"`
	Database      string                 `json:"database"`
}

type rateLimitOut struct {
	RPS   float64 `json:"rps"`
	Burst int     `json:"burst"`
}

func toTenantOut(t tenantapi.Tenant) tenantOut {
	out := tenantOut{ID: t.ID, Name: t.Name, Status: t.Status, SchemaVersion: t.SchemaVersion,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), Database: t.Database}
	if l := t.RateLimit; l != nil {
		out.RateLimit = &rateLimitOut{RPS: l.RPS, Burst: l.Burst}
	}
	return out
}

func cmdTenants(ctx context.Context, env *env, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(stderr, "Usage: "+tenantsUsage)
			return usagef("missing tenants subcommand")
		}
		fmt.Fprint(stdout, "Usage: "+tenantsUsage)
		return nil
	}
	sub := args[0]
	fs := newFlagSet("tenants "+sub, "tenantapi "+tenantsUsage)
	name := fs.String("name", "", "display name (create; default: the id)")
	asJSON := fs.Bool("json", false, "print exactly one JSON document")
	yes := fs.Bool("yes", false, "confirm a delete")
	rps := fs.Float64("rps", -1, "requests a second (limit; 0: no limit)")
	burst := fs.Int("burst", 0, "bucket size (limit; default: one second's worth of --rps)")
	toDefault := fs.Bool("default", false, "go back to the server's default rate limit (limit)")
	outFile := fs.String("out", "", "archive to write (export; default: standard output)")
	asID := fs.String("as", "", "import under this id (import; default: the archive's)")
	to := fs.String("to", "", "database to move the tenant to (move)")
	keepSource := fs.Bool("keep-source", false, "keep the source schema, fenced against writes (move)")
	abort := fs.Bool("abort", false, "undo the tenant's move (move)")
	database := fs.String("database", "", "database to put the tenant in (create, import; default: the non-draining one with the fewest tenants)")
	pos, done, err := parseFlags(fs, args[1:], stdout, stderr)
	if done || err != nil {
		return err
	}
	wantArgs := 1
	switch sub {
	case "list":
		wantArgs = 0
	case "create", "show", "suspend", "activate", "delete", "limit", "usage", "export", "import", "move":
	default:
		return usagef("unknown tenants subcommand %q", sub)
	}
	if len(pos) != wantArgs {
		return usagef("tenants %s takes %d argument(s), got %d", sub, wantArgs, len(pos))
	}
	var id tenantapi.TenantID
	if sub == "import" {
		if id, err = importID(*asID); err != nil {
			return err
		}
	} else if wantArgs == 1 {
		if id, err = tenantapi.ParseTenantID(pos[0]); err != nil {
			return usagef("tenant id %q must match ^[a-z0-9][a-z0-9_]{0,39}$", pos[0])
		}
	}
	if sub == "move" && (*to == "") == !*abort {
		return usagef("tenants move takes --to NAME, or --abort")
	}
	if sub == "delete" && !*yes {
		return usagef("tenants delete drops the tenant's data: add --yes to confirm")
	}
	var limit *tenantapi.RateLimit
	if sub == "limit" {
		if limit, err = flagRateLimit(*rps, *burst, *toDefault); err != nil {
			return err
		}
	}
	if err := env.err(); err != nil {
		return err
	}
	srv := env.server()
	db, err := openDatabase(ctx, env.db(), env.secrets, stderr)
	if err != nil {
		return err
	}
	defer db.close()
	store := postgres.NewTenantStore(db.DB, postgres.NewMigrator(db.DB))

	var t tenantapi.Tenant
	switch sub {
	case "create":
		if *name == "" {
			*name = string(id)
		}
		t, err = store.CreateTenantIn(ctx, id, *name, *database)
	case "show":
		t, err = store.Tenant(ctx, id)
	case "suspend", "activate":
		st := tenantapi.TenantSuspended
		if sub == "activate" {
			st = tenantapi.TenantActive
		}
		t, err = store.UpdateTenant(ctx, id, tenantapi.TenantUpdate{Status: &st})
	case "limit":
		t, err = store.UpdateTenant(ctx, id, tenantapi.TenantUpdate{SetRateLimit: true, RateLimit: limit})
	case "delete":
		fmt.Fprintf(stderr, "deleting tenant %s: keys revoked; waiting %s for every process to notice…\n", id, srv.DeleteGrace)
		if err := tenantapi.DeleteTenant(ctx, store, id, srv.DeleteGrace, srv.DropLockTimeout, nil); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{"id": id, "deleted": true})
		}
		fmt.Fprintf(stdout, "deleted tenant %s\n", id)
		return nil
	case "list":
		return listTenants(ctx, store, *asJSON, stdout)
	case "usage":
		return showUsage(ctx, store, id, *asJSON, stdout)
	case "export":
		return exportTenant(ctx, store, id, *outFile, *asJSON, stdout, stderr)
	case "import":
		return importTenant(ctx, store, pos[0], env.stdin, id, *database, *asJSON, stdout)
	case "move":
		return moveTenant(ctx, store, id, *to, *abort, *keepSource, srv.CacheTTL, *asJSON, stdout, stderr)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(toTenantOut(t))
	}
	printTenants(stdout, []tenantapi.Tenant{t})
	return nil
}

// listTenants prints every tenant, fetching pages of 500.
func listTenants(ctx context.Context, store *postgres.TenantStore, asJSON bool, stdout io.Writer) error {
	var all []tenantapi.Tenant
	after := ""
	for {
		page, err := store.Tenants(ctx, tenantapi.Page{After: after, Limit: 500})
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < 500 {
			break
		}
		after = string(page[len(page)-1].ID)
	}
	if asJSON {
		out := struct {
			Tenants []tenantOut `json:"tenants"`
		}{Tenants: []tenantOut{}}
		for _, t := range all {
			out.Tenants = append(out.Tenants, toTenantOut(t))
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	printTenants(stdout, all)
	return nil
}

func printTenants(w io.Writer, ts []tenantapi.Tenant) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tSCHEMA VERSION\tDATABASE\tCREATED\tRATE LIMIT")
	for _, t := range ts {
		limit := "default"
		if l := t.RateLimit; l != nil {
			limit = strconv.FormatFloat(l.RPS, 'g', -1, 64) + "/s, burst " + strconv.Itoa(l.Burst)
			if l.RPS == 0 {
				limit = "none"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", t.ID, t.Name, t.Status, t.SchemaVersion, t.Database, t.CreatedAt.UTC().Format(time.RFC3339), limit)
	}
	tw.Flush()
}

// flagRateLimit returns the limit that tenants limit's flags ask for: nil
// for --default. Exactly one of --rps and --default is required.
func flagRateLimit(rps float64, burst int, toDefault bool) (*tenantapi.RateLimit, error) {
	switch {
	case toDefault && (rps != -1 || burst != 0):
		return nil, usagef("tenants limit takes --default or --rps (with --burst), not both")
	case toDefault:
		return nil, nil
	case rps == -1:
		return nil, usagef("tenants limit needs --rps N (0: no limit) or --default")
	}
	if burst == 0 {
		burst = tenantapi.DefaultBurst(rps)
	}
	l := &tenantapi.RateLimit{RPS: rps, Burst: burst}
	if !l.Valid() {
		return nil, usagef("--rps must be 0 to %d and --burst 1 to %d", tenantapi.MaxRateLimitRPS, tenantapi.MaxRateLimitBurst)
	}
	return l, nil
}

// usageOut is a tenant's usage as the CLI prints it in JSON: the admin API's
// shape without the request count, which only a serving process knows.
type usageOut struct {
	TenantID     tenantapi.TenantID `json:"tenant_id"`
	Items        int64              `json:"items"`
	Rows         map[string]int64   `json:"rows"`
	StorageBytes int64              `json:"storage_bytes"`
}

// showUsage prints the tenant's item count and storage bytes.
func showUsage(ctx context.Context, store *postgres.TenantStore, id tenantapi.TenantID, asJSON bool, stdout io.Writer) error {
	u, err := store.TenantUsage(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(usageOut{TenantID: u.Tenant, Items: u.Items, Rows: u.Rows, StorageBytes: u.StorageBytes})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tRESOURCE\tROWS\tSTORAGE")
	names := slices.Sorted(maps.Keys(u.Rows))
	storage := fmt.Sprintf("%s (%d bytes)", humanBytes(u.StorageBytes), u.StorageBytes)
	if len(names) == 0 {
		fmt.Fprintf(tw, "%s\t-\t0\t%s\n", u.Tenant, storage)
	}
	for i, name := range names {
		if i > 0 {
			storage = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", u.Tenant, name, u.Rows[name], storage)
	}
	return tw.Flush()
}

// humanBytes renders n in binary units (KiB, MiB, …).
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// moveTenant moves the tenant to the database to, or aborts its move,
// printing progress on stderr.
func moveTenant(ctx context.Context, store *postgres.TenantStore, id tenantapi.TenantID, to string, abort, keep bool, settle time.Duration, asJSON bool, stdout, stderr io.Writer) error {
	started := time.Now()
	progress := func(line string) {
		fmt.Fprintf(stderr, "tenantapi: %6.1fs  %s\n", time.Since(started).Seconds(), line)
	}
	if abort {
		if err := store.AbortMove(ctx, id, progress); err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{"id": id, "aborted": true})
		}
		fmt.Fprintf(stdout, "aborted the move of tenant %s\n", id)
		return nil
	}
	// Every serving process learns the tenant is moving within CACHE_TTL.
	rep, err := store.MoveTenant(ctx, id, to, postgres.MoveOptions{KeepSource: keep, Progress: progress, Settle: settle})
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"id": id, "from": rep.From, "to": to, "moved": !rep.AlreadyThere,
			"tables": rep.Tables, "rows": rep.Rows, "hold_ms": rep.Hold.Milliseconds(), "holds": rep.Holds,
			"seconds": rep.Duration.Seconds(), "kept_source": rep.KeptSource})
	}
	if rep.AlreadyThere {
		fmt.Fprintf(stdout, "tenant %s lives in %s already\n", id, to)
		return nil
	}
	fmt.Fprintf(stdout, "moved tenant %s from %s to %s in %.1fs: %d rows in %d tables checked equal; writes held %s\n",
		id, rep.From, to, rep.Duration.Seconds(), rep.Rows, rep.Tables, rep.Hold.Round(time.Millisecond))
	return nil
}
