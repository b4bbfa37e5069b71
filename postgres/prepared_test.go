package postgres

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

// preparedFixture is a runtime pool of one connection with tenant roles
// and a budget of prepared statements, and tenants with one item each.
type preparedFixture struct {
	db    *DB
	p     *pool
	rows  *RowStore
	refs  []tenantapi.TenantRef
	res   []*tenantapi.Resource
	items []tenantapi.Row
}

func newPreparedFixture(t *testing.T, budget, tenants int) *preparedFixture {
	t.Helper()
	db, _ := runtimeSetupWith(t, Config{TenantRoles: true, MaxConns: 1, PreparedStatements: budget})
	f := &preparedFixture{db: db, p: db.runtime.(*pool), rows: NewRowStore(db)}
	ts := NewTenantStore(db, NewMigrator(db))
	for i := range tenants {
		tn, err := ts.CreateTenant(t.Context(), tenantapi.TenantID(fmt.Sprintf("prep%d", i)), "Prepared")
		if err != nil {
			t.Fatal(err)
		}
		ref := tenantRef(tn)
		res := itemsAt(t, db, ref)
		c, err := f.rows.Create(t.Context(), ref, res, item(res, fmt.Sprintf("item of %d", i), `{}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		f.refs, f.res, f.items = append(f.refs, ref), append(f.res, res), append(f.items, c.Row)
	}
	return f
}

// get reads tenant i's item, which must be its own.
func (f *preparedFixture) get(t *testing.T, i int) {
	t.Helper()
	got, err := f.rows.Get(t.Context(), f.refs[i], f.res[i], f.items[i].ID)
	if err != nil || got.ID != f.items[i].ID || string(got.JSON) != string(f.items[i].JSON) {
		t.Fatalf("Get of tenant %d = %s, %v; want %s", i, got.JSON, err, f.items[i].JSON)
	}
}

// serverPrepared counts the statements prepared on the pool's connection,
// as the server sees them. The statement is run once only, so that the
// budget never prepares it.
func (f *preparedFixture) serverPrepared(t *testing.T, tag string) int64 {
	t.Helper()
	var n int64
	if err := f.p.QueryRow(t.Context(), `SELECT count(*) /* `+tag+` */ FROM pg_prepared_statements`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPreparedStatementBudget: a statement is prepared when met a second
// time on a connection, never beyond the budget, and a full budget makes
// room only by dropping a statement idle for preparedIdle; what the pool
// counts is what the server holds.
func TestPreparedStatementBudget(t *testing.T) {
	t.Parallel()
	const budget = 3
	f := newPreparedFixture(t, budget, 6)
	before, _ := f.p.stat()
	for round := range 3 {
		for i := range f.refs {
			f.get(t, i)
		}
		// The count waits for the connection, so for what its last
		// release prepared too.
		n := f.serverPrepared(t, fmt.Sprint("round ", round))
		st, _ := f.p.stat()
		if st.Prepared > budget {
			t.Fatalf("round %d: %d statements prepared, budget %d", round, st.Prepared, budget)
		}
		if n != st.Prepared {
			t.Fatalf("round %d: the pool counts %d prepared statements, the server holds %d", round, st.Prepared, n)
		}
	}
	st, _ := f.p.stat()
	if st.Prepared != budget || st.Deallocates != before.Deallocates {
		t.Errorf("with 7 texts met three times each and none idle: %d prepared (want the budget, %d), %d deallocated (want none)",
			st.Prepared, budget, st.Deallocates-before.Deallocates)
	}

	// Every prepared statement now counts as idle: newcomers take their
	// places, still within the budget.
	f.p.prep.idle = 0
	for range 2 {
		for i := range f.refs {
			f.get(t, i)
		}
	}
	n := f.serverPrepared(t, "idle")
	after, _ := f.p.stat()
	t.Logf("budget %d: %d prepared, then with idle ones %d prepared and %d deallocated more", budget, st.Prepares-before.Prepares, after.Prepares-st.Prepares, after.Deallocates-st.Deallocates)
	if after.Deallocates == st.Deallocates || after.Prepares == st.Prepares {
		t.Errorf("with idle statements: %d prepared and %d deallocated since, want both", after.Prepares-st.Prepares, after.Deallocates-st.Deallocates)
	}
	if after.Prepared > budget || n != after.Prepared {
		t.Errorf("with idle statements: the pool counts %d prepared, the server holds %d, budget %d", after.Prepared, n, budget)
	}
}

// TestPreparedStatementLost: when the server no longer has a statement the
// connection prepared (as behind a transaction-mode pooler), the statement
// is run again unprepared and preparation stops for the pool; the operator
// is told once.
func TestPreparedStatementLost(t *testing.T) {
	t.Parallel()
	f := newPreparedFixture(t, 10, 1)
	var mu sync.Mutex
	var notices []string
	f.p.prep.notice = func(msg string) { mu.Lock(); notices = append(notices, msg); mu.Unlock() }
	for range 3 {
		f.get(t, 0)
	}
	if st, _ := f.p.stat(); st.Prepared == 0 {
		t.Fatal("nothing prepared after three reads")
	}
	// Behind pgx's back, as a pooler handing the next statement to another
	// server connection would.
	c, err := f.p.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Conn().PgConn().Exec(t.Context(), `DEALLOCATE ALL`).ReadAll()
	c.Release()
	if err != nil {
		t.Fatal(err)
	}
	f.get(t, 0) // fails with 26000 first, then runs unprepared
	f.get(t, 0)
	f.get(t, 0)
	st, _ := f.p.stat()
	if !f.p.prep.off.Load() || st.Prepared != 0 {
		t.Errorf("after a lost statement: preparation off = %v, %d prepared; want off and none", f.p.prep.off.Load(), st.Prepared)
	}
	if n := f.serverPrepared(t, "lost"); n != 0 {
		t.Errorf("the server holds %d prepared statements, want none", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) != 1 {
		t.Errorf("notices = %q, want one", notices)
	}
}

// TestTenantRouting: with TenantConns, each tenant's statements run on the
// backends of its own group only, the groups share none, and tenant roles
// still hold.
func TestTenantRouting(t *testing.T) {
	t.Parallel()
	var notices atomic.Int32
	db, _ := runtimeSetupWith(t, Config{TenantRoles: true, MaxConns: 4, TenantConns: 2, PreparedStatements: 10,
		Notice: func(string) { notices.Add(1) }})
	r, ok := db.runtime.(*routes)
	if !ok || len(r.groups) != 2 {
		t.Fatalf("runtime pool = %T, want routes with 2 groups", db.runtime)
	}
	if st, _ := r.stat(); st.Max != 4 {
		t.Errorf("routed pool's cap = %d, want 4", st.Max)
	}
	ts := NewTenantStore(db, NewMigrator(db))
	var refs []tenantapi.TenantRef
	for i := range 8 {
		tn, err := ts.CreateTenant(t.Context(), tenantapi.TenantID(fmt.Sprintf("route%d", i)), "Routed")
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, tenantRef(tn))
	}
	// Concurrent statements, so that each group opens both connections.
	var mu sync.Mutex
	pids := map[int]map[int32]bool{} // group → backends
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := range 40 {
				ref := refs[(w+n)%len(refs)]
				var pid int32
				if err := db.tenantRow(t.Context(), ref, `SELECT pg_backend_pid(), pg_sleep(0.001)::text`).Scan(&pid, new(string)); err != nil {
					t.Error(err)
					return
				}
				g := group(ref.ID, len(r.groups))
				mu.Lock()
				if pids[g] == nil {
					pids[g] = map[int32]bool{}
				}
				pids[g][pid] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(pids) != 2 {
		t.Fatalf("statements ran in %d groups, want 2 (tenants hashed to both)", len(pids))
	}
	for g, set := range pids {
		if len(set) > 2 {
			t.Errorf("group %d's tenants ran on %d backends, want at most its 2 connections", g, len(set))
		}
		for pid := range set {
			if pids[1-g][pid] {
				t.Errorf("backend %d served tenants of both groups", pid)
			}
		}
	}
	// A statement lost to a pooler turns preparation off in every group,
	// and the operator hears of it once.
	if !r.retryable(&pgconn.PgError{Code: sqlInvalidStatementName}) {
		t.Error("a lost prepared statement is not retried on a routed pool")
	}
	for i, g := range r.groups {
		if !g.prep.off.Load() {
			t.Errorf("group %d still prepares after a lost statement", i)
		}
	}
	if n := notices.Load(); n != 1 {
		t.Errorf("%d notices for one lost statement, want 1", n)
	}
	other := `SELECT count(*) FROM ` + quotedSchema(refs[1].ID) + `.items`
	var n int
	if err := db.tenantRow(t.Context(), refs[0], other).Scan(&n); sqlState(err) != "42501" {
		t.Errorf("tenant %s reading %s's items through a routed pool: %v, want SQLSTATE 42501", refs[0].ID, refs[1].ID, err)
	}
}

// TestPreparedStatementsKeepTenantRoles: a statement prepared while one
// tenant's role ran it is still refused to another tenant's role (the
// privileges are checked at each execution, not when it was planned).
func TestPreparedStatementsKeepTenantRoles(t *testing.T) {
	t.Parallel()
	f := newPreparedFixture(t, 10, 2)
	own := `SELECT count(*) FROM ` + quotedSchema(f.refs[1].ID) + `.items`
	before, _ := f.p.stat()
	for range 3 {
		var n int
		if err := f.db.tenantRow(t.Context(), f.refs[1], own).Scan(&n); err != nil || n != 1 {
			t.Fatalf("tenant %s counting its items: %d, %v", f.refs[1].ID, n, err)
		}
	}
	if st, _ := f.p.stat(); st.Prepares == before.Prepares {
		t.Fatal("the statement was not prepared after three runs")
	}
	for range 2 {
		var n int
		if err := f.db.tenantRow(t.Context(), f.refs[0], own).Scan(&n); sqlState(err) != "42501" {
			t.Fatalf("tenant %s running the statement prepared for %s: %d, %v; want SQLSTATE 42501", f.refs[0].ID, f.refs[1].ID, n, err)
		}
	}
}

// TestPreparedStatementMemory: the plans a backend keeps are bounded by the
// budget, however many tenants it serves; it reports what one costs.
func TestPreparedStatementMemory(t *testing.T) {
	t.Parallel()
	const budget = 20
	f := newPreparedFixture(t, budget, 30)
	// The runtime role may read its own backend's memory contexts.
	server := open(t, Config{URL: testdb.ServerURL(t)})
	if _, err := server.owner.Exec(t.Context(), `GRANT pg_read_all_stats TO `+quoteIdent(f.p.user())); err != nil {
		t.Fatal(err)
	}
	// Past PostgreSQL's five custom plans, so each keeps its generic one.
	for range 8 {
		for i := range f.refs {
			f.get(t, i)
		}
	}
	var sources int
	var planBytes, cacheBytes int64
	// Run once only (never prepared itself), on the pool's one connection.
	err := f.p.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE name = 'CachedPlanSource'),
		coalesce(sum(total_bytes) FILTER (WHERE name IN ('CachedPlanSource', 'CachedPlanQuery', 'CachedPlan')), 0),
		coalesce(sum(total_bytes) FILTER (WHERE name = 'CacheMemoryContext'), 0)
		FROM pg_backend_memory_contexts`).Scan(&sources, &planBytes, &cacheBytes)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.p.stat()
	t.Logf("%d tenants, budget %d: %d prepared, %d plan sources, %.1f KB of plans each, catalog cache %.1f MB",
		len(f.refs), budget, st.Prepared, sources, float64(planBytes)/float64(max(sources, 1))/1024, float64(cacheBytes)/(1<<20))
	if st.Prepared != budget {
		t.Errorf("%d prepared, want the budget (%d): 31 texts met eight times", st.Prepared, budget)
	}
	if sources > budget+1 { // the statement reading them is one too
		t.Errorf("the backend keeps %d plan sources, more than the budget of %d", sources, budget)
	}
}
