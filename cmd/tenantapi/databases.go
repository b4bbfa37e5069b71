package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tenantapi/tenantapi/postgres"
)

const databasesUsage = `tenantapi databases <subcommand> [flags]

The control database (DATABASE_URL or DB_SECRET_ARN) holds the registry,
keys and config and is itself the database "main". Others hold tenants only.

Subcommands:
  add NAME --url URL [--json]        add a database by its owner's connection string
  add NAME --secret-arn ARN [--cluster-arn ARN] [--json]
                                     add one by its Secrets Manager secret (with the
                                     cluster ARN for DB_DRIVER=data-api)
  list [--json]                      every database, with its tenants (passwords never shown)
  drain NAME [--undo] [--json]       stop (--undo: resume) placing new tenants there;
                                     naming it with --database or --to still does
  remove NAME                        forget a database no tenant lives in
`

// databaseOut is a database as the CLI prints it in JSON.
type databaseOut struct {
	Name       string     `json:"name"`
	Address    string     `json:"address,omitempty"`
	SecretARN  string     `json:"secret_arn,omitempty"`
	ClusterARN string     `json:"cluster_arn,omitempty"`
	Draining   bool       `json:"draining"`
	Tenants    int        `json:"tenants"`
	AddedAt    *time.Time `json:"added_at,omitempty"` // none for main
	WALLevel   string     `json:"wal_level,omitempty"`
}

func toDatabaseOut(d postgres.Database) databaseOut {
	out := databaseOut{Name: d.Name, Address: d.Address, SecretARN: d.SecretARN, ClusterARN: d.ClusterARN,
		Draining: d.Draining, Tenants: d.Tenants}
	if !d.AddedAt.IsZero() {
		out.AddedAt = &d.AddedAt
	}
	return out
}

func cmdDatabases(ctx context.Context, env *env, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(stderr, "Usage: "+databasesUsage)
			return usagef("missing databases subcommand")
		}
		fmt.Fprint(stdout, "Usage: "+databasesUsage)
		return nil
	}
	sub := args[0]
	fs := newFlagSet("databases "+sub, "tenantapi "+databasesUsage)
	connURL := fs.String("url", "", "the owner's connection string, postgres://user:password@host:port/dbname (add)")
	secretARN := fs.String("secret-arn", "", "Secrets Manager secret of the owner's credentials (add)")
	clusterARN := fs.String("cluster-arn", "", "Aurora cluster ARN, for DB_DRIVER=data-api (add)")
	undo := fs.Bool("undo", false, "stop draining (drain)")
	asJSON := fs.Bool("json", false, "print exactly one JSON document")
	pos, done, err := parseFlags(fs, args[1:], stdout, stderr)
	if done || err != nil {
		return err
	}
	want := 1
	switch sub {
	case "list":
		want = 0
	case "add", "drain", "remove":
	default:
		return usagef("unknown databases subcommand %q", sub)
	}
	if len(pos) != want {
		return usagef("databases %s takes %d argument(s), got %d", sub, want, len(pos))
	}
	cfg := env.db()
	var d postgres.Database
	if sub == "add" {
		d.Name = pos[0]
		switch {
		case (*connURL == "") == (*secretARN == ""):
			return usagef("databases add takes --url or --secret-arn, one of them")
		case *connURL != "" && *clusterARN != "":
			return usagef("--cluster-arn goes with --secret-arn")
		case cfg.Driver == "data-api" && (*secretARN == "" || *clusterARN == ""):
			return usagef("with DB_DRIVER=data-api a database is --cluster-arn and --secret-arn")
		case *connURL != "":
			if d.Address, err = postgres.Address(*connURL); err != nil {
				return usagef("--url: %v", err)
			}
			d.URL = *connURL
		case cfg.Driver == "data-api":
			// Reached by ARN: the cluster and database stand for where.
			d.SecretARN, d.ClusterARN = *secretARN, *clusterARN
			d.Address = "rds-data-api://" + *clusterARN + "/" + cfg.Name
		default:
			d.SecretARN, d.ClusterARN = *secretARN, *clusterARN
		}
	}
	if err := env.err(); err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, env.secrets, stderr)
	if err != nil {
		return err
	}
	defer db.close()
	store := postgres.NewDatabaseStore(db.DB)
	switch sub {
	case "add":
		if d.Address == "" {
			if d.Address, err = db.secretAddress(ctx, d.SecretARN); err != nil {
				return err
			}
		}
		info, err := store.Add(ctx, d)
		if err != nil {
			return err
		}
		// The runtime role, as migrate makes it, so the database serves
		// at once.
		if db.runtimeUser != "" {
			if err := postgres.NewMigrator(db.DB).EnsureRuntimeRole(ctx, db.runtimeUser, db.runtimePassword); err != nil {
				return err
			}
		}
		if info.WALLevel != "logical" && cfg.Driver != "data-api" {
			fmt.Fprintf(stderr, "tenantapi: database %s has wal_level=%s: tenants can live there, but moving one out needs wal_level=logical (rds.logical_replication=1 on Aurora)\n", d.Name, info.WALLevel)
		}
		if *asJSON {
			out := toDatabaseOut(info.Database)
			out.WALLevel = info.WALLevel
			return json.NewEncoder(stdout).Encode(out)
		}
		fmt.Fprintf(stdout, "added database %s (%s)\n", d.Name, info.Where())
		return nil
	case "drain":
		if err := store.SetDraining(ctx, pos[0], !*undo); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{"name": pos[0], "draining": !*undo})
		}
		if *undo {
			fmt.Fprintf(stdout, "database %s takes new tenants again\n", pos[0])
		} else {
			fmt.Fprintf(stdout, "database %s is draining: new tenants go elsewhere unless they name it\n", pos[0])
		}
		return nil
	case "remove":
		if err := store.Remove(ctx, pos[0]); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{"name": pos[0], "removed": true})
		}
		fmt.Fprintf(stdout, "removed database %s (its data is left as it is)\n", pos[0])
		return nil
	}
	ds, err := store.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := struct {
			Databases []databaseOut `json:"databases"`
		}{Databases: []databaseOut{}}
		for _, d := range ds {
			out.Databases = append(out.Databases, toDatabaseOut(d))
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTENANTS\tDRAINING\tWHERE")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%s\n", d.Name, d.Tenants, d.Draining, d.Where())
	}
	return tw.Flush()
}
