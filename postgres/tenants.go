package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// TenantStore is the tenant registry (public.tenants) and the tenant
// schemas. It implements tenantapi.TenantStore and tenantapi.Lookup.
type TenantStore struct {
	db      *DB
	m       *Migrator
	schemas *SchemaStore // the resources each version has, for usage
}

var (
	_ tenantapi.TenantStore = (*TenantStore)(nil)
	_ tenantapi.Lookup      = (*TenantStore)(nil)
)

// NewTenantStore returns a TenantStore on db whose new tenants get m's tenant
// migrations; a nil m means the embedded ones.
func NewTenantStore(db *DB, m *Migrator) *TenantStore {
	if m == nil {
		m = NewMigrator(db)
	}
	return &TenantStore{db: db, m: m, schemas: NewSchemaStore(db)}
}

const tenantColumns = `id, uid, name, status, schema_version, created_at, updated_at, rate_limit_rps, rate_limit_burst, database`

func scanTenant(row pgx.Row) (tenantapi.Tenant, error) {
	var (
		t     tenantapi.Tenant
		rps   *float64
		burst *int
	)
	err := row.Scan(&t.ID, &t.UID, &t.Name, &t.Status, &t.SchemaVersion, &t.CreatedAt, &t.UpdatedAt, &rps, &burst, &t.Database)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	t.RateLimit = rateLimitOf(rps, burst)
	return t, err
}

// CreateTenant creates a tenant where automatic placement puts it; see
// CreateTenantIn.
func (s *TenantStore) CreateTenant(ctx context.Context, id tenantapi.TenantID, name string) (tenantapi.Tenant, error) {
	return s.CreateTenantIn(ctx, id, name, "")
}

// CreateTenantIn creates the registry row, the schema, its ledger and
// every tenant migration in database ("" places it in the non-draining
// database with the fewest tenants): they commit together or not at all
// (see inPlaced). It returns ErrTenantExists when the id is taken (by a
// tenant in any status, or by a schema left behind), an *Error with
// CodeInvalidTenantID for an id that does not match the grammar,
// CodeValidationFailed for an unknown database, CodeUnavailable when a
// database cannot be reached and CodeInternal when a migration fails.
func (s *TenantStore) CreateTenantIn(ctx context.Context, id tenantapi.TenantID, name, database string) (tenantapi.Tenant, error) {
	// id becomes part of DDL; TenantID may have been made by a conversion.
	if _, err := tenantapi.ParseTenantID(string(id)); err != nil {
		return tenantapi.Tenant{}, err
	}
	// Serving processes learn the new tenant's shape from the record (one
	// small read when it is there already, as after migrate).
	if err := s.m.RecordSchemas(ctx); err != nil {
		return tenantapi.Tenant{}, err
	}
	st, err := s.db.placement(ctx, database)
	if err != nil {
		return tenantapi.Tenant{}, err
	}
	var t tenantapi.Tenant
	err = s.db.inPlaced(ctx, st, id, func(reg, sch pgx.Tx) error {
		// The row goes first: a racing create of the same id waits on the
		// primary key and then fails there, before touching any DDL.
		var err error
		t, err = scanTenant(reg.QueryRow(ctx, `INSERT INTO public.tenants (id, name, schema_version, product_version, database)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+tenantColumns, string(id), name, s.m.LatestTenantVersion(), LatestProductVersion(), st.name))
		if err != nil {
			return err
		}
		if err := s.createSchema(ctx, reg, sch, id); err != nil {
			return err
		}
		product, app, err := s.m.applyPending(ctx, sch, ledgers{})
		if err != nil {
			return err
		}
		if err := sendRecord(ctx, reg, sch, id, product, app); err != nil {
			return err
		}
		return st.grantTenant(ctx, sch, id)
	})
	if err != nil {
		return tenantapi.Tenant{}, translate(err, publicScope)
	}
	return t, nil
}

// placement returns the database a new tenant goes to: the one named, or
// the non-draining one with the fewest tenants (main first on a tie).
func (db *DB) placement(ctx context.Context, name string) (*site, error) {
	if name != "" {
		if name == MainDatabase {
			return db.main, nil
		}
		if _, err := db.database(ctx, name); err != nil {
			msg := "no database is named " + strconv.Quote(name)
			return nil, &tenantapi.Error{Code: tenantapi.CodeValidationFailed, Detail: msg,
				Fields: []tenantapi.FieldError{{Field: "/database", Message: msg}}}
		}
		return db.site(ctx, name)
	}
	err := db.owner.QueryRow(ctx, `SELECT d.name FROM public.databases d WHERE NOT d.draining
		ORDER BY (SELECT count(*) FROM public.tenants t WHERE t.database = d.name), d.name <> 'main', d.name
		LIMIT 1`).Scan(&name)
	switch {
	case isUndefinedTable(err):
		return db.main, nil // a control database from before databases
	case errors.Is(err, pgx.ErrNoRows):
		return nil, tenantapi.Errorf(tenantapi.CodeConflict, "every database is draining: name one for the tenant")
	case err != nil:
		return nil, translate(err, publicScope)
	}
	return db.site(ctx, name)
}

// inPlaced runs fn in a transaction of the control database (reg, for the
// registry) and, for tenant id of another database st, one of that
// database (sch, for the schema); for a tenant of main they are one
// transaction. The tenant's database commits first, then the control
// database. Should the control database fail between (lost right then),
// the schema just committed is dropped again unless the registry places
// id there: nothing is left that no registry row names.
func (db *DB) inPlaced(ctx context.Context, st *site, id tenantapi.TenantID, fn func(reg, sch pgx.Tx) error) error {
	committed := false
	err := inTx(ctx, db.owner, func(reg pgx.Tx) error {
		if st == db.main {
			return fn(reg, reg)
		}
		err := inTx(ctx, st.owner, func(sch pgx.Tx) error { return fn(reg, sch) })
		committed = err == nil
		return err
	})
	if err != nil && committed {
		db.dropUnplaced(ctx, st, id)
	}
	return err
}

// dropUnplaced drops the schema and role of id in st unless the registry
// places id there, best effort.
func (db *DB) dropUnplaced(ctx context.Context, st *site, id tenantapi.TenantID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var placed bool
	if err := db.owner.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.tenants WHERE id = $1 AND database = $2)`, string(id), st.name).Scan(&placed); err != nil || placed {
		return
	}
	_ = inTx(ctx, st.owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, forTenant(`DROP SCHEMA IF EXISTS {{schema}} CASCADE`, id)); err != nil {
			return err
		}
		return st.dropTenantRole(ctx, tx, id)
	})
}

// Tenant returns the tenant with id, in any status, or ErrTenantNotFound.
func (s *TenantStore) Tenant(ctx context.Context, id tenantapi.TenantID) (tenantapi.Tenant, error) {
	t, err := scanTenant(s.db.owner.QueryRow(ctx, `SELECT `+tenantColumns+` FROM public.tenants WHERE id = $1`, string(id)))
	return t, translate(err, registryScope)
}

// Tenants returns up to page.Limit tenants (DefaultPageLimit when it is not
// positive) ordered by id, after the id page.After.
func (s *TenantStore) Tenants(ctx context.Context, page tenantapi.Page) ([]tenantapi.Tenant, error) {
	limit := page.Limit
	if limit <= 0 {
		limit = tenantapi.DefaultPageLimit
	}
	rows, err := s.db.owner.Query(ctx, `SELECT `+tenantColumns+` FROM public.tenants
		WHERE id > $1 ORDER BY id LIMIT $2`, page.After, limit)
	if err != nil {
		return nil, translate(err, publicScope)
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tenantapi.Tenant, error) { return scanTenant(row) })
	return ts, translate(err, publicScope)
}

// UpdateTenant applies u and returns the tenant. A tenant that is being
// deleted, or absent, gives ErrTenantNotFound. Deleting is not a status this
// path sets (MarkTenantDeleting does, with the keys): asking for it, or for
// an unknown status, gives CodeValidationFailed.
func (s *TenantStore) UpdateTenant(ctx context.Context, id tenantapi.TenantID, u tenantapi.TenantUpdate) (tenantapi.Tenant, error) {
	var status *string
	if u.Status != nil {
		if *u.Status != tenantapi.TenantActive && *u.Status != tenantapi.TenantSuspended {
			return tenantapi.Tenant{}, &tenantapi.Error{
				Code:   tenantapi.CodeValidationFailed,
				Detail: "status must be active or suspended",
				Fields: []tenantapi.FieldError{{Field: "/status", Message: "must be active or suspended"}},
			}
		}
		status = (*string)(u.Status)
	}
	if u.SetRateLimit && u.RateLimit != nil && !u.RateLimit.Valid() {
		return tenantapi.Tenant{}, errInvalidRateLimit
	}
	var row pgx.Row
	if u.Name == nil && status == nil && !u.SetRateLimit {
		row = s.db.owner.QueryRow(ctx, `SELECT `+tenantColumns+` FROM public.tenants
			WHERE id = $1 AND status <> 'deleting'`, string(id))
	} else {
		rps, burst := rateLimitArgs(u.RateLimit)
		row = s.db.owner.QueryRow(ctx, `UPDATE public.tenants
			SET name = coalesce($2, name), status = coalesce($3, status), updated_at = now(),
			    rate_limit_rps = CASE WHEN $4::boolean THEN $5::double precision ELSE rate_limit_rps END,
			    rate_limit_burst = CASE WHEN $4::boolean THEN $6::integer ELSE rate_limit_burst END
			WHERE id = $1 AND status <> 'deleting'
			RETURNING `+tenantColumns, string(id), u.Name, status, u.SetRateLimit, rps, burst)
	}
	t, err := scanTenant(row)
	return t, translate(err, registryScope)
}

// MarkTenantDeleting sets the tenant's status to deleting and revokes its
// keys in one transaction. It returns the time the tenant was first marked
// (repeated calls keep it), ErrTenantNotFound, or CodeUnavailable.
func (s *TenantStore) MarkTenantDeleting(ctx context.Context, id tenantapi.TenantID) (time.Time, error) {
	var since time.Time
	err := inTx(ctx, s.db.owner, func(tx pgx.Tx) error {
		var moving bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.tenant_moves m JOIN public.tenants t ON t.uid = m.tenant_uid WHERE t.id = $1)`,
			string(id)).Scan(&moving); err != nil {
			return err
		}
		if moving {
			return tenantapi.Errorf(tenantapi.CodeConflict, "tenant %s is being moved to another database: finish or abort the move first", id)
		}
		var uid int64
		err := tx.QueryRow(ctx, `UPDATE public.tenants
			SET status = 'deleting',
			    deleting_since = coalesce(deleting_since, now()),
			    updated_at = CASE WHEN status = 'deleting' THEN updated_at ELSE now() END
			WHERE id = $1
			RETURNING uid, deleting_since`, string(id)).Scan(&uid, &since)
		if err != nil {
			return err
		}
		// A separate statement, so it sees keys committed by a CreateKey
		// that held the row until the UPDATE above could lock it.
		_, err = tx.Exec(ctx, `UPDATE public.api_keys SET revoked_at = now()
			WHERE tenant_uid = $1 AND revoked_at IS NULL`, uid)
		return err
	})
	return since.UTC(), translate(err, registryScope)
}

// errNotDeleting refuses to drop a tenant nobody marked.
var errNotDeleting = tenantapi.Errorf(tenantapi.CodeConflict, "tenant is not marked for deletion")

// DropTenant drops the schema and the registry row (and with it, by
// cascade, the keys) of a tenant marked deleting, in one transaction that
// waits at most lockTimeout (at least a millisecond) for any lock. When a
// lock cannot be had it returns CodeUnavailable and the tenant stays
// deleting, so repeating the call finishes it. It returns ErrTenantNotFound
// for an absent tenant and CodeConflict for one not marked deleting.
func (s *TenantStore) DropTenant(ctx context.Context, id tenantapi.TenantID, lockTimeout time.Duration) error {
	if _, err := tenantapi.ParseTenantID(string(id)); err != nil {
		return tenantapi.ErrTenantNotFound
	}
	ms := strconv.FormatInt(max(lockTimeout.Milliseconds(), 1), 10) + "ms"
	err := inTx(ctx, s.db.owner, func(tx pgx.Tx) error {
		// set_config(..., true) is SET LOCAL: it ends with the transaction,
		// so the pooled connection goes back unchanged.
		if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, ms); err != nil {
			return err
		}
		var (
			status   tenantapi.TenantStatus
			uid      int64
			database string
		)
		err := tx.QueryRow(ctx, `SELECT status, uid, database FROM public.tenants WHERE id = $1 FOR UPDATE`, string(id)).Scan(&status, &uid, &database)
		if err != nil {
			return err
		}
		if status != tenantapi.TenantDeleting {
			return errNotDeleting
		}
		st, err := s.db.site(ctx, database)
		if err != nil {
			return err
		}
		drop := func(sch pgx.Tx) error {
			// IF EXISTS: a schema someone dropped by hand must not keep
			// the registry row alive forever.
			if _, err := sch.Exec(ctx, forTenant(`DROP SCHEMA IF EXISTS {{schema}} CASCADE`, id)); err != nil {
				return err
			}
			return st.dropTenantRole(ctx, sch, id)
		}
		if st == s.db.main {
			err = drop(tx)
		} else {
			err = inTx(ctx, st.owner, func(sch pgx.Tx) error {
				if _, err := sch.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, ms); err != nil {
					return err
				}
				return drop(sch)
			})
		}
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `DELETE FROM public.tenants WHERE id = $1`, string(id)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO public.tenant_tombstones (id, uid) VALUES ($1, $2)`, string(id), uid)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM public.tenant_tombstones WHERE deleted_at < now() - make_interval(secs => $1)`, tombstoneRetention.Seconds())
		return err
	})
	return translate(err, registryScope)
}

// TenantStatus returns the tenant's identity, status (deleting included:
// the caller treats it as absent) and own rate limit (nil: the default), or
// ErrTenantNotFound. It is one primary key lookup on the runtime pool, for
// the request path.
func (s *TenantStore) TenantStatus(ctx context.Context, id tenantapi.TenantID) (tenantapi.TenantRef, tenantapi.TenantStatus, *tenantapi.RateLimit, error) {
	ref := tenantapi.TenantRef{ID: id}
	var (
		status tenantapi.TenantStatus
		rps    *float64
		burst  *int
	)
	err := s.db.runtime.QueryRow(ctx, `SELECT t.uid, t.schema_version, t.status, t.rate_limit_rps, t.rate_limit_burst, t.database,
			EXISTS (SELECT 1 FROM public.tenant_moves m WHERE m.tenant_uid = t.uid)
		FROM public.tenants t WHERE t.id = $1`, string(id)).
		Scan(&ref.UID, &ref.Version, &status, &rps, &burst, &ref.Database, &ref.Moving)
	if err != nil {
		return tenantapi.TenantRef{}, "", nil, translate(err, registryScope)
	}
	return ref, status, rateLimitOf(rps, burst), nil
}
