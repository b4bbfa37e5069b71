package main

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/fakerdsdata"
	"github.com/tenantapi/tenantapi/postgres"
)

// Data API calls per request, for the README: what each route costs in
// the steady state (key and tenant cached), with tenant roles off (the
// driver's default) and on. Each statement is one ExecuteStatement with
// roles off; with roles on it runs after the role switch in a transaction
// of its own: BeginTransaction, two ExecuteStatement, CommitTransaction.
// A batch (an idempotent POST) is one transaction either way.

// calls is a count of Data API calls per operation.
type calls map[string]int

func (c calls) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

func (c calls) String() string {
	var parts []string
	for _, op := range []string{fakerdsdata.OpBeginTransaction, fakerdsdata.OpExecuteStatement, fakerdsdata.OpBatchExecuteStatement,
		fakerdsdata.OpCommitTransaction, fakerdsdata.OpRollbackTransaction} {
		if c[op] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[op], op))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " + ")
}

// tx is a statement in a transaction of its own: roles on.
func tx(execs int) calls {
	return calls{fakerdsdata.OpBeginTransaction: 1, fakerdsdata.OpExecuteStatement: execs, fakerdsdata.OpCommitTransaction: 1}
}

func stmts(n int) calls { return calls{fakerdsdata.OpExecuteStatement: n} }

// plus adds counts.
func (c calls) plus(d calls) calls {
	out := maps.Clone(c)
	for k, v := range d {
		out[k] += v
	}
	return out
}

// steadyCalls returns the Data API calls of one request made by do
// (after prep, which is not counted). The change feed is read in the
// background every CACHE_TTL/2 while requests come: the fewest calls of
// three tries are the request's own.
func steadyCalls(srv *fakerdsdata.Server, prep func(), do func()) calls {
	var best calls
	for range 3 {
		if prep != nil {
			prep()
		}
		srv.ResetCalls()
		do()
		c := calls(srv.CallCounts())
		if best == nil || c.total() < best.total() {
			best = c
		}
	}
	return best
}

// TestDataAPICallsPerRequest counts the Data API calls of each route and
// of migrating one tenant, with tenant roles off and on, and asserts
// those the driver's design fixes.
func TestDataAPICallsPerRequest(t *testing.T) {
	bothRoleModes(t, func(t *testing.T, roles bool) {
		// The longest cache the configuration allows: the feed is read
		// every 2.5 s.
		e, srv := setupDataAPI(t, roles, func(c *serverConfig) { c.CacheTTL = 5 * time.Second })
		e.tenant("acme")
		item := e.create("acme", `{"name":"counted","attributes":{"n":1}}`)["id"].(string)
		// Warm: the key, the tenant and its schema cached, the feed read.
		expect(t, e.as("acme", "GET", "/items/"+item, ""), 200, "")

		stmt := stmts(1) // one statement
		if roles {
			stmt = tx(2)
		}
		batch2 := tx(2) // a batch of two statements
		if roles {
			batch2 = tx(3)
		}
		var victim string
		n := 0
		for _, rt := range []struct {
			route  string
			prep   func()
			do     func() response
			status int
			want   calls
		}{
			{"GET /items/{id}", nil, func() response { return e.as("acme", "GET", "/items/"+item, "") }, 200, stmt},
			{"GET /items", nil, func() response { return e.as("acme", "GET", "/items?limit=50", "") }, 200, stmt},
			{"POST /items", nil, func() response { return e.as("acme", "POST", "/items", `{"name":"new"}`) }, 201, stmt},
			{"POST /items (Idempotency-Key)", nil, func() response {
				n++
				return e.as("acme", "POST", "/items", `{"name":"new"}`, "Idempotency-Key", fmt.Sprint("key-", n))
			}, 201, batch2},
			{"PATCH /items/{id} (name)", nil, func() response { return e.as("acme", "PATCH", "/items/"+item, `{"name":"renamed"}`) }, 200, stmt},
			// Merging into attributes reads the item first.
			{"PATCH /items/{id} (merge into attributes)", nil, func() response {
				return e.as("acme", "PATCH", "/items/"+item, `{"attributes":{"m":2}}`)
			}, 200, stmt.plus(stmt)},
			{"PUT /items/{id}", nil, func() response { return e.as("acme", "PUT", "/items/"+item, `{"name":"replaced"}`) }, 200, stmt},
			{"DELETE /items/{id}", func() { victim = e.create("acme", `{"name":"victim"}`)["id"].(string) },
				func() response { return e.as("acme", "DELETE", "/items/"+victim, "") }, 204, stmt},
		} {
			got := steadyCalls(srv, rt.prep, func() {
				if r := rt.do(); r.status != rt.status {
					t.Fatalf("%s: %d %s", rt.route, r.status, r.body)
				}
			})
			if !equalCalls(got, rt.want) {
				t.Errorf("%s: %v, want %v", rt.route, got, rt.want)
			}
			t.Logf("%-42s %2d calls: %v", rt.route, got.total(), got)
		}

		perTenant, first := migrateCalls(t, e.db, srv)
		// Each tenant's migration is one transaction.
		if perTenant[fakerdsdata.OpBeginTransaction] != 1 || perTenant[fakerdsdata.OpCommitTransaction] != 1 || perTenant[fakerdsdata.OpRollbackTransaction] != 0 {
			t.Errorf("migrating a tenant: %v, want one transaction", perTenant)
		}
		t.Logf("%-42s %2d calls: %v (the run's own reads, with the first tenant: %v)", "migrate, per tenant (one CREATE TABLE)", perTenant.total(), perTenant, first)
	})
}

// equalCalls compares counts, a missing operation counting 0.
func equalCalls(a, b calls) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// migrateCalls creates three tenants and migrates them, one at a time,
// with a tenant migration that creates one table, and returns the calls
// of migrating one tenant (between the second and third tenants' ends)
// and those before the first tenant's end (the run's own reads and the
// first tenant).
func migrateCalls(t *testing.T, db *postgres.DB, srv *fakerdsdata.Server) (perTenant, first calls) {
	t.Helper()
	ctx := context.Background()
	mig := postgres.NewMigrator(db)
	tenants := postgres.NewTenantStore(db, mig)
	for _, id := range []string{"m1", "m2", "m3"} {
		if _, err := tenants.CreateTenant(ctx, tenantapi.TenantID(id), "Migrated"); err != nil {
			t.Fatal(err)
		}
	}
	next := mig.WithTenantMigrations(postgres.Migration{Version: mig.LatestTenantVersion() + 1, Name: "notes",
		SQL: `CREATE TABLE notes (id uuid PRIMARY KEY, body text NOT NULL)`})
	var at []calls
	srv.ResetCalls()
	report, err := next.MigrateTenants(ctx, postgres.MigrateOptions{Concurrency: 1, Progress: func(done, total int) {
		at = append(at, calls(srv.CallCounts()))
	}})
	if err != nil {
		t.Fatal(err)
	}
	// acme, from the test, is migrated too.
	if report.Migrated != 4 || len(report.Failed) != 0 || len(at) != 4 {
		t.Fatalf("migrate: %+v (%d progress reports)", report, len(at))
	}
	perTenant = calls{}
	for k, v := range at[3] {
		if d := v - at[2][k]; d != 0 {
			perTenant[k] = d
		}
	}
	return perTenant, at[0]
}
