package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// Migrator applies the embedded migrations: the public schema's, and each
// tenant schema's. Every migration runs inside a transaction, so it must not
// contain transaction control or statements that refuse to run in one
// (CREATE INDEX CONCURRENTLY).
type Migrator struct {
	db     *DB
	tenant []Migration
}

// NewMigrator returns a Migrator for db with the embedded migrations.
func NewMigrator(db *DB) *Migrator {
	return &Migrator{db: db, tenant: tenantMigrations}
}

// WithTenantMigrations returns a copy of m that also applies extra to tenant
// schemas, in version order with the embedded ones. It exists so tests can
// exercise upgrades and failures; it panics when two migrations share a
// version, a programming mistake.
func (m *Migrator) WithTenantMigrations(extra ...Migration) *Migrator {
	ms, err := sortMigrations(append(slices.Clone(m.tenant), extra...))
	if err != nil {
		panic(err)
	}
	return &Migrator{db: m.db, tenant: ms}
}

// LatestTenantVersion returns the version of m's newest tenant migration.
func (m *Migrator) LatestTenantVersion() int { return latest(m.tenant) }

// publicLockKey names the advisory lock that serializes public migrations.
// Any constant works as long as every version of the binary uses the same.
const publicLockKey int64 = 0x74656e616e7431 // "tenant1"

const publicLedgerDDL = `CREATE TABLE IF NOT EXISTS public.schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// MigratePublic applies the pending public migrations in one transaction and
// returns their versions (none when the schema is current). Concurrent runs
// queue on an advisory lock, so each migration applies once. On error nothing
// is applied; the error is CodeUnavailable when the database could not be
// reached and CodeInternal otherwise.
func (m *Migrator) MigratePublic(ctx context.Context) (applied []int, err error) {
	err = inTx(ctx, m.db.owner, func(tx pgx.Tx) error {
		applied = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::bigint)`, publicLockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, publicLedgerDDL); err != nil {
			return err
		}
		done, err := ledger(ctx, tx, `SELECT version FROM public.schema_migrations`)
		if err != nil {
			return err
		}
		todo := pending(publicMigrations, done)
		for _, mg := range todo {
			if _, err := tx.Exec(ctx, mg.SQL); err != nil {
				return fmt.Errorf("public migration %04d_%s: %w", mg.Version, mg.Name, err)
			}
			applied = append(applied, mg.Version)
		}
		return record(ctx, tx, `INSERT INTO public.schema_migrations (version, name)
			SELECT * FROM unnest($1::integer[], $2::text[])`, todo)
	})
	if err != nil {
		return nil, translate(err, publicScope)
	}
	return applied, nil
}

// ledger returns the versions a ledger query lists.
func ledger(ctx context.Context, tx pgx.Tx, query string) ([]int, error) {
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// record adds ms to a ledger with one statement taking the versions and the
// names as two arrays.
func record(ctx context.Context, tx pgx.Tx, insert string, ms []Migration) error {
	if len(ms) == 0 {
		return nil
	}
	versions, names := ledgerRows(ms)
	_, err := tx.Exec(ctx, insert, versions, names)
	return err
}

// queueRecord is record as part of a batch.
func queueRecord(b *pgx.Batch, insert string, ms []Migration) {
	if len(ms) > 0 {
		versions, names := ledgerRows(ms)
		b.Queue(insert, versions, names)
	}
}

func ledgerRows(ms []Migration) (versions []int32, names []string) {
	versions = make([]int32, len(ms))
	names = make([]string, len(ms))
	for i, mg := range ms {
		versions[i], names[i] = int32(mg.Version), mg.Name
	}
	return versions, names
}

const tenantLedgerDDL = `CREATE TABLE {{schema}}.schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// tenantLedgerInsert records migrations in a tenant's ledger (see record).
const tenantLedgerInsert = `INSERT INTO {{schema}}.schema_migrations (version, name)
		SELECT * FROM unnest($1::integer[], $2::text[])`

// applyTenant runs ms in tx in order and records them in the tenant's
// ledger. A failure names the migration; tx must then be rolled back.
func applyTenant(ctx context.Context, tx pgx.Tx, id tenantapi.TenantID, ms []Migration) error {
	for _, mg := range ms {
		if _, err := tx.Exec(ctx, forTenant(mg.SQL, id)); err != nil {
			return migrationError(mg, err)
		}
	}
	return record(ctx, tx, forTenant(tenantLedgerInsert, id), ms)
}

// migrationError names the tenant migration that failed with err.
func migrationError(mg Migration, err error) error {
	return fmt.Errorf("tenant migration %04d_%s: %w", mg.Version, mg.Name, err)
}
