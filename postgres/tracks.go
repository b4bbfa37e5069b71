package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// A tenant schema follows two tracks, each with its own versions in one
// ledger, _tenantapi_migrations: the product's own tables (trackProduct:
// idempotency keys and whatever later releases add) and the application
// set (trackApp: the built-in items or a team's folder). Product files run
// first, so the product's tables are there before any file of the team's.
const (
	trackProduct = "product"
	trackApp     = "app"
)

// tenantLedgerDDL creates a tenant's ledger. It is IF NOT EXISTS because a
// tenant made before the tracks were kept apart gets it from migrate.
const tenantLedgerDDL = `CREATE TABLE IF NOT EXISTS {{schema}}._tenantapi_migrations (
	track      text NOT NULL CHECK (track IN ('product', 'app')),
	version    bigint NOT NULL,
	file       text NOT NULL,
	checksum   text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (track, version)
)`

// setSearchPath makes the tenant's schema the search_path until the end of
// the transaction, and nothing else: migration files name their tables
// plainly and shared ones as public.<table>.
const setSearchPath = `SELECT set_config('search_path', $1, true)`

const ledgerSQL = `SELECT track, version, file, checksum FROM {{schema}}._tenantapi_migrations`

const ledgerInsertSQL = `INSERT INTO {{schema}}._tenantapi_migrations (track, version, file, checksum)
	SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[])`

// fleetLedgerInsertSQL remembers application files as applied somewhere.
const fleetLedgerInsertSQL = `INSERT INTO public.tenant_migrations (version, file, checksum)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
	ON CONFLICT (version) DO NOTHING`

// fleetLedgerSQL lists the application files some tenant has applied.
const fleetLedgerSQL = `SELECT version, file, checksum FROM public.tenant_migrations ORDER BY version`

// ledgers are a tenant's applied migrations, by track.
type ledgers struct {
	product, app []appliedMigration
}

// queueLedgerRead queues, on a batch inside the tenant's transaction, the
// search_path and the read of the ledger into into. For a tenant made
// before the tracks the ledger is missing: the batch then fails with an
// undefined table, before or after BEGIN depending on the exec mode, and
// the caller rolls back and takes the legacy path (see carryLegacyLedger).
func queueLedgerRead(b *pgx.Batch, id tenantapi.TenantID, into *ledgers) {
	b.Queue(setSearchPath, quotedSchema(id))
	b.Queue(forTenant(ledgerSQL, id)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				track string
				a     appliedMigration
			)
			if err := rows.Scan(&track, &a.Version, &a.File, &a.Checksum); err != nil {
				return err
			}
			if track == trackProduct {
				into.product = append(into.product, a)
			} else {
				into.app = append(into.app, a)
			}
		}
		return rows.Err()
	})
}

// carryLegacyLedger creates _tenantapi_migrations for a tenant made before
// the tracks, inside its transaction with the search_path set, moves the
// old ledger's rows there as the application track and drops the old one.
// A tenant with no old ledger either gets an empty one. Those releases knew only the built-in
// items, recorded by version and name: a row takes the checksum of the
// built-in file of that version and name, else of the set's, and else one
// that matches no file, which migrate then reports.
func (m *Migrator) carryLegacyLedger(ctx context.Context, c execer, id tenantapi.TenantID) ([]appliedMigration, error) {
	var old bool
	b := &pgx.Batch{}
	b.Queue(forTenant(tenantLedgerDDL, id))
	b.Queue(`SELECT to_regclass($1) IS NOT NULL`, quotedSchema(id)+".schema_migrations").QueryRow(func(row pgx.Row) error { return row.Scan(&old) })
	if err := c.SendBatch(ctx, b).Close(); err != nil || !old {
		return nil, err
	}
	rows, err := c.Query(ctx, forTenant(`SELECT version, name FROM {{schema}}.schema_migrations ORDER BY version`, id))
	if err != nil {
		return nil, err
	}
	var out []appliedMigration
	for rows.Next() {
		var (
			v    int
			name string
		)
		if err := rows.Scan(&v, &name); err != nil {
			rows.Close()
			return nil, err
		}
		a := appliedMigration{Version: v, File: fmt.Sprintf("%04d_%s.sql", v, name), Checksum: "unknown (applied by an earlier release)"}
		for _, set := range [][]Migration{builtinMigrations, m.app} {
			if i := slices.IndexFunc(set, func(mg Migration) bool { return mg.Version == v && mg.Name == name }); i >= 0 {
				a.File, a.Checksum = set[i].FileName(), set[i].checksum()
				break
			}
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	b = &pgx.Batch{}
	queueLedgerInsert(b, id, trackApp, out)
	b.Queue(forTenant(`DROP TABLE {{schema}}.schema_migrations`, id))
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// applyPending runs the pending files of both tracks, product first, and
// returns them. A failure names the file; the transaction must then be
// rolled back.
func (m *Migrator) applyPending(ctx context.Context, c execer, done ledgers) (product, app []Migration, err error) {
	if err := checkApplied(m.app, done.app, true); err != nil {
		return nil, nil, err
	}
	product, app = pending(productMigrations, done.product), pending(m.app, done.app)
	for _, mg := range product {
		if _, err := c.Exec(ctx, mg.SQL); err != nil {
			return nil, nil, migrationError("product migration", mg, err)
		}
	}
	for _, mg := range app {
		if _, err := c.Exec(ctx, mg.SQL); err != nil {
			return nil, nil, migrationError("tenant migration", mg, err)
		}
	}
	return product, app, nil
}

// queueRecord queues the ledger rows of what applyPending applied, in the
// tenant's ledger (on sch, in the tenant's database) and, for the
// application set, in the fleet's (on reg, in the control database; the
// same batch for a tenant of main).
func queueRecord(reg, sch *pgx.Batch, id tenantapi.TenantID, product, app []Migration) {
	queueLedgerInsert(sch, id, trackProduct, applied(product))
	queueLedgerInsert(sch, id, trackApp, applied(app))
	if len(app) > 0 {
		v, f, c := ledgerColumns(applied(app))
		reg.Queue(fleetLedgerInsertSQL, v, f, c)
	}
}

// sendRecord is queueRecord sent, on reg and sch (one batch when they are
// one transaction).
func sendRecord(ctx context.Context, reg, sch batcher, id tenantapi.TenantID, product, app []Migration) error {
	bs := &pgx.Batch{}
	br := bs
	if reg != sch {
		br = &pgx.Batch{}
	}
	queueRecord(br, bs, id, product, app)
	if err := sch.SendBatch(ctx, bs).Close(); err != nil || br == bs {
		return err
	}
	return reg.SendBatch(ctx, br).Close()
}

func applied(ms []Migration) []appliedMigration {
	out := make([]appliedMigration, len(ms))
	for i, mg := range ms {
		out[i] = appliedMigration{Version: mg.Version, File: mg.FileName(), Checksum: mg.checksum()}
	}
	return out
}

func queueLedgerInsert(b *pgx.Batch, id tenantapi.TenantID, track string, as []appliedMigration) {
	if len(as) > 0 {
		v, f, c := ledgerColumns(as)
		b.Queue(forTenant(ledgerInsertSQL, id), track, v, f, c)
	}
}

func ledgerColumns(as []appliedMigration) (versions []int64, files, checksums []string) {
	for _, a := range as {
		versions = append(versions, int64(a.Version))
		files = append(files, a.File)
		checksums = append(checksums, a.Checksum)
	}
	return versions, files, checksums
}

// versionsAfter returns the versions a tenant stands at once done and what
// was just applied are counted. A newer release may have applied files
// this one lacks; its versions win.
func versionsAfter(done []appliedMigration, ms []Migration) int {
	v := latest(ms)
	for _, a := range done {
		v = max(v, a.Version)
	}
	return v
}

// migrationError names the tenant migration that failed with err.
func migrationError(kind string, mg Migration, err error) error {
	return fmt.Errorf("%s %s: %w", kind, mg.FileName(), err)
}
