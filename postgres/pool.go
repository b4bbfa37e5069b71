package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
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
// nothing runs before authentication.
type pool struct {
	*pgxpool.Pool
	creds Credentials // nil: the credentials in the connection string
	stale atomic.Bool // the next connection asks for fresh credentials
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

// authFailed reports whether err is a refused password that fresh
// credentials may cure, and marks the credentials stale if so.
func (p *pool) authFailed(err error) bool {
	if p.creds == nil || sqlState(err) != sqlInvalidPassword {
		return false
	}
	p.stale.Store(true)
	return true
}

func (p *pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := p.Pool.Exec(ctx, sql, args...)
	if p.authFailed(err) {
		tag, err = p.Pool.Exec(ctx, sql, args...)
	}
	return tag, err
}

func (p *pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := p.Pool.Query(ctx, sql, args...)
	if p.authFailed(err) {
		rows, err = p.Pool.Query(ctx, sql, args...)
	}
	return rows, err
}

func (p *pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &retryRow{p: p, ctx: ctx, sql: sql, args: args, row: p.Pool.QueryRow(ctx, sql, args...)}
}

func (p *pool) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := p.Pool.Begin(ctx)
	if p.authFailed(err) {
		tx, err = p.Pool.Begin(ctx)
	}
	return tx, err
}

func (p *pool) Acquire(ctx context.Context) (*pgxpool.Conn, error) {
	c, err := p.Pool.Acquire(ctx)
	if p.authFailed(err) {
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

func (p *pool) database() string { return p.Config().ConnConfig.Database }
func (p *pool) user() string     { return p.Config().ConnConfig.User }

func (p *pool) stat() (PoolStat, bool) {
	s := p.Stat()
	return PoolStat{
		Acquired: s.AcquiredConns(), Idle: s.IdleConns(), Constructing: s.ConstructingConns(),
		Total: s.TotalConns(), Max: s.MaxConns(),
		Acquires: s.AcquireCount(), EmptyAcquires: s.EmptyAcquireCount(), CanceledAcquires: s.CanceledAcquireCount(),
		AcquireWait: s.AcquireDuration(),
	}, true
}

var _ driver = (*pool)(nil)

func (p *pool) Ping(ctx context.Context) error {
	err := p.Pool.Ping(ctx)
	if p.authFailed(err) {
		err = p.Pool.Ping(ctx)
	}
	return err
}

// retryRow runs its query again when scanning reports a refused password.
type retryRow struct {
	p    *pool
	ctx  context.Context
	sql  string
	args []any
	row  pgx.Row
}

func (r *retryRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if r.p.authFailed(err) {
		err = r.p.Pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	return err
}
