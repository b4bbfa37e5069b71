package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantapi/tenantapi"
)

// Credentials supplies the user and password of new connections, for
// credentials that change while the process runs (a secret that rotates).
// refresh asks for a fresh read because the database refused the last one.
type Credentials func(ctx context.Context, refresh bool) (user, password string, err error)

// sqlInvalidPassword is SQLSTATE 28P01: the server refused the password.
const sqlInvalidPassword = "28P01"

// pool is a pgxpool.Pool whose credentials may change under it. When the
// server refuses them it reads fresh ones and retries the call once, so a
// rotated secret costs no restart. The retry is safe for any statement:
// nothing runs before authentication. With a preparer (prepared.go) its
// statements run on connections it acquires itself, which prepare, as the
// budget allows, the texts they meet a second time.
type pool struct {
	*pgxpool.Pool
	creds Credentials // nil: the credentials in the connection string
	stale atomic.Bool // the next connection asks for fresh credentials
	prep  *preparer   // nil: no prepared statements of the pool's own
}

// beforeConnect puts the current credentials into a new connection.
func (p *pool) beforeConnect(ctx context.Context, cc *pgx.ConnConfig) error {
	user, password, err := p.creds(ctx, p.stale.Swap(false))
	if err != nil {
		return err
	}
	cc.User, cc.Password = user, password
	return nil
}

// retryable reports whether err is one that a second attempt may cure: a
// refused password (the credentials are marked stale, so the next
// connection reads fresh ones), or a prepared statement the server no
// longer has (see preparer.lost).
func (p *pool) retryable(err error) bool {
	if err == nil {
		return false
	}
	if p.prep != nil && p.prep.lost(err) {
		return true
	}
	if p.creds == nil || sqlState(err) != sqlInvalidPassword {
		return false
	}
	p.stale.Store(true)
	return true
}

// conn acquires a connection and notes what sqls mean for its budget;
// the caller gives it back with release.
func (p *pool) conn(ctx context.Context, sqls ...string) (*pgxpool.Conn, error) {
	c, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	p.prep.ready(ctx, c.Conn(), sqls...)
	return c, nil
}

// release gives c back to the pool, once what its budget noted is
// prepared or dropped: after the statement's answer was read, so the
// round trip this costs (once per statement and connection) delays the
// request that met the text a second time, not the statement. Done in the
// background instead, a sequential caller (a Lambda function serving one
// request at a time) finds the connection busy and opens another.
func (p *pool) release(c *pgxpool.Conn) {
	if p.prep.pending(c.Conn()) {
		p.prep.flush(c.Conn())
	}
	c.Release()
}

func (p *pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	run := func() (pgconn.CommandTag, error) {
		if p.prep == nil {
			return p.Pool.Exec(ctx, sql, args...)
		}
		c, err := p.conn(ctx, sql)
		if err != nil {
			return pgconn.CommandTag{}, err
		}
		defer p.release(c)
		return c.Exec(ctx, sql, args...)
	}
	tag, err := run()
	if p.retryable(err) {
		tag, err = run()
	}
	return tag, err
}

func (p *pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := p.query(ctx, sql, args)
	if p.retryable(err) {
		rows, err = p.query(ctx, sql, args)
	}
	return rows, err
}

func (p *pool) query(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	if p.prep == nil {
		return p.Pool.Query(ctx, sql, args...)
	}
	c, err := p.conn(ctx, sql)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		p.release(c)
		return nil, err
	}
	return &connRows{Rows: rows, p: p, c: c}, nil
}

func (p *pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &retryRow{p: p, ctx: ctx, sql: sql, args: args}
}

// SendBatch runs b on one connection; with a budget, the connection goes
// back to the pool when the results are closed.
func (p *pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if p.prep == nil {
		return p.Pool.SendBatch(ctx, b)
	}
	c, err := p.conn(ctx, statementTexts(b)...)
	if err != nil {
		return errBatch{err}
	}
	return &connBatch{BatchResults: c.SendBatch(ctx, b), p: p, c: c}
}

func (p *pool) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := p.Pool.Begin(ctx)
	if p.retryable(err) {
		tx, err = p.Pool.Begin(ctx)
	}
	return tx, err
}

func (p *pool) Acquire(ctx context.Context) (*pgxpool.Conn, error) {
	c, err := p.Pool.Acquire(ctx)
	if p.retryable(err) {
		c, err = p.Pool.Acquire(ctx)
	}
	return c, err
}

// session implements driver: a connection of the pool's own.
func (p *pool) session(ctx context.Context) (session, error) {
	c, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return connSession{c}, nil
}

// connSession is a pooled connection as a session.
type connSession struct{ *pgxpool.Conn }

func (c connSession) inTx() bool { return c.Conn.Conn().PgConn().TxStatus() != 'I' }
func (c connSession) release()   { c.Conn.Release() }

func (p *pool) forTenant(tenantapi.TenantID) driver { return p }

func (p *pool) database() string { return p.Config().ConnConfig.Database }
func (p *pool) user() string     { return p.Config().ConnConfig.User }

func (p *pool) stat() (PoolStat, bool) {
	s := p.Stat()
	st := PoolStat{
		Acquired: s.AcquiredConns(), Idle: s.IdleConns(), Constructing: s.ConstructingConns(),
		Total: s.TotalConns(), Max: s.MaxConns(),
		Acquires: s.AcquireCount(), EmptyAcquires: s.EmptyAcquireCount(), CanceledAcquires: s.CanceledAcquireCount(),
		AcquireWait: s.AcquireDuration(),
	}
	if p.prep != nil {
		st.Prepared = p.prep.prepared.Load()
		st.Prepares, st.Deallocates = p.prep.prepares.Load(), p.prep.deallocates.Load()
	}
	return st, true
}

var _ driver = (*pool)(nil)

func (p *pool) Ping(ctx context.Context) error {
	err := p.Pool.Ping(ctx)
	if p.retryable(err) {
		err = p.Pool.Ping(ctx)
	}
	return err
}

// retryRow runs its query when scanned, and again when the first attempt
// fails with an error a second attempt may cure (see pool.retryable).
type retryRow struct {
	p    *pool
	ctx  context.Context
	sql  string
	args []any
}

func (r *retryRow) Scan(dest ...any) error {
	err := r.scan(dest)
	if r.p.retryable(err) {
		err = r.scan(dest)
	}
	return err
}

func (r *retryRow) scan(dest []any) error {
	if r.p.prep == nil {
		return r.p.Pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	c, err := r.p.conn(r.ctx, r.sql)
	if err != nil {
		return err
	}
	defer r.p.release(c)
	return c.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
}

// connRows releases its connection when the rows are closed (as pgx
// closes them once Next has reported the last one).
type connRows struct {
	pgx.Rows
	p *pool
	c *pgxpool.Conn
}

func (r *connRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *connRows) Close() {
	r.Rows.Close()
	if r.c != nil {
		r.p.release(r.c)
		r.c = nil
	}
}

// connBatch releases its connection when the batch is closed.
type connBatch struct {
	pgx.BatchResults
	p *pool
	c *pgxpool.Conn
}

func (b *connBatch) Close() error {
	err := b.BatchResults.Close()
	if b.c != nil {
		b.p.release(b.c)
		b.c = nil
	}
	return err
}

// errBatch is the results of a batch that could not be sent.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
