package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
	"github.com/tenantapi/tenantapi/postgres"
)

// The statements tenantapi's RowStore sends for the items resource come
// from postgres.ResourceSQL, for the shape migrate recorded for each
// tenant's version. The list asks for one row more than the page, as
// tenantapi does to know whether there is a next page.
const (
	// setRoleSQL is postgres/scoped.go's: the tenant's role and the
	// statement_timeout (what is left of the request's deadline; here the
	// load generator's 10 s), both for the transaction only.
	setRoleSQL       = `SELECT set_config('role', $1, true), set_config('statement_timeout', $2, true)`
	statementTimeout = "10000"
	// setLocalTimeoutSQL is the statement_timeout of the set_local role
	// switch, which sends the role's name in its own statement
	// (setLocalRole).
	setLocalTimeoutSQL = "SET LOCAL statement_timeout = " + statementTimeout
	// setRoleOnlySQL is setRoleSQL without the statement_timeout: what
	// bounding each statement by the request's deadline costs.
	setRoleOnlySQL = `SELECT set_config('role', $1, true)`
)

// The role switches of --role-switch.
const (
	switchSetConfig = "set_config"      // one statement, setRoleSQL
	switchSetLocal  = "set_local"       // SET LOCAL ROLE, then SET LOCAL statement_timeout
	switchRoleOnly  = "set_config_role" // setRoleOnlySQL: the role, no statement_timeout
)

// setLocalRole is the set_local switch's statement for role: its text
// names the role, so each tenant has its own.
func setLocalRole(role string) string { return "SET LOCAL ROLE " + pgx.Identifier{role}.Sanitize() }

type tenantSQL struct {
	get, list, insert, role string
	// texts is how many member texts each statement answers after the id
	// (and the version).
	texts int
	// fields are the names of the items fields, in the order of the
	// insert's parameters after the id and, when stamped, the time.
	fields  []string
	stamped bool
}

// dbTarget issues tenantapi's statements directly: the database ceiling.
type dbTarget struct {
	pools []*pgxpool.Pool
	roles bool
	// roleSwitch is how the role is switched: switchSetConfig or
	// switchSetLocal.
	roleSwitch string
	sql        map[string]*tenantSQL
	tracer     *roundTripTracer
}

func newDBTarget(ctx context.Context, o options, rolePrefix string, tenants []benchkit.Tenant) (*dbTarget, error) {
	mode, err := execMode(o.execMode)
	if err != nil {
		return nil, err
	}
	switch o.roleSwitch {
	case switchSetConfig, switchSetLocal, switchRoleOnly:
	default:
		return nil, fmt.Errorf("unknown role switch %q (set_config, set_config_role or set_local)", o.roleSwitch)
	}
	if o.prepareRole && o.roleSwitch != switchSetConfig {
		return nil, fmt.Errorf("--prepare-role prepares the set_config switch, not %s", o.roleSwitch)
	}
	groups := max(o.routeGroups, 1)
	d := &dbTarget{roles: o.tenantRoles, roleSwitch: o.roleSwitch, sql: map[string]*tenantSQL{}, tracer: &roundTripTracer{}}
	for g := range groups {
		pc, err := pgxpool.ParseConfig(o.db)
		if err != nil {
			return nil, err
		}
		pc.MaxConns = int32(max(o.conns/groups, 1))
		pc.MinConns = pc.MaxConns
		pc.ConnConfig.DefaultQueryExecMode = mode
		if o.stmtCache > 0 {
			pc.ConnConfig.StatementCacheCapacity, pc.ConnConfig.DescriptionCacheCapacity = o.stmtCache, o.stmtCache
		}
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
	for _, p := range d.pools {
		if err := p.Ping(ctx); err != nil {
			return nil, err
		}
	}
	items, err := itemsResources(ctx, d.pools[0], tenants)
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		res := items[t.ID]
		st := &tenantSQL{role: rolePrefix + t.ID, stamped: res.Created || res.Updated}
		st.get, st.list, st.insert, st.texts = postgres.ResourceSQL(res, tenantapi.TenantID(t.ID))
		for _, f := range res.Fields {
			if f.Generated {
				continue
			}
			if _, ok := postValue(f.Name, "0"); !ok {
				return nil, fmt.Errorf("tenant %s: items has a field %s that the load generator does not send", t.ID, f.Name)
			}
			st.fields = append(st.fields, f.Name)
		}
		d.sql[t.ID] = st
	}
	return d, nil
}

// itemsResources reads the items resource each tenant is served with: the
// shape migrate recorded for the tenant's version, as tenantapi reads it.
func itemsResources(ctx context.Context, p *pgxpool.Pool, tenants []benchkit.Tenant) (map[string]*tenantapi.Resource, error) {
	ids := make([]string, len(tenants))
	for i, t := range tenants {
		ids[i] = t.ID
	}
	rows, err := p.Query(ctx, `SELECT t.id, s.schema::text FROM public.tenants t
		JOIN public.application_schemas s ON s.version = t.schema_version WHERE t.id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading the recorded schemas: %v", err)
	}
	defer rows.Close()
	out := map[string]*tenantapi.Resource{}
	for rows.Next() {
		var id, doc string
		if err := rows.Scan(&id, &doc); err != nil {
			return nil, err
		}
		var sc tenantapi.Schema
		if err := json.Unmarshal([]byte(doc), &sc); err != nil {
			return nil, fmt.Errorf("tenant %s: recorded schema: %v", id, err)
		}
		res, ok := sc.Resource("items")
		if !ok {
			return nil, fmt.Errorf("tenant %s: its version has no items", id)
		}
		out[id] = res
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if out[id] == nil {
			return nil, fmt.Errorf("tenant %s: no recorded schema for its version (run tenantapi migrate)", id)
		}
	}
	return out, nil
}

func execMode(s string) (pgx.QueryExecMode, error) {
	switch s {
	case "exec":
		return pgx.QueryExecModeExec, nil
	case "cache_describe":
		return pgx.QueryExecModeCacheDescribe, nil
	case "cache_statement":
		return pgx.QueryExecModeCacheStatement, nil
	case "simple_protocol":
		// A batch goes as one simple-protocol query string.
		return pgx.QueryExecModeSimpleProtocol, nil
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

// prelude queues the role switch of role before the statement when tenant
// roles are on, exactly as postgres/scoped.go does with set_config, and
// returns how many statements it queued; with none the statement goes
// alone.
func (d *dbTarget) prelude(b *pgx.Batch, role string) int {
	switch {
	case !d.roles:
		return 0
	case d.roleSwitch == switchSetLocal:
		b.Queue(setLocalRole(role))
		b.Queue(setLocalTimeoutSQL)
		return 2
	case d.roleSwitch == switchRoleOnly:
		b.Queue(setRoleOnlySQL, role)
		return 1
	}
	b.Queue(setRoleSQL, role, statementTimeout)
	return 1
}

// row runs one statement that returns one row, as t's role.
func (d *dbTarget) row(ctx context.Context, t *benchkit.Tenant, sql string, args []any, dest []any) error {
	return d.rowAs(ctx, d.pool(t), d.sql[t.ID].role, sql, args, dest)
}

// rowAs runs one statement that returns one row on p, as role.
func (d *dbTarget) rowAs(ctx context.Context, p *pgxpool.Pool, role, sql string, args []any, dest []any) error {
	b := &pgx.Batch{}
	n := d.prelude(b, role)
	if n == 0 {
		return p.QueryRow(ctx, sql, args...).Scan(dest...)
	}
	b.Queue(sql, args...)
	br := p.SendBatch(ctx, b)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	err := br.QueryRow().Scan(dest...)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// row is a row as RowStore scans it: the id in place, the version, the
// texts of its members (which RowStore then encodes as JSON).
type row struct {
	id      [16]byte
	version int64
	texts   [][]byte
}

// dest returns the destinations of a row of n member texts, with the
// version when versioned.
func (r *row) dest(n int, versioned bool) []any {
	r.texts = make([][]byte, n)
	d := []any{&r.id}
	if versioned {
		d = append(d, &r.version)
	}
	for i := range r.texts {
		d = append(d, &r.texts[i])
	}
	return d
}

func (d *dbTarget) get(ctx context.Context, t *benchkit.Tenant, id string) error {
	u, err := uuid.Parse(id)
	if err != nil {
		return err
	}
	var r row
	if err := d.row(ctx, t, d.sql[t.ID].get, []any{u}, r.dest(d.sql[t.ID].texts, true)); err != nil {
		return fmt.Errorf("get: %v", err)
	}
	return nil
}

// postValue returns the text tenantapi stores for field of the POST the
// HTTP target sends (httpTarget.post) with n as nn, and whether that body
// has the field.
func postValue(field, nn string) (string, bool) {
	switch field {
	case "name":
		return "bench item " + nn, true
	case "description":
		return "made by the load generator", true
	case "attributes":
		return `{"n":` + nn + `,"tags":["a","b"]}`, true
	}
	return "", false
}

func (d *dbTarget) post(ctx context.Context, t *benchkit.Tenant, n uint64) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	st := d.sql[t.ID]
	args := make([]any, 0, 2+len(st.fields))
	args = append(args, id)
	if st.stamped {
		args = append(args, time.Now().UTC().Truncate(time.Microsecond))
	}
	nn := strconv.FormatUint(n, 10)
	for _, f := range st.fields {
		text, _ := postValue(f, nn)
		args = append(args, text)
	}
	var r row
	if err := d.row(ctx, t, st.insert, args, r.dest(st.texts, true)); err != nil {
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
	if n := d.prelude(b, d.sql[t.ID].role); n == 0 {
		rows, err = p.Query(ctx, d.sql[t.ID].list, args...)
	} else {
		b.Queue(d.sql[t.ID].list, args...)
		br = p.SendBatch(ctx, b)
		defer br.Close()
		for i := 0; i < n && err == nil; i++ {
			_, err = br.Exec()
		}
		if err == nil {
			rows, err = br.Query()
		}
	}
	if err != nil {
		return fmt.Errorf("list: %v", err)
	}
	defer rows.Close()
	var r row
	dest := r.dest(d.sql[t.ID].texts, false)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("list: %v", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list: %v", err)
	}
	return nil
}

// checkRoles checks that the role switch takes effect, on the first two
// tenants: inside the batch current_user is the first tenant's role, the
// first tenant's get reads one of its items under that role, and the same
// get under the second tenant's role fails with insufficient_privilege
// (42501). It returns what it saw.
func (d *dbTarget) checkRoles(ctx context.Context, tenants []benchkit.Tenant) (string, error) {
	if !d.roles {
		return "", errors.New("--check-roles needs --tenant-roles")
	}
	if len(tenants) < 2 || len(tenants[0].Items) == 0 {
		return "", errors.New("--check-roles needs two tenants and an item of the first")
	}
	a, b := &tenants[0], &tenants[1]
	p, own, other := d.pool(a), d.sql[a.ID].role, d.sql[b.ID].role
	var user string
	if err := d.rowAs(ctx, p, own, "SELECT current_user::text", nil, []any{&user}); err != nil {
		return "", fmt.Errorf("check-roles: current_user: %v", err)
	}
	if user != own {
		return "", fmt.Errorf("check-roles: current_user is %s after switching to %s", user, own)
	}
	if err := d.get(ctx, a, a.Items[0]); err != nil {
		return "", fmt.Errorf("check-roles: tenant %s's own item: %v", a.ID, err)
	}
	u, err := uuid.Parse(a.Items[0])
	if err != nil {
		return "", err
	}
	var r row
	err = d.rowAs(ctx, p, other, d.sql[a.ID].get, []any{u}, r.dest(d.sql[a.ID].texts, true))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		return "", fmt.Errorf("check-roles: tenant %s's get under tenant %s's role: %v, want insufficient_privilege (42501)", a.ID, b.ID, err)
	}
	return fmt.Sprintf("current_user %s; tenant %s's get under %s: %s %s", user, a.ID, other, pe.Code, pe.Message), nil
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
