package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// startupResults is the start-up section: tenantapi serve with the example
// set starting against few and many tenants, and what reading every tenant
// schema's catalog once costs on the same databases.
type startupResults struct {
	Serve   []*startupResult `json:"serve"`
	Catalog []*catalogRead   `json:"catalog"`
}

func (s *startupResults) ok() bool {
	for _, r := range s.Serve {
		if r.Error != "" {
			return false
		}
	}
	for _, c := range s.Catalog {
		if c.Error != "" {
			return false
		}
	}
	return len(s.Serve) > 0
}

// startupResult is serve's start, several times, on one database.
type startupResult struct {
	Database    string       `json:"database"`
	Tenants     int          `json:"tenants"`
	TenantRoles bool         `json:"tenant_roles"`
	Runs        []startupRun `json:"runs"`
	Error       string       `json:"error,omitempty"`
}

// startupRun is one start of a fresh process.
type startupRun struct {
	// ReadyMs is from just before the exec to the first 200 on /readyz
	// (tried every 2 ms); ResourceMs to the first 200 on GET
	// /projects/{id} of a tenant with its key, sent right after.
	ReadyMs    float64 `json:"ready_ms"`
	ResourceMs float64 `json:"resource_ms"`
	// RSS and PeakRSS are VmRSS and VmHWM right after that answer.
	RSS     int64 `json:"rss"`
	PeakRSS int64 `json:"peak_rss"`
	// Statements are what the database ran from the exec to then
	// (pg_stat_statements, the monitor's left out).
	Statements []statementCount `json:"statements"`
}

type statementCount struct {
	Query string `json:"query"`
	Calls int64  `json:"calls"`
	Rows  int64  `json:"rows"`
}

// startupRuns is how many fresh processes each configuration starts.
const startupRuns = 3

// startup measures serve's start on the small and the large database of
// the example set, with tenant roles on (the default) and off, then the
// full catalog read on both.
func (h *harness) startup(ctx context.Context) *startupResults {
	out := &startupResults{}
	for _, db := range []string{resourceSmallDatabase, resourceDatabase} {
		for _, roles := range []bool{true, false} {
			out.Serve = append(out.Serve, h.startupOf(ctx, db, roles))
		}
	}
	for _, db := range []string{resourceSmallDatabase, resourceDatabase} {
		c := readCatalog(ctx, h.c.ownerURL(db))
		c.Database, c.Tenants = db, len(h.sets[db].ds.Tenants)
		fmt.Fprintf(os.Stderr, "bench: full catalog read at %d tenants: %d tables, %.1f MB, cold %.0f ms, warm %.0f ms%s\n",
			c.Tenants, c.Tables, float64(c.ResultBytes)/(1<<20), c.ColdMs, c.WarmMs, errSuffix(c.Error))
		out.Catalog = append(out.Catalog, c)
	}
	return out
}

func (h *harness) startupOf(ctx context.Context, db string, roles bool) *startupResult {
	ds := h.sets[db].ds
	res := &startupResult{Database: db, Tenants: len(ds.Tenants), TenantRoles: roles}
	for i := range startupRuns {
		// A different tenant each time, from the end of the list.
		t := &ds.Tenants[len(ds.Tenants)-1-i%len(ds.Tenants)]
		run, err := h.startOnce(ctx, db, roles, t)
		if err != nil {
			res.Error = err.Error()
			break
		}
		res.Runs = append(res.Runs, run)
		fmt.Fprintf(os.Stderr, "bench: start-up at %d tenants, tenant roles %v: /readyz %.1f ms, GET /projects/{id} %.1f ms, VmRSS %s MB\n",
			res.Tenants, roles, run.ReadyMs, run.ResourceMs, mb(run.RSS))
	}
	return res
}

func (h *harness) startOnce(ctx context.Context, db string, roles bool, t *benchkit.Tenant) (startupRun, error) {
	var run startupRun
	if err := h.c.resetStatements(ctx); err != nil {
		return run, err
	}
	port, err := pgcluster.FreePort()
	if err != nil {
		return run, err
	}
	env := h.tenantapiEnv(db, port, []string{"TENANT_MIGRATIONS=" + h.setDir, "DB_TENANT_ROLES=" + strconv.FormatBool(roles)})
	svc, err := startService(ctx, h.dir, "tenantapi-start", "tenantapi", port, "/readyz", env, h.bins["tenantapi"], "serve")
	if err != nil {
		return run, err
	}
	defer svc.stop()
	run.ReadyMs = msSince(svc.started, svc.ready)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	ids := t.IDs("projects")
	status := 0
	for try := 0; status != http.StatusOK; try++ {
		if try == 100 {
			return run, fmt.Errorf("GET /projects/{id}: status %d after 100 tries", status)
		}
		if try > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		req, err := http.NewRequestWithContext(ctx, "GET", svc.url+"/projects/"+ids[0], nil)
		if err != nil {
			return run, err
		}
		req.Header.Set("X-Tenant-Id", t.ID)
		req.Header.Set("Authorization", "Bearer "+t.Key)
		resp, err := client.Do(req)
		if err != nil {
			return run, err
		}
		resp.Body.Close()
		status = resp.StatusCode
	}
	run.ResourceMs = msSince(svc.started, time.Now())
	run.RSS, run.PeakRSS = benchkit.RSS(svc.pid()), benchkit.PeakRSS(svc.pid())
	run.Statements, err = h.c.statements(ctx, db)
	return run, err
}

func msSince(from, to time.Time) float64 { return float64(to.Sub(from).Microseconds()) / 1000 }

// catalogRead is one client reading the catalog of every tenant schema,
// as a schema cache that learns each schema from PostgreSQL would at
// start (PostgREST's reads this and more: relationships, views' columns,
// functions).
type catalogRead struct {
	Database    string `json:"database"`
	Tenants     int    `json:"tenants"`
	Schemas     int    `json:"schemas"`
	Tables      int    `json:"tables"`
	Columns     int    `json:"columns"`
	Constraints int    `json:"constraints"`
	Indexes     int    `json:"indexes"`
	// ResultBytes is the result's size as received (every value's bytes).
	ResultBytes int64 `json:"result_bytes"`
	// ColdMs is the query, receiving every row and decoding it into Go
	// values, on a fresh connection (connecting excluded); WarmMs the same
	// again on that connection.
	ColdMs float64 `json:"cold_ms"`
	WarmMs float64 `json:"warm_ms"`
	// HeapBytes is the Go heap the decoded result holds (after a GC).
	HeapBytes int64 `json:"heap_bytes"`
	// BackendPrivate is the private memory of the connection's backend
	// before the first read and after the second.
	BackendPrivateBefore int64  `json:"backend_private_before"`
	BackendPrivateAfter  int64  `json:"backend_private_after"`
	Error                string `json:"error,omitempty"`
}

// fullCatalogSQL reads, for every table of every tenant schema, its
// columns with their types, its constraints with their definitions and
// its indexes: pg_class, pg_attribute, pg_constraint and pg_index.
const fullCatalogSQL = `
SELECT n.nspname, c.relname,
  (SELECT coalesce(json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
            'not_null', a.attnotnull, 'has_default', a.atthasdef) ORDER BY a.attnum), '[]')
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT coalesce(json_agg(json_build_object('name', co.conname, 'type', co.contype, 'columns', co.conkey,
            'definition', pg_get_constraintdef(co.oid))), '[]')
     FROM pg_constraint co WHERE co.conrelid = c.oid),
  (SELECT coalesce(json_agg(json_build_object('name', ic.relname, 'columns', i.indkey::int2[], 'unique', i.indisunique)), '[]')
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname LIKE 'tenant\_%' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY 1, 2`

// catalogTable is one table as a schema cache would hold it.
type catalogTable struct {
	Schema, Name string
	Columns      []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		NotNull    bool   `json:"not_null"`
		HasDefault bool   `json:"has_default"`
	}
	Constraints []struct {
		Name       string  `json:"name"`
		Type       string  `json:"type"`
		Columns    []int16 `json:"columns"`
		Definition string  `json:"definition"`
	}
	Indexes []struct {
		Name    string  `json:"name"`
		Columns []int16 `json:"columns"`
		Unique  bool    `json:"unique"`
	}
}

// readCatalog runs fullCatalogSQL twice on one fresh connection to url.
func readCatalog(ctx context.Context, url string) *catalogRead {
	res := &catalogRead{}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer conn.Close(ctx)
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		res.Error = err.Error()
		return res
	}
	if m, err := benchkit.ReadMemory(pid); err == nil {
		res.BackendPrivateBefore = m.Private
	}
	for i := range 2 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		tables, n, err := queryCatalog(ctx, conn)
		ms := msSince(start, time.Now())
		if err != nil {
			res.Error = err.Error()
			return res
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if i == 0 {
			res.ColdMs, res.ResultBytes, res.HeapBytes = ms, n, int64(after.HeapAlloc)-int64(before.HeapAlloc)
			schemas := map[string]bool{}
			for _, t := range tables {
				schemas[t.Schema] = true
				res.Columns += len(t.Columns)
				res.Constraints += len(t.Constraints)
				res.Indexes += len(t.Indexes)
			}
			res.Schemas, res.Tables = len(schemas), len(tables)
		} else {
			res.WarmMs = ms
		}
		runtime.KeepAlive(tables)
	}
	if m, err := benchkit.ReadMemory(pid); err == nil {
		res.BackendPrivateAfter = m.Private
	}
	return res
}

// queryCatalog runs fullCatalogSQL and decodes every row; n is the
// result's bytes.
func queryCatalog(ctx context.Context, conn *pgx.Conn) ([]catalogTable, int64, error) {
	rows, err := conn.Query(ctx, fullCatalogSQL, pgx.QueryExecModeExec)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		tables []catalogTable
		n      int64
	)
	for rows.Next() {
		raw := rows.RawValues()
		var t catalogTable
		for _, v := range raw {
			n += int64(len(v))
		}
		t.Schema, t.Name = string(raw[0]), string(raw[1])
		for i, dst := range []any{&t.Columns, &t.Constraints, &t.Indexes} {
			if err := json.Unmarshal(raw[2+i], dst); err != nil {
				return nil, 0, err
			}
		}
		tables = append(tables, t)
	}
	return tables, n, rows.Err()
}
