package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
)

// The statements tenantapi's ItemStore sends (postgres/items_sql.go), with
// the tenant's quoted schema in place of {{schema}}. The list asks for one
// row more than the page, as tenantapi does to know whether there is a next
// page.
const (
	itemColumns = `id, name, description, attributes, version, created_at, updated_at`
	getSQL      = `SELECT ` + itemColumns + ` FROM %s.items WHERE id = $1`
	listSQL     = `SELECT ` + itemColumns + ` FROM %s.items WHERE id > $1 ORDER BY id LIMIT $2`
	insertSQL   = `INSERT INTO %s.items (` + itemColumns + `)
		VALUES ($1, $2, $3, $4, 1, $5, $5)`
	// setRoleSQL is postgres/scoped.go's: the tenant's role and the
	// statement_timeout (what is left of the request's deadline; here the
	// load generator's 10 s), both for the transaction only.
	setRoleSQL       = `SELECT set_config('role', $1, true), set_config('statement_timeout', $2, true)`
	statementTimeout = "10000"
)

type tenantSQL struct{ get, list, insert, role string }

// dbTarget issues tenantapi's statements directly: the database ceiling.
type dbTarget struct {
	pools  []*pgxpool.Pool
	roles  bool
	sql    map[string]*tenantSQL
	tracer *roundTripTracer
}

func newDBTarget(ctx context.Context, o options, rolePrefix string, tenants []benchkit.Tenant) (*dbTarget, error) {
	mode, err := execMode(o.execMode)
	if err != nil {
		return nil, err
	}
	groups := max(o.routeGroups, 1)
	d := &dbTarget{roles: o.tenantRoles, sql: map[string]*tenantSQL{}, tracer: &roundTripTracer{}}
	for g := range groups {
		pc, err := pgxpool.ParseConfig(o.db)
		if err != nil {
			return nil, err
		}
		pc.MaxConns = int32(max(o.conns/groups, 1))
		pc.MinConns = pc.MaxConns
		pc.ConnConfig.DefaultQueryExecMode = mode
		pc.ConnConfig.RuntimeParams["search_path"] = ""
		pc.ConnConfig.RuntimeParams["application_name"] = o.appName
		if groups > 1 {
			pc.ConnConfig.RuntimeParams["application_name"] = o.appName + "-" + strconv.Itoa(g)
		}
		pc.ConnConfig.Tracer = d.tracer
		if o.prepareRole {
			// pgx runs a batch's statement as the prepared one when its
			// text was prepared on the connection under its own text.
			pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
				_, err := c.Prepare(ctx, setRoleSQL, setRoleSQL)
				return err
			}
		}
		p, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, err
		}
		d.pools = append(d.pools, p)
	}
	for _, t := range tenants {
		schema := pgx.Identifier{"tenant_" + t.ID}.Sanitize()
		d.sql[t.ID] = &tenantSQL{get: fmt.Sprintf(getSQL, schema), list: fmt.Sprintf(listSQL, schema),
			insert: fmt.Sprintf(insertSQL, schema), role: rolePrefix + t.ID}
	}
	for _, p := range d.pools {
		if err := p.Ping(ctx); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func execMode(s string) (pgx.QueryExecMode, error) {
	switch s {
	case "exec":
		return pgx.QueryExecModeExec, nil
	case "cache_describe":
		return pgx.QueryExecModeCacheDescribe, nil
	case "cache_statement":
		return pgx.QueryExecModeCacheStatement, nil
	}
	return 0, fmt.Errorf("unknown exec mode %q", s)
}

// pool returns the pool that serves t: with route groups, always the same
// one for a tenant.
func (d *dbTarget) pool(t *benchkit.Tenant) *pgxpool.Pool {
	if len(d.pools) == 1 {
		return d.pools[0]
	}
	h := fnv.New32a()
	h.Write([]byte(t.ID))
	return d.pools[h.Sum32()%uint32(len(d.pools))]
}

// prelude queues the role switch before the statement when tenant roles
// are on, exactly as postgres/scoped.go does, and reports whether it did;
// otherwise the statement goes alone.
func (d *dbTarget) prelude(b *pgx.Batch, t *benchkit.Tenant) bool {
	if !d.roles {
		return false
	}
	b.Queue(setRoleSQL, d.sql[t.ID].role, statementTimeout)
	return true
}

// row runs one statement that returns one row.
func (d *dbTarget) row(ctx context.Context, t *benchkit.Tenant, sql string, args []any, dest []any) error {
	p := d.pool(t)
	b := &pgx.Batch{}
	if !d.prelude(b, t) {
		return p.QueryRow(ctx, sql, args...).Scan(dest...)
	}
	b.Queue(sql, args...)
	br := p.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	err := br.QueryRow().Scan(dest...)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

type item struct {
	id                uuid.UUID
	name, description string
	attributes        []byte
	version           int64
	created, updated  time.Time
}

func (it *item) dest() []any {
	return []any{&it.id, &it.name, &it.description, &it.attributes, &it.version, &it.created, &it.updated}
}

func (d *dbTarget) get(ctx context.Context, t *benchkit.Tenant, id string) error {
	u, err := uuid.Parse(id)
	if err != nil {
		return err
	}
	var it item
	if err := d.row(ctx, t, d.sql[t.ID].get, []any{u}, it.dest()); err != nil {
		return fmt.Errorf("get: %v", err)
	}
	return nil
}

func (d *dbTarget) post(ctx context.Context, t *benchkit.Tenant, n uint64) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	attrs := json.RawMessage(`{"n":` + strconv.FormatUint(n, 10) + `,"tags":["a","b"]}`)
	now := time.Now().UTC().Truncate(time.Microsecond)
	args := []any{id, "bench item " + strconv.FormatUint(n, 10), "made by the load generator", attrs, now}
	p := d.pool(t)
	b := &pgx.Batch{}
	if !d.prelude(b, t) {
		_, err = p.Exec(ctx, d.sql[t.ID].insert, args...)
	} else {
		b.Queue(d.sql[t.ID].insert, args...)
		err = p.SendBatch(ctx, b).Close()
	}
	if err != nil {
		return fmt.Errorf("post: %v", err)
	}
	return nil
}

func (d *dbTarget) list(ctx context.Context, t *benchkit.Tenant) error {
	p := d.pool(t)
	args := []any{uuid.UUID{}, 51}
	var (
		rows pgx.Rows
		br   pgx.BatchResults
		err  error
	)
	b := &pgx.Batch{}
	if !d.prelude(b, t) {
		rows, err = p.Query(ctx, d.sql[t.ID].list, args...)
	} else {
		b.Queue(d.sql[t.ID].list, args...)
		br = p.SendBatch(ctx, b)
		defer br.Close()
		if _, err = br.Exec(); err == nil {
			rows, err = br.Query()
		}
	}
	if err != nil {
		return fmt.Errorf("list: %v", err)
	}
	defer rows.Close()
	var it item
	for rows.Next() {
		if err := rows.Scan(it.dest()...); err != nil {
			return fmt.Errorf("list: %v", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list: %v", err)
	}
	return nil
}

func (d *dbTarget) roundTrips() int { return int(d.tracer.n.Load()) }

func (d *dbTarget) close() {
	for _, p := range d.pools {
		p.Close()
	}
}

// roundTripTracer counts the exchanges the client starts: each query and
// each batch (a pipelined batch is one exchange). Prepares and describes of
// the caching exec modes are not seen here; the harness counts those on the
// server's sockets.
type roundTripTracer struct{ n atomic.Int64 }

func (r *roundTripTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTripTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTripTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTripTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTripTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
