package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantapi/tenantapi"
)

// A driver is how the stores' statements reach PostgreSQL: a pgx pool of
// connections (pool.go), or the RDS Data API, which holds none
// (dataapi.go). Every store goes through it, so both run the same SQL and
// get the same errors: the Data API's are turned into *pgconn.PgError with
// the SQLSTATE, as a connection reports them.
type driver interface {
	execer
	// Begin starts a transaction.
	Begin(ctx context.Context) (pgx.Tx, error)
	// session returns a session of its own for statements that manage
	// their transaction themselves (BEGIN … COMMIT, as a tenant's
	// migration does, in pipelined batches). release it when done.
	session(ctx context.Context) (session, error)
	Ping(ctx context.Context) error
	Close()
	// stat is a snapshot of the connections, for metrics; ok is false for
	// a driver that holds none.
	stat() (s PoolStat, ok bool)
	// retryable reports whether err is one that running the statement again
	// may cure: a refused password (the credentials are marked stale), a
	// prepared statement the server lost (see pool.retryable).
	retryable(err error) bool
	// forTenant returns the driver that serves tenant id's statements: the
	// connections of its group when the pool routes tenants (routes.go),
	// else the driver itself.
	forTenant(id tenantapi.TenantID) driver
	// database and user are those the driver logs in to and as.
	database() string
	user() string
}

// execer runs statements. SendBatch runs a batch's statements in order in
// one transaction (an implicit one, unless the batch itself begins one):
// pipelined in one round trip on a connection.
type execer interface {
	batcher
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// batcher is what sends a batch: a driver, a session or a pgx.Tx.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// A session is one connection's worth of statements: its transaction
// lasts from the BEGIN it runs to the COMMIT or ROLLBACK.
type session interface {
	execer
	// inTx reports whether a transaction is open (or failed and not yet
	// rolled back).
	inTx() bool
	release()
}
