package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// MigrateOptions tunes MigrateTenants.
type MigrateOptions struct {
	// Tenant limits the run to one tenant; "" migrates every tenant.
	Tenant tenantapi.TenantID
	// Concurrency is how many tenants migrate at once; below 1 means 4.
	Concurrency int
	// Progress, when set, is called after each tenant that had to be
	// looked at closely (its mirrored version was behind), with how many of
	// those are done and how many there are. Calls never overlap.
	Progress func(done, total int)
}

// TenantFailure is a tenant whose migrations failed and were rolled back.
type TenantFailure struct {
	Tenant tenantapi.TenantID
	Err    error
}

// Report is the outcome of MigrateTenants.
type Report struct {
	// Total is the number of tenants the run covered: those not being
	// deleted when it started.
	Total int
	// Migrated counts tenants that had migrations applied.
	Migrated int
	// UpToDate counts tenants that needed nothing, including those deleted
	// while the run went on.
	UpToDate int
	// Failed lists tenants left at their previous version, by id.
	Failed []TenantFailure
	// Complete is false when the run stopped early because its context
	// was done; running it again continues.
	Complete bool
}

// defaultConcurrency keeps a migration run from taking more than a few of
// the database's connections.
const defaultConcurrency = 4

// MigrateTenants brings tenant schemas to m's latest version. Each tenant
// migrates in its own transaction under a lock on its registry row, so two
// runs at once never apply a migration twice, and a tenant that fails stays
// at its previous version (with the error recorded in
// public.tenants.migration_error) while the run goes on with the rest. When
// ctx is done it stops taking tenants and returns with Complete false; a
// tenant in progress then rolls back as a whole.
//
// It returns an error, and no report, only when the tenants to migrate
// cannot be listed; for opts.Tenant that includes ErrTenantNotFound.
func (m *Migrator) MigrateTenants(ctx context.Context, opts MigrateOptions) (Report, error) {
	todo, upToDate, err := m.tenantsBehind(ctx, opts.Tenant)
	if err != nil {
		return Report{}, translate(err, registryScope)
	}
	r := run{m: m, opts: opts, total: len(todo)}
	r.report.Total = upToDate + len(todo)
	r.report.UpToDate = upToDate

	workers := opts.Concurrency
	if workers < 1 {
		workers = defaultConcurrency
	}
	ids := make(chan tenantapi.TenantID)
	var wg sync.WaitGroup
	for range min(workers, len(todo)) {
		wg.Go(func() {
			for id := range ids {
				r.migrate(ctx, id)
			}
		})
	}
feed:
	for _, id := range todo {
		select {
		case ids <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(ids)
	wg.Wait()

	slices.SortFunc(r.report.Failed, func(a, b TenantFailure) int { return cmp.Compare(a.Tenant, b.Tenant) })
	r.report.Complete = r.done == len(todo)
	return r.report, nil
}

// tenantsBehind returns the tenants whose mirrored schema version is behind,
// by id, and how many others there are. With one tenant named, it is
// returned whatever its mirror says: the ledger is checked under the lock.
func (m *Migrator) tenantsBehind(ctx context.Context, one tenantapi.TenantID) (todo []tenantapi.TenantID, upToDate int, err error) {
	if one != "" {
		var status tenantapi.TenantStatus
		err := m.db.owner.QueryRow(ctx, `SELECT status FROM public.tenants WHERE id = $1`, string(one)).Scan(&status)
		if err == nil && status == tenantapi.TenantDeleting {
			err = tenantapi.ErrTenantNotFound
		}
		return []tenantapi.TenantID{one}, 0, err
	}
	err = m.db.owner.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE schema_version >= $1),
		       coalesce(array_agg(id ORDER BY id) FILTER (WHERE schema_version < $1), '{}')
		FROM public.tenants
		WHERE status <> 'deleting'`, m.LatestTenantVersion()).Scan(&upToDate, &todo)
	return todo, upToDate, err
}

// run is the shared state of one MigrateTenants call.
type run struct {
	m     *Migrator
	opts  MigrateOptions
	total int

	mu     sync.Mutex
	done   int
	report Report
}

// migrate migrates one tenant and records the outcome.
func (r *run) migrate(ctx context.Context, id tenantapi.TenantID) {
	if ctx.Err() != nil {
		return
	}
	applied, err := r.m.migrateTenant(ctx, id)
	if err != nil && ctx.Err() != nil {
		// Stopped, not failed: the transaction rolled back and the next
		// run picks the tenant up again.
		return
	}
	if err != nil {
		r.m.recordFailure(ctx, id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.report.Failed = append(r.report.Failed, TenantFailure{Tenant: id, Err: translate(err, publicScope)})
	case applied:
		r.report.Migrated++
	default:
		r.report.UpToDate++
	}
	r.done++
	if r.opts.Progress != nil {
		r.opts.Progress(r.done, r.total)
	}
}

// migrateTenant applies the tenant's pending migrations in one transaction
// and reports whether there were any. The registry row is locked first and
// the ledger read after, so a concurrent run that got there first is seen.
func (m *Migrator) migrateTenant(ctx context.Context, id tenantapi.TenantID) (applied bool, err error) {
	err = inTx(ctx, m.db.owner, func(tx pgx.Tx) error {
		var status tenantapi.TenantStatus
		err := tx.QueryRow(ctx, `SELECT status FROM public.tenants WHERE id = $1 FOR UPDATE`, string(id)).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) || status == tenantapi.TenantDeleting {
			return nil // deleted or going: nothing to migrate
		}
		if err != nil {
			return err
		}
		done, err := ledger(ctx, tx, forTenant(`SELECT version FROM {{schema}}.schema_migrations`, id))
		if err != nil {
			return err
		}
		todo := pending(m.tenant, done)
		if err := applyTenant(ctx, tx, id, todo); err != nil {
			return err
		}
		applied = len(todo) > 0
		if applied {
			// New tables need the tenant role's grants too.
			if err := m.db.grantTenant(ctx, tx, id); err != nil {
				return err
			}
		}
		version := m.LatestTenantVersion()
		if len(done) > 0 {
			// A newer binary may have applied migrations this one lacks.
			version = max(version, slices.Max(done))
		}
		_, err = tx.Exec(ctx, `UPDATE public.tenants SET schema_version = $2, migration_error = NULL
			WHERE id = $1 AND (schema_version <> $2 OR migration_error IS NOT NULL)`, string(id), version)
		return err
	})
	return applied, err
}

// recordFailure notes err on the tenant's registry row for operators. It is
// best effort: the run's report carries the error too.
func (m *Migrator) recordFailure(ctx context.Context, id tenantapi.TenantID, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = m.db.owner.Exec(ctx, `UPDATE public.tenants SET migration_error = $2 WHERE id = $1`, string(id), err.Error())
}
