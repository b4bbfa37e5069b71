package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/postgres"
)

// importID parses --as: "" keeps the archive's id.
func importID(as string) (tenantapi.TenantID, error) {
	if as == "" {
		return "", nil
	}
	id, err := tenantapi.ParseTenantID(as)
	if err != nil {
		return "", usagef("tenant id %q must match ^[a-z0-9][a-z0-9_]{0,39}$", as)
	}
	return id, nil
}

// exportTenant writes the tenant's archive to out, or to stdout when out
// is "". A file is written next to its final name and renamed into place,
// so a failed export leaves no half archive behind.
func exportTenant(ctx context.Context, store *postgres.TenantStore, id tenantapi.TenantID, out string, asJSON bool, stdout, stderr io.Writer) error {
	if out == "" {
		if asJSON {
			return usagef("tenants export --json needs --out FILE: the archive goes to standard output")
		}
		_, err := store.ExportTenant(ctx, id, stdout, "")
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	man, err := store.ExportTenant(ctx, id, f, "")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), out)
	}
	if err != nil {
		return err
	}
	var rows int64
	for _, t := range man.Tables {
		rows += t.Rows
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"id": id, "file": out, "tables": len(man.Tables), "rows": rows,
			"product_version": man.ProductVersion, "schema_version": man.AppVersion})
	}
	fmt.Fprintf(stdout, "exported tenant %s to %s: %d tables, %d rows (schema version %d)\n", id, out, len(man.Tables), rows, man.AppVersion)
	return nil
}

// importTenant creates a tenant from the archive in file ("-": stdin).
func importTenant(ctx context.Context, store *postgres.TenantStore, file string, stdin io.Reader, as tenantapi.TenantID, database string, asJSON bool, stdout io.Writer) error {
	r := stdin
	if file == "-" && stdin == nil {
		return usagef("tenants import - reads standard input, which this process has none of; name a file")
	}
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	id, err := store.ImportTenant(ctx, r, as, database)
	if err != nil {
		return err
	}
	t, err := store.Tenant(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(toTenantOut(t))
	}
	fmt.Fprintf(stdout, "imported tenant %s into database %s (schema version %d)\n", id, t.Database, t.SchemaVersion)
	return nil
}
