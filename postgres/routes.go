package postgres

import (
	"context"
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantapi/tenantapi"
)

// routes is a runtime pool split into groups of Config.TenantConns
// connections, each a pool of its own: a tenant's statements always use
// the connections of the same group, chosen by a hash of its id. A
// backend caches the catalog entries of every relation it touches, and
// keeps a plan for every statement prepared on it; routed, each
// connection meets about TenantConns/MaxConns of the database's tenants
// instead of all of them, so both stay that much smaller and the
// prepared-statement budget (prepared.go) covers the statements the
// connection really runs. Statements of no tenant (the registry's) take
// the groups in turn.
type routes struct {
	groups []*pool
	next   atomic.Uint32
}

// newRuntimePool opens the runtime pool cfg describes: routed when
// cfg.TenantConns leaves more than one group.
func newRuntimePool(ctx context.Context, cfg Config, mode pgx.QueryExecMode) (driver, error) {
	total := cfg.MaxConns
	if total <= 0 {
		total = int32(max(4, runtime.NumCPU())) // pgxpool's default
	}
	groups := int32(1)
	if cfg.TenantConns > 0 {
		groups = max(total/int32(cfg.TenantConns), 1)
	}
	if groups == 1 {
		return newPool(ctx, cfg.RuntimeURL, cfg.RuntimeCredentials, cfg, mode)
	}
	r := &routes{}
	if notice := cfg.Notice; notice != nil {
		// A pooler that drops prepared statements is the database's, not
		// a group's: say so once.
		var once sync.Once
		cfg.Notice = func(msg string) { once.Do(func() { notice(msg) }) }
	}
	for i := range groups {
		gc := cfg
		// total is spread as evenly as it divides: no group is more
		// than one connection larger than another.
		gc.MaxConns = total / groups
		if i < total%groups {
			gc.MaxConns++
		}
		p, err := newPool(ctx, cfg.RuntimeURL, cfg.RuntimeCredentials, gc, mode)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.groups = append(r.groups, p)
	}
	return r, nil
}

// group returns the index of tenant id's group among n.
func group(id tenantapi.TenantID, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

func (r *routes) forTenant(id tenantapi.TenantID) driver { return r.groups[group(id, len(r.groups))] }

// any returns the group for a statement of no tenant.
func (r *routes) any() *pool { return r.groups[int(r.next.Add(1))%len(r.groups)] }

func (r *routes) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return r.any().Exec(ctx, sql, args...)
}

func (r *routes) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return r.any().Query(ctx, sql, args...)
}

func (r *routes) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return r.any().QueryRow(ctx, sql, args...)
}

func (r *routes) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return r.any().SendBatch(ctx, b)
}

func (r *routes) Begin(ctx context.Context) (pgx.Tx, error)    { return r.any().Begin(ctx) }
func (r *routes) session(ctx context.Context) (session, error) { return r.any().session(ctx) }
func (r *routes) database() string                             { return r.groups[0].database() }
func (r *routes) user() string                                 { return r.groups[0].user() }

func (r *routes) Close() {
	for _, p := range r.groups {
		p.Close()
	}
}

// Ping checks every group: each is a pool of its own connections.
func (r *routes) Ping(ctx context.Context) error {
	for _, p := range r.groups {
		if err := p.Ping(ctx); err != nil {
			return err
		}
	}
	return nil
}

// retryable asks every group: the error came from one of them, and a
// refused password or a pooler concerns them all.
func (r *routes) retryable(err error) bool {
	ok := false
	for _, p := range r.groups {
		ok = p.retryable(err) || ok
	}
	return ok
}

// stat sums the groups' snapshots.
func (r *routes) stat() (PoolStat, bool) {
	var sum PoolStat
	for _, p := range r.groups {
		s, _ := p.stat()
		sum.Acquired += s.Acquired
		sum.Idle += s.Idle
		sum.Constructing += s.Constructing
		sum.Total += s.Total
		sum.Max += s.Max
		sum.Acquires += s.Acquires
		sum.EmptyAcquires += s.EmptyAcquires
		sum.CanceledAcquires += s.CanceledAcquires
		sum.AcquireWait += s.AcquireWait
		sum.Prepared += s.Prepared
		sum.Prepares += s.Prepares
		sum.Deallocates += s.Deallocates
	}
	return sum, true
}

var _ driver = (*routes)(nil)
