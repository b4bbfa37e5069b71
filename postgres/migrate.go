package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Migrator applies migrations: the public schema's, and each tenant
// schema's two tracks, the product's own and the application set (see
// tracks.go). Every migration runs inside a transaction, so it must not
// contain transaction control or statements that refuse to run in one
// (CREATE INDEX CONCURRENTLY).
type Migrator struct {
	db  *DB
	app []Migration
}

// NewMigrator returns a Migrator for db with db's application set
// (Config.ApplicationSet). A nil db (for tests of pure functions) gets the
// built-in set.
func NewMigrator(db *DB) *Migrator {
	if db == nil {
		return &Migrator{app: builtinMigrations}
	}
	return &Migrator{db: db, app: db.app}
}

// WithTenantMigrations returns a copy of m whose application set also has
// extra, in version order. It exists so tests can exercise upgrades and
// failures; it panics when two migrations share a version, a programming
// mistake.
func (m *Migrator) WithTenantMigrations(extra ...Migration) *Migrator {
	ms, err := sortMigrations(append(slices.Clone(m.app), extra...))
	if err != nil {
		panic(err)
	}
	return &Migrator{db: m.db, app: ms}
}

// LatestTenantVersion returns the version of the newest file of m's
// application set.
func (m *Migrator) LatestTenantVersion() int { return latest(m.app) }

// CheckApplicationSet returns an error wrapping ErrMigrationChanged, naming
// the file, when a file of m's application set that some tenant has applied
// was changed or removed; newer allows applied versions past the set's
// newest (see checkApplied). It reads one small public table.
func (m *Migrator) CheckApplicationSet(ctx context.Context, newer bool) error {
	rows, err := m.db.owner.Query(ctx, fleetLedgerSQL)
	if err != nil {
		if isUndefinedTable(err) {
			return nil // public not migrated yet: nothing was applied
		}
		return translate(err, publicScope)
	}
	done, err := pgx.CollectRows(rows, pgx.RowToStructByPos[appliedMigration])
	if err != nil {
		return translate(err, publicScope)
	}
	return checkApplied(m.app, done, newer)
}

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
		// FROM the function: its result is void, which the Data API cannot answer.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM pg_advisory_xact_lock($1::bigint)`, publicLockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, publicLedgerDDL); err != nil {
			return err
		}
		done, err := ledger(ctx, tx, `SELECT version FROM public.schema_migrations`)
		if err != nil {
			return err
		}
		todo := publicPending(done)
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
	if err := m.RecordSchemas(ctx); err != nil {
		return applied, err
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

// record adds ms to the public ledger with one statement taking the
// versions and the names as two arrays.
func record(ctx context.Context, tx pgx.Tx, insert string, ms []Migration) error {
	if len(ms) == 0 {
		return nil
	}
	versions := make([]int32, len(ms))
	names := make([]string, len(ms))
	for i, mg := range ms {
		versions[i], names[i] = int32(mg.Version), mg.Name
	}
	_, err := tx.Exec(ctx, insert, versions, names)
	return err
}

func publicPending(done []int) []Migration {
	var out []Migration
	for _, mg := range publicMigrations {
		if !slices.Contains(done, mg.Version) {
			out = append(out, mg)
		}
	}
	return out
}
