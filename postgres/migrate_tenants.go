package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
	if err := m.CheckApplicationSet(ctx, false); err != nil {
		return Report{}, err
	}
	// Serving processes learn each version's shape from the record.
	if err := m.RecordSchemas(ctx); err != nil {
		return Report{}, err
	}
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
	ids := make(chan placedTenant)
	var wg sync.WaitGroup
	for range min(workers, len(todo)) {
		wg.Go(func() {
			for t := range ids {
				r.migrate(ctx, t)
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

// placedTenant is a tenant id and the database the registry placed it in.
type placedTenant struct {
	id       tenantapi.TenantID
	database string
}

// tenantsBehind returns the tenants whose mirrored schema version is behind,
// by id, and how many others there are. With one tenant named, it is
// returned whatever its mirror says: the ledger is checked under the lock.
func (m *Migrator) tenantsBehind(ctx context.Context, one tenantapi.TenantID) (todo []placedTenant, upToDate int, err error) {
	if one != "" {
		var status tenantapi.TenantStatus
		t := placedTenant{id: one}
		err := m.db.owner.QueryRow(ctx, `SELECT status, database FROM public.tenants WHERE id = $1`, string(one)).Scan(&status, &t.database)
		if err == nil && status == tenantapi.TenantDeleting {
			err = tenantapi.ErrTenantNotFound
		}
		return []placedTenant{t}, 0, err
	}
	var (
		ids []tenantapi.TenantID
		dbs []string
	)
	err = m.db.owner.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE schema_version >= $1 AND product_version >= $2),
		       coalesce(array_agg(id ORDER BY id) FILTER (WHERE schema_version < $1 OR product_version < $2), '{}'),
		       coalesce(array_agg(database ORDER BY id) FILTER (WHERE schema_version < $1 OR product_version < $2), '{}')
		FROM public.tenants
		WHERE status <> 'deleting'`, m.LatestTenantVersion(), LatestProductVersion()).Scan(&upToDate, &ids, &dbs)
	for i, id := range ids {
		todo = append(todo, placedTenant{id: id, database: dbs[i]})
	}
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
func (r *run) migrate(ctx context.Context, t placedTenant) {
	if ctx.Err() != nil {
		return
	}
	id := t.id
	applied, err := r.m.migrateTenant(ctx, t.id, t.database)
	var moved errMovedMeanwhile
	if errors.As(err, &moved) {
		// A move finished between the listing and the lock.
		applied, err = r.m.migrateTenant(ctx, t.id, string(moved))
	}
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
//
// At thousands of tenants the run is bound by round trips, so the
// statements that need no answer in between are pipelined: BEGIN, the lock
// and the ledger read go as one batch; each migration is one exchange (it
// may hold several statements); the ledger insert, the check of the tenant
// role's grants and the registry update go as a second batch; then COMMIT.
// Four round trips for one migration, where each statement on its own took
// fifteen. The grants are only checked (one catalog query on indexes): the
// tenant role is granted again only when something is missing, such as a
// table a migration created.
func (m *Migrator) migrateTenant(ctx context.Context, id tenantapi.TenantID, database string) (applied bool, err error) {
	st, err := m.db.site(ctx, database)
	if err != nil {
		return false, err
	}
	reg, err := m.db.owner.session(ctx)
	if err != nil {
		return false, err
	}
	defer reg.release()
	// The registry row is locked in the control database (reg), the
	// schema migrated in the tenant's (sch): one session for a tenant of
	// main.
	sch := reg
	if st != m.db.main {
		if sch, err = st.owner.session(ctx); err != nil {
			return false, err
		}
		defer sch.release()
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Roll back on a context of its own: ctx may be why it failed.
		// If even that fails, the pool drops the connection, and the
		// server rolls back with it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if sch != reg && sch.inTx() {
			_, _ = sch.Exec(rctx, `ROLLBACK`)
		}
		if reg.inTx() {
			_, _ = reg.Exec(rctx, `ROLLBACK`)
		}
	}()

	var (
		status tenantapi.TenantStatus
		placed string
		moving bool
		done   ledgers
		legacy bool
	)
	queueStart := func(b *pgx.Batch) {
		b.Queue(`BEGIN`)
		b.Queue(`SELECT t.status, t.database, EXISTS (SELECT 1 FROM public.tenant_moves mv WHERE mv.tenant_uid = t.uid)
			FROM public.tenants t WHERE t.id = $1 FOR UPDATE OF t`, string(id)).QueryRow(func(row pgx.Row) error {
			return row.Scan(&status, &placed, &moving)
		})
	}
	first := &pgx.Batch{}
	queueStart(first)
	ledgerBatch := first
	if sch != reg {
		ledgerBatch = &pgx.Batch{}
		ledgerBatch.Queue(`BEGIN`)
	}
	queueLedgerRead(ledgerBatch, id, &done)
	err = reg.SendBatch(ctx, first).Close()
	if err == nil && sch != reg && status != tenantapi.TenantDeleting && placed == st.name && !moving {
		err = sch.SendBatch(ctx, ledgerBatch).Close()
	}
	if isUndefinedTable(err) && status != tenantapi.TenantDeleting && placed == st.name && sch == reg {
		// Made before the tracks: start over on the legacy path.
		if reg.inTx() {
			if _, err := reg.Exec(ctx, `ROLLBACK`); err != nil {
				return false, err
			}
		}
		status, done, legacy = "", ledgers{}, true
		again := &pgx.Batch{}
		queueStart(again)
		again.Queue(setSearchPath, quotedSchema(id))
		err = reg.SendBatch(ctx, again).Close()
	}
	if err != nil {
		if status == "" && errors.Is(err, pgx.ErrNoRows) || status == tenantapi.TenantDeleting {
			return false, nil // deleted or going: nothing to migrate
		}
		return false, err
	}
	switch {
	case status == tenantapi.TenantDeleting:
		return false, nil
	case placed != st.name:
		return false, errMovedMeanwhile(placed)
	case moving:
		return false, errors.New("the tenant is moving to another database; migrate it once the move is done")
	}
	if legacy {
		if done.app, err = m.carryLegacyLedger(ctx, reg, id); err != nil {
			return false, err
		}
	}

	product, app, err := m.applyPending(ctx, sch, done)
	if err != nil {
		return false, err
	}
	applied = legacy || len(product) > 0 || len(app) > 0
	var missing bool
	second := &pgx.Batch{}
	schBatch := second
	if sch != reg {
		schBatch = &pgx.Batch{}
	}
	if applied {
		queueRecord(second, schBatch, id, product, app)
		// New tables need the tenant role's grants too.
		schBatch.Queue(grantsMissingSQL, st.tenantRole(id), id.Schema(), st.runtimeRole).QueryRow(func(row pgx.Row) error {
			return row.Scan(&missing)
		})
	}
	// A new schema_version moves updated_at, so the change feed tells
	// serving processes to forget the tenant's cached shape.
	second.Queue(`UPDATE public.tenants SET schema_version = $2, product_version = $3, migration_error = NULL,
			updated_at = CASE WHEN schema_version <> $2 THEN now() ELSE updated_at END
		WHERE id = $1 AND (schema_version <> $2 OR product_version <> $3 OR migration_error IS NOT NULL)`,
		string(id), versionsAfter(done.app, m.app), versionsAfter(done.product, productMigrations))
	if sch != reg && len(schBatch.QueuedQueries) > 0 {
		if err := sch.SendBatch(ctx, schBatch).Close(); err != nil {
			return false, err
		}
	}
	if err := reg.SendBatch(ctx, second).Close(); err != nil {
		return false, err
	}
	if missing {
		if err := st.grantTenant(ctx, sch, id); err != nil {
			return false, err
		}
	}
	// The tenant's database commits first: a control database lost right
	// after leaves the schema migrated and its mirror behind, which the
	// next run puts right from the ledger.
	if sch != reg {
		if err := commit(ctx, sch); err != nil {
			return false, err
		}
	}
	if err := commit(ctx, reg); err != nil {
		return false, err
	}
	committed = true
	return applied, nil
}

// commit commits the session's transaction.
func commit(ctx context.Context, c session) error {
	tag, err := c.Exec(ctx, `COMMIT`)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tag.String() != "COMMIT" {
		// COMMIT of a failed transaction answers ROLLBACK, not an error.
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// errMovedMeanwhile is the database a tenant was found in under its lock,
// when that is not where the listing placed it.
type errMovedMeanwhile string

func (e errMovedMeanwhile) Error() string { return "the tenant moved to database " + string(e) }

// recordFailure notes err on the tenant's registry row for operators. It is
// best effort: the run's report carries the error too.
func (m *Migrator) recordFailure(ctx context.Context, id tenantapi.TenantID, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = m.db.owner.Exec(ctx, `UPDATE public.tenants SET migration_error = $2 WHERE id = $1`, string(id), err.Error())
}
