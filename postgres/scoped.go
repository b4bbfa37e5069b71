package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantapi/tenantapi"
)

// tenantRow, tenantRows, tenantExec and tenantBatch run statements of tenant
// t on the runtime pool of t's database, through routed: a stale placement
// is corrected with one retry. With tenant roles on, the statement is
// pipelined after set_config('role', <tenant role>, true): both go in one
// batch, so one round trip and one implicit transaction, and the role ends
// with it. While the tenant is being moved (TenantRef.Moving), a
// set_config of lock_timeout goes with it the same way (see routed).

// setRoleSQL switches to a tenant's role until the end of the transaction,
// and bounds the statement by what is left of the request's deadline: a
// cancel that the client sends at its deadline can reach the server before
// the statement does and be lost, while a statement_timeout cannot.
const setRoleSQL = `SELECT set_config('role', $1, true), set_config('statement_timeout', $2, true)`

// movingLockTimeout bounds how long a statement of a tenant being moved
// waits for a lock: one that meets the move's write hold gives its
// connection back at once and waits for the flip without it (routed), so
// that the hold does not take the pool from the database's other tenants.
const movingLockTimeout = "20ms"

// prelude returns the statement that goes before each of t's statements in
// their batch, and its arguments; "" when none does.
func (db *DB) prelude(ctx context.Context, s *site, t tenantapi.TenantRef) (string, []any) {
	switch {
	case db.tenantRoles && t.Moving:
		return setRoleSQL + `, set_config('lock_timeout', $3, true)`, []any{s.tenantRole(t.ID), statementTimeout(ctx), movingLockTimeout}
	case db.tenantRoles:
		return setRoleSQL, []any{s.tenantRole(t.ID), statementTimeout(ctx)}
	case t.Moving:
		return `SELECT set_config('lock_timeout', $1, true)`, []any{movingLockTimeout}
	}
	return "", nil
}

// statementTimeout returns what is left of ctx's deadline in milliseconds,
// as statement_timeout takes it ("0": none).
func statementTimeout(ctx context.Context) string {
	d, ok := ctx.Deadline()
	if !ok {
		return "0"
	}
	return strconv.FormatInt(max(time.Until(d).Milliseconds(), 1), 10)
}

// tenantRow runs a statement that answers one row; Scan reads it.
func (db *DB) tenantRow(ctx context.Context, t tenantapi.TenantRef, sql string, args ...any) pgx.Row {
	return &tenantRow{db: db, ctx: ctx, t: t, sql: sql, args: args}
}

// tenantRun runs fn on the driver that serves t's statements on s, and
// once more when it fails with an error a second attempt may cure (see
// driver.retryable).
func tenantRun(s *site, t tenantapi.TenantRef, fn func(d driver) error) error {
	d := s.runtime.forTenant(t.ID)
	err := fn(d)
	if d.retryable(err) {
		err = fn(d)
	}
	return err
}

// tenantRows runs a statement and hands its rows to each, which reads them
// all (or fails); the rows are closed after.
func (db *DB) tenantRows(ctx context.Context, t tenantapi.TenantRef, sql string, args []any, each func(pgx.Rows) error) error {
	return db.routed(ctx, t, func(s *site, t tenantapi.TenantRef) error {
		return tenantRun(s, t, func(d driver) error {
			rows, err := db.query(ctx, d, s, t, sql, args)
			if err != nil {
				return err
			}
			defer rows.Close()
			if err := each(rows); err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		})
	})
}

// query runs one statement of t on d, a driver of s.
func (db *DB) query(ctx context.Context, d driver, s *site, t tenantapi.TenantRef, sql string, args []any) (pgx.Rows, error) {
	pre, preArgs := db.prelude(ctx, s, t)
	if pre == "" {
		return d.Query(ctx, sql, args...)
	}
	br, err := sendAfter(ctx, d, pre, preArgs, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (db *DB) tenantExec(ctx context.Context, t tenantapi.TenantRef, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := db.routed(ctx, t, func(s *site, t tenantapi.TenantRef) error {
		return tenantRun(s, t, func(d driver) error {
			pre, preArgs := db.prelude(ctx, s, t)
			if pre == "" {
				var err error
				tag, err = d.Exec(ctx, sql, args...)
				return err
			}
			br, err := sendAfter(ctx, d, pre, preArgs, sql, args)
			if err != nil {
				return err
			}
			tag, err = br.Exec()
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			return err
		})
	})
	return tag, err
}

// sendAfter sends the prelude and the statement as one batch and consumes
// the prelude's result; the caller reads the statement's and closes the
// batch.
func sendAfter(ctx context.Context, d driver, pre string, preArgs []any, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	b.Queue(pre, preArgs...)
	b.Queue(sql, args...)
	br := d.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	return br, nil
}

// tenantRow is the pgx.Row of DB.tenantRow.
type tenantRow struct {
	db   *DB
	ctx  context.Context
	t    tenantapi.TenantRef
	sql  string
	args []any
}

func (r *tenantRow) Scan(dest ...any) error {
	return r.db.routed(r.ctx, r.t, func(s *site, t tenantapi.TenantRef) error {
		return tenantRun(s, t, func(d driver) error {
			pre, preArgs := r.db.prelude(r.ctx, s, t)
			if pre == "" {
				return d.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
			}
			br, err := sendAfter(r.ctx, d, pre, preArgs, r.sql, r.args)
			if err != nil {
				return err
			}
			err = br.QueryRow().Scan(dest...)
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			return err
		})
	})
}

// batchRows closes its batch when the rows are closed.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if r.br != nil {
		r.err = r.br.Close()
		r.br = nil
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// tenantBatch runs b's statements of tenant t in one round trip and one
// implicit transaction, after the prelude when there is one. The
// statements' callbacks (QueuedQuery.QueryRow and the like) read their
// results.
func (db *DB) tenantBatch(ctx context.Context, t tenantapi.TenantRef, b *pgx.Batch) error {
	return db.routed(ctx, t, func(s *site, t tenantapi.TenantRef) error {
		return tenantRun(s, t, func(d driver) error {
			pre, preArgs := db.prelude(ctx, s, t)
			if pre == "" {
				return d.SendBatch(ctx, b).Close()
			}
			withPrelude := &pgx.Batch{}
			withPrelude.Queue(pre, preArgs...)
			withPrelude.QueuedQueries = append(withPrelude.QueuedQueries, b.QueuedQueries...)
			return d.SendBatch(ctx, withPrelude).Close()
		})
	})
}
