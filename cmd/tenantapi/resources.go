package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/postgres"
)

const resourcesSynopsis = `tenantapi resources [--migrations DIR] [--json]

Lists what the application set serves at its newest version: every
resource with its fields (type, required, filterable) and managed columns,
and every private table with the reason it is not exposed. The set is
applied to a schema that lives only inside one rolled-back transaction of
the database (DATABASE_URL or DB_SECRET_ARN, else the dev cluster), so
nothing is written and no tenant is read.
`

func cmdResources(ctx context.Context, env *env, args []string, stdout, stderr io.Writer) error {
	dbc := env.db()
	fs := newFlagSet("resources", resourcesSynopsis)
	migrationsFlag(fs, &dbc)
	asJSON := fs.Bool("json", false, "print exactly one JSON document")
	if pos, done, err := parseFlags(fs, args, stdout, stderr); done || err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("resources takes no arguments (got %q)", pos[0])
	}
	if err := env.err(); err != nil {
		return err
	}
	db, err := openDatabase(ctx, dbc, env.secrets, stderr)
	if err != nil {
		return err
	}
	defer db.close()
	schemas, err := postgres.NewMigrator(db.DB).Schemas(ctx)
	if err != nil {
		return err
	}
	s := schemas[len(schemas)-1]
	if *asJSON {
		return json.NewEncoder(stdout).Encode(s)
	}
	printResources(stdout, s)
	return nil
}

func printResources(w io.Writer, s tenantapi.Schema) {
	fmt.Fprintf(w, "application set version %d: %d resources, %d private tables\n", s.Version, len(s.Resources), len(s.Private))
	for _, r := range s.Resources {
		var managed []string
		for _, m := range []struct {
			on   bool
			name string
		}{{true, "id"}, {r.Versioned, "version (ETag)"}, {r.Created, "created_at"}, {r.Updated, "updated_at"}} {
			if m.on {
				managed = append(managed, m.name)
			}
		}
		fmt.Fprintf(w, "\n/%s   managed: %s\n", r.Name, strings.Join(managed, ", "))
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, f := range r.Fields {
			var notes []string
			if f.Required() {
				notes = append(notes, "required")
			} else if !f.NotNull {
				notes = append(notes, "nullable")
			}
			if f.Filterable {
				notes = append(notes, "filterable")
			}
			if f.Generated {
				notes = append(notes, "read-only")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Name, describeType(f.Type), f.Type.SQL, strings.Join(notes, ", "))
		}
		tw.Flush()
	}
	if len(s.Private) > 0 {
		fmt.Fprintln(w, "\nprivate tables:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, p := range s.Private {
			fmt.Fprintf(tw, "  %s\t%s\n", p.Name, p.Reason)
		}
		tw.Flush()
	}
}

// describeType is a field's JSON type as a reader of the API sees it.
func describeType(t tenantapi.Type) string {
	d := string(t.Kind)
	switch {
	case t.Kind == tenantapi.KindEnum:
		d = "one of " + strings.Join(t.Labels, "|")
	case t.Kind == tenantapi.KindNumeric:
		d = "number (exact)"
	case t.Kind == tenantapi.KindFloat:
		d = "number"
	case t.Kind == tenantapi.KindJSON:
		d = "any JSON"
	case t.MaxLength > 0:
		d = fmt.Sprintf("string ≤ %d", t.MaxLength)
	}
	if t.Array {
		d = "array of " + d
	}
	return d
}
