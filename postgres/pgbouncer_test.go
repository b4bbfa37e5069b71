package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/pgbouncer"
)

// The service must stay correct behind PgBouncer in transaction mode, where
// consecutive transactions of one client run on whichever server connection
// is free, and a server connection carries whatever session state an
// earlier client left on it (LESSONS.md, item 1). These tests put a
// PgBouncer with few server connections in front of a fresh database and
// drive the stores through it from many goroutines, with tenant roles on
// and off at once on the same server connections.

const (
	pgbPoolSize   = 3  // server connections per database and user
	pgbTenants    = 20 // half created directly, half through PgBouncer
	pgbSeedItems  = 6  // items per tenant before the storm
	pgbWorkers    = 16 // goroutines per mode
	pgbIterations = 300
	pgbStormLimit = 10 * time.Second
)

// pgbEnv is a database with tenants, the runtime role, a PgBouncer in front
// of it and two DBs through it: one with tenant roles on, one with them off.
type pgbEnv struct {
	direct    *DB // owner and runtime role, straight to PostgreSQL
	role      string
	bouncer   *pgbouncer.Bouncer
	withRoles *DB
	plain     *DB
	prepared  *DB // tenant roles and a budget of prepared statements
	items     *tenantapi.Resource
	tenants   []*pgbTenant
	owners    sync.Map // uuid.UUID -> tenantapi.TenantID, every item ever created
}

// pgbTenant is a tenant and the ids of its items that may still exist.
type pgbTenant struct {
	ref tenantapi.TenantRef
	mu  sync.Mutex
	ids []uuid.UUID
}

func (tn *pgbTenant) add(id uuid.UUID) {
	tn.mu.Lock()
	tn.ids = append(tn.ids, id)
	tn.mu.Unlock()
}

func (tn *pgbTenant) forget(id uuid.UUID) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	for i, x := range tn.ids {
		if x == id {
			tn.ids = append(tn.ids[:i], tn.ids[i+1:]...)
			return
		}
	}
}

// pick returns one of the tenant's item ids, or false when it has none.
func (tn *pgbTenant) pick(r *rand.Rand) (uuid.UUID, bool) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if len(tn.ids) == 0 {
		return uuid.UUID{}, false
	}
	return tn.ids[r.IntN(len(tn.ids))], true
}

// pgbItemName names every item after its tenant, so that any item read or
// listed shows whose it is, even one created a moment ago by another
// goroutine.
func pgbItemName(id tenantapi.TenantID, n int64) string { return fmt.Sprintf("%s/%d", id, n) }

func newPgbEnv(t *testing.T) *pgbEnv {
	t.Helper()
	ctx := t.Context()
	direct, role := runtimeSetupB(t, true)
	cc := direct.owner.(*pool).Config().ConnConfig

	// PgBouncer does not pass the search_path start-up parameter on (see
	// pgbouncer.Config), so a deployment sets the empty search_path on the
	// runtime role; the owner is left without it, to show the difference.
	if _, err := direct.owner.Exec(ctx, `ALTER ROLE `+quoteIdent(role)+` IN DATABASE `+quoteIdent(cc.Database)+` SET search_path = ''`); err != nil {
		t.Fatal(err)
	}

	e := &pgbEnv{direct: direct, role: role}
	e.bouncer = pgbouncer.New(t, pgbouncer.Options{
		Host:     cc.Host,
		Port:     int(cc.Port),
		Users:    map[string]string{cc.User: cc.Password, role: "pw"},
		PoolSize: pgbPoolSize,
	})
	ownerURL := e.bouncer.URL(cc.User, cc.Password, cc.Database)
	runtimeURL := e.bouncer.URL(role, "pw", cc.Database)
	// More client connections than PgBouncer has server connections. Both
	// run as a deployment behind such a pooler is told to
	// (DB_PREPARED_STATEMENTS=0); prepared has the default budget.
	e.withRoles = open(t, Config{URL: ownerURL, RuntimeURL: runtimeURL, TenantRoles: true, MaxConns: pgbWorkers, PreparedStatements: -1})
	e.plain = open(t, Config{URL: ownerURL, RuntimeURL: runtimeURL, TenantRoles: false, MaxConns: pgbWorkers, PreparedStatements: -1})
	e.prepared = open(t, Config{URL: ownerURL, RuntimeURL: runtimeURL, TenantRoles: true, MaxConns: pgbWorkers, PreparedStatements: 1000})
	if err := e.withRoles.Ping(ctx); err != nil {
		t.Fatalf("Ping through PgBouncer: %v\n%s", err, e.bouncer.Output())
	}

	// Provisioning works through PgBouncer too: it is transactions only.
	directTenants, bouncedTenants := NewTenantStore(direct, nil), NewTenantStore(e.withRoles, nil)
	seed := NewRowStore(direct)
	for i := range pgbTenants {
		id := tenantapi.TenantID(fmt.Sprintf("t%02d", i))
		store := directTenants
		if i%2 == 1 {
			store = bouncedTenants
		}
		tn, err := store.CreateTenant(ctx, id, "Tenant "+string(id))
		if err != nil {
			t.Fatalf("CreateTenant(%s): %v", id, err)
		}
		pt := &pgbTenant{ref: tenantRef(tn)}
		if e.items == nil {
			e.items = itemsAt(t, e.withRoles, pt.ref)
		}
		for n := range pgbSeedItems {
			c, err := seed.Create(ctx, pt.ref, e.items, e.input(id, int64(n)), nil)
			if err != nil {
				t.Fatal(err)
			}
			e.owners.Store(c.Row.ID, id)
			pt.add(c.Row.ID)
		}
		e.tenants = append(e.tenants, pt)
	}
	return e
}

// input returns the values of item n of tenant id.
func (e *pgbEnv) input(id tenantapi.TenantID, n int64) []tenantapi.Value {
	return item(e.items, pgbItemName(id, n), fmt.Sprintf(`{"tenant": %q}`, id))
}

// sessionState is what a plain statement on the runtime pool sees of its
// server connection.
type sessionState struct {
	user, role, searchPath string
	pid                    int32
}

func readSessionState(ctx context.Context, db *DB) (sessionState, error) {
	var s sessionState
	err := db.runtime.QueryRow(ctx, `SELECT current_user::text, current_setting('role'), current_setting('search_path'), pg_backend_pid()`).
		Scan(&s.user, &s.role, &s.searchPath, &s.pid)
	return s, err
}

// clean is the state every runtime statement must find: the runtime role,
// no role switched to, the empty search_path of the role's settings.
func (e *pgbEnv) clean(s sessionState) bool {
	return s.user == e.role && s.role == "none" && emptySearchPath(s.searchPath)
}

// emptySearchPath reports whether current_setting('search_path') is empty:
// "" when set by a start-up parameter, `""` when by ALTER ROLE ... SET.
func emptySearchPath(s string) bool { return s == "" || s == `""` }

func TestPgBouncerTransactionMode(t *testing.T) {
	t.Parallel()
	e := newPgbEnv(t)
	if v, err := pgbouncer.Version(); err == nil {
		t.Logf("%s, pool_mode = transaction, default_pool_size = %d", v, pgbPoolSize)
	}

	t.Run("search_path", func(t *testing.T) { testPgbSearchPath(t, e) })
	t.Run("tenant roles enforced", func(t *testing.T) { testPgbRolesEnforced(t, e) })

	// Every configuration at once, so that statements run under a tenant
	// role, plain ones and prepared ones share the same few server
	// connections. With a budget, the first statement that finds its
	// prepared statement gone turns preparation off and runs again: no
	// statement may fail for it.
	var pids sync.Map
	t.Run("storm", func(t *testing.T) {
		for name, db := range map[string]*DB{"tenant roles=false": e.plain, "tenant roles=true": e.withRoles, "prepared statements": e.prepared} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				testPgbStorm(t, e, db, &pids)
			})
		}
	})
	if st, ok := e.prepared.runtime.stat(); ok {
		t.Logf("with a budget of prepared statements: %d prepared, off since a statement was lost: %v",
			st.Prepares, e.prepared.runtime.(*pool).prep.off.Load())
	}
	if t.Failed() {
		t.Logf("PgBouncer output:\n%s", e.bouncer.Output())
		return
	}
	var n int
	pids.Range(func(any, any) bool { n++; return true })
	t.Logf("runtime statements ran on %d server connection(s); client pools held %d + %d + %d connections",
		n, e.plain.runtime.(*pool).Stat().TotalConns(), e.withRoles.runtime.(*pool).Stat().TotalConns(), e.prepared.runtime.(*pool).Stat().TotalConns())
	if n > pgbPoolSize {
		t.Errorf("runtime statements ran on %d server connections, more than PgBouncer's pool of %d", n, pgbPoolSize)
	}

	t.Run("idempotent create", func(t *testing.T) { testPgbIdempotent(t, e) })
	// Last: it leaves a poisoned server connection behind.
	t.Run("negative control", func(t *testing.T) { testPgbNegativeControl(t, e) })
}

// testPgbSearchPath shows what PgBouncer does with the empty search_path
// start-up parameter: it accepts it (ignore_startup_parameters) and drops
// it, so the server's default applies, unless the role sets one.
func testPgbSearchPath(t *testing.T, e *pgbEnv) {
	ctx := t.Context()
	var owner string
	if err := e.withRoles.owner.QueryRow(ctx, `SELECT current_setting('search_path')`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	var direct string
	if err := e.direct.owner.QueryRow(ctx, `SELECT current_setting('search_path')`).Scan(&direct); err != nil {
		t.Fatal(err)
	}
	t.Logf("owner's search_path: %q directly, %q through PgBouncer (start-up parameter dropped)", direct, owner)
	if !emptySearchPath(direct) {
		t.Errorf("direct search_path = %q, want the empty one the pool asks for", direct)
	}
	s, err := readSessionState(ctx, e.withRoles)
	if err != nil {
		t.Fatal(err)
	}
	if !e.clean(s) {
		t.Errorf("runtime session through PgBouncer = %+v; want user %s, role none, search_path \"\" (ALTER ROLE ... SET search_path)", s, e.role)
	}
	// Unqualified SQL still fails loudly on the runtime role.
	_, err = e.withRoles.runtime.Exec(ctx, `SELECT count(*) FROM items`)
	if sqlState(err) != sqlUndefinedTable {
		t.Errorf("unqualified SELECT through PgBouncer: %v, want SQLSTATE %s", err, sqlUndefinedTable)
	}
}

// testPgbRolesEnforced checks that the pipelined role switch works through
// PgBouncer: a statement of one tenant that reaches another tenant's schema
// is refused, and the switch is gone for the next statement.
func testPgbRolesEnforced(t *testing.T, e *pgbEnv) {
	ctx := t.Context()
	a, b := e.tenants[0].ref, e.tenants[1].ref
	other := `SELECT count(*) FROM ` + quotedSchema(b.ID) + `.items`
	for range 3 * pgbPoolSize {
		var n int
		err := e.withRoles.tenantRow(ctx, a, other).Scan(&n)
		if sqlState(err) != "42501" {
			t.Fatalf("tenant %s reading tenant %s's items through PgBouncer: %v (n=%d), want SQLSTATE 42501", a.ID, b.ID, err, n)
		}
		if err := e.withRoles.tenantRow(ctx, b, other).Scan(&n); err != nil || n == 0 {
			t.Fatalf("tenant %s reading its own items: %d, %v", b.ID, n, err)
		}
		s, err := readSessionState(ctx, e.withRoles)
		if err != nil {
			t.Fatal(err)
		}
		if !e.clean(s) {
			t.Fatalf("after a tenant statement, a plain one saw %+v", s)
		}
	}
}

// testPgbStorm runs random item operations on random tenants from many
// goroutines and checks that every item seen is the tenant's, that no
// unexpected error happens, and, between operations, that plain runtime
// statements find a clean session.
func testPgbStorm(t *testing.T, e *pgbEnv, db *DB, pids *sync.Map) {
	ctx := t.Context()
	rows, res := NewRowStore(db), e.items
	deadline := time.Now().Add(pgbStormLimit)
	var failures, ops atomic.Int64
	var seq atomic.Int64
	seq.Store(1_000_000)
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	// expect reports an error that is none of codes.
	expect := func(op string, ref tenantapi.TenantRef, err error, codes ...tenantapi.Code) bool {
		if err == nil {
			return true
		}
		code := tenantapi.ErrorCode(err)
		for _, c := range codes {
			if code == c {
				return false
			}
		}
		fail("%s in tenant %s: %v (code %q)", op, ref.ID, err, code)
		return false
	}
	// mine checks that row belongs to tenant ref.
	mine := func(op string, ref tenantapi.TenantRef, row tenantapi.Row) {
		var it struct {
			ID         uuid.UUID
			Name       string
			Attributes struct{ Tenant string }
		}
		if err := json.Unmarshal(row.JSON, &it); err != nil || it.ID != row.ID {
			fail("%s in tenant %s returned item %s as %s: %v", op, ref.ID, row.ID, row.JSON, err)
			return
		}
		if !strings.HasPrefix(it.Name, string(ref.ID)+"/") {
			fail("%s in tenant %s returned item %s named %q: another tenant's", op, ref.ID, it.ID, it.Name)
		}
		if it.Attributes.Tenant != string(ref.ID) {
			fail("%s in tenant %s returned item %s: %s", op, ref.ID, it.ID, row.JSON)
		}
		if owner, ok := e.owners.Load(it.ID); ok && owner != ref.ID {
			fail("%s in tenant %s returned item %s of tenant %s", op, ref.ID, it.ID, owner)
		}
	}

	var wg sync.WaitGroup
	for w := range pgbWorkers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for i := 0; i < pgbIterations && time.Now().Before(deadline) && failures.Load() == 0; i++ {
				ops.Add(1)
				tn := e.tenants[r.IntN(len(e.tenants))]
				ref := tn.ref
				if i%4 == 0 {
					s, err := readSessionState(ctx, db)
					if err != nil {
						fail("session check: %v", err)
					} else {
						pids.Store(s.pid, true)
						if !e.clean(s) {
							fail("a plain runtime statement found session state %+v: a setting leaked from another transaction", s)
						}
					}
				}
				id, ok := tn.pick(r)
				op := r.IntN(100)
				if !ok {
					op = 60 // nothing to read: create
				}
				switch {
				case op < 25:
					row, err := rows.Get(ctx, ref, res, id)
					if expect("Get", ref, err, tenantapi.CodeItemNotFound) {
						if row.ID != id {
							fail("Get(%s) in tenant %s returned item %s", id, ref.ID, row.ID)
						}
						mine("Get", ref, row)
					}
				case op < 35:
					// Another tenant's id is not found here.
					other := e.tenants[(r.IntN(len(e.tenants)-1)+1+indexOf(e.tenants, tn))%len(e.tenants)]
					_, err := rows.Get(ctx, other.ref, res, id)
					if !errors.Is(err, tenantapi.ErrItemNotFound) {
						fail("Get(%s of tenant %s) in tenant %s: %v, want item-not-found", id, ref.ID, other.ref.ID, err)
					}
				case op < 55:
					var after *uuid.UUID
					if r.IntN(2) == 0 {
						after = &id
					}
					list, _, err := rows.List(ctx, ref, res, tenantapi.RowQuery{After: after, Limit: 1 + r.IntN(20)})
					if expect("List", ref, err) {
						for j, row := range list {
							mine("List", ref, row)
							if j > 0 && bytes.Compare(list[j-1].ID[:], row.ID[:]) >= 0 {
								fail("List in tenant %s out of order", ref.ID)
							}
						}
					}
				case op < 70:
					c, err := rows.Create(ctx, ref, res, e.input(ref.ID, seq.Add(1)), nil)
					if expect("Create", ref, err) {
						mine("Create", ref, c.Row)
						e.owners.Store(c.Row.ID, ref.ID)
						tn.add(c.Row.ID)
					}
				case op < 85:
					row, err := rows.Patch(ctx, ref, res, id, tenantapi.Precondition{}, true, func(cur *tenantapi.Row) ([]tenantapi.Value, error) {
						if cur.ID != id {
							fail("Patch(%s) in tenant %s read item %s", id, ref.ID, cur.ID)
						}
						mine("Patch read", ref, *cur)
						return values(res, map[string]string{
							"name":        pgbItemName(ref.ID, seq.Add(1)),
							"description": fmt.Sprintf("patched from version %d", cur.Version),
							"attributes":  fmt.Sprintf(`{"tenant": %q}`, ref.ID),
						}), nil
					})
					if expect("Patch", ref, err, tenantapi.CodeItemNotFound) {
						mine("Patch", ref, row)
					}
				case op < 93:
					cur, err := rows.Get(ctx, ref, res, id)
					if !expect("Get", ref, err, tenantapi.CodeItemNotFound) {
						continue
					}
					row, err := rows.Replace(ctx, ref, res, id, e.input(ref.ID, seq.Add(1)),
						tenantapi.Precondition{Present: true, Versions: []int64{cur.Version}})
					if expect("Replace", ref, err, tenantapi.CodeItemNotFound, tenantapi.CodePreconditionFailed) {
						mine("Replace", ref, row)
					}
				default:
					err := rows.Delete(ctx, ref, res, id, tenantapi.Precondition{})
					if expect("Delete", ref, err, tenantapi.CodeItemNotFound) || errors.Is(err, tenantapi.ErrItemNotFound) {
						tn.forget(id)
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d operations", ops.Load())
}

func indexOf(ts []*pgbTenant, tn *pgbTenant) int {
	for i, x := range ts {
		if x == tn {
			return i
		}
	}
	return -1
}

// testPgbIdempotent runs the idempotent create through PgBouncer: replays,
// a reused key, keys being per tenant, and a race for one key.
func testPgbIdempotent(t *testing.T, e *pgbEnv) {
	for i, db := range []*DB{e.plain, e.withRoles} {
		ctx := t.Context()
		raceName := int64(2_000_000 + i) // no other item has it
		rows, res := NewRowStore(db), e.items
		a, b, c := e.tenants[2].ref, e.tenants[3].ref, e.tenants[4].ref
		key := fmt.Sprintf("key-%v", db.tenantRoles)

		first, err := rows.Create(ctx, a, res, e.input(a.ID, 1), idemKey(key, "body"))
		if err != nil || first.Replayed {
			t.Fatalf("first Create: %+v, %v", first, err)
		}
		again, err := rows.Create(ctx, a, res, e.input(a.ID, 1), idemKey(key, "body"))
		if err != nil || !again.Replayed || again.Row.ID != first.Row.ID || !bytes.Equal(again.Row.JSON, first.Row.JSON) {
			t.Fatalf("repeated Create: %+v, %v; want a replay of %s", again, err, first.Row.JSON)
		}
		_, err = rows.Create(ctx, a, res, e.input(a.ID, 2), idemKey(key, "other body"))
		wantCode(t, err, tenantapi.CodeIdempotencyKeyReused)
		// Keys are per tenant: the same key elsewhere creates.
		inB, err := rows.Create(ctx, b, res, e.input(b.ID, 1), idemKey(key, "body"))
		if err != nil || inB.Replayed || inB.Row.ID == first.Row.ID {
			t.Fatalf("same key in tenant %s: %+v, %v; want a new item", b.ID, inB, err)
		}

		// A race for one key: one creates, the others replay it or are told
		// it is in flight.
		const racers = 8
		results := make([]tenantapi.CreatedRow, racers)
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				results[i], errs[i] = rows.Create(ctx, c, res, e.input(c.ID, raceName), idemKey(key+"-race", "body"))
			})
		}
		wg.Wait()
		var created []uuid.UUID
		for i := range racers {
			switch {
			case errs[i] != nil:
				if tenantapi.ErrorCode(errs[i]) != tenantapi.CodeConflict {
					t.Errorf("racer %d: %v", i, errs[i])
				}
			case !results[i].Replayed:
				created = append(created, results[i].Row.ID)
			}
		}
		if len(created) != 1 {
			t.Fatalf("racing Create created %v, want exactly one item", created)
		}
		for i := range racers {
			if errs[i] == nil && results[i].Row.ID != created[0] {
				t.Errorf("racer %d got item %s, want %s", i, results[i].Row.ID, created[0])
			}
		}
		if n := e.countItems(t, c.ID, pgbItemName(c.ID, raceName)); n != 1 {
			t.Errorf("tenant %s has %d items from the race, want 1", c.ID, n)
		}
	}
}

// countItems counts the tenant's items named name, directly.
func (e *pgbEnv) countItems(t *testing.T, id tenantapi.TenantID, name string) int {
	t.Helper()
	var n int
	if err := e.direct.owner.QueryRow(t.Context(), `SELECT count(*) FROM `+quotedSchema(id)+`.items WHERE name = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// testPgbNegativeControl shows that these tests can fail: session state set
// by one client of PgBouncer is seen by another, which is the hazard of
// LESSONS.md item 1 that the design avoids. Settings local to a transaction
// (what the service uses) do not leak. PgBouncer hands out the most recently
// released server connection (LIFO, unless server_round_robin is set), and
// the pool is idle here, so client b's next transaction lands on the one
// client a just used: the leak shows at once. It is looked for over a few
// transactions anyway, and its absence fails the test, since then the
// checks above could not have caught a leak either.
func testPgbNegativeControl(t *testing.T, e *pgbEnv) {
	ctx := t.Context()
	cc := e.direct.owner.(*pool).Config().ConnConfig
	connect := func() *pgx.Conn {
		// A bare client, no start-up parameters but the user's.
		c, err := pgx.Connect(ctx, e.bouncer.URL(e.role, "pw", cc.Database))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.WithoutCancel(ctx)) })
		return c
	}
	a, b := connect(), connect()
	victim := e.tenants[0].ref
	victimSchema := quotedSchema(victim.ID)
	victimRole := e.withRoles.main.tenantRole(victim.ID)
	state := func(c *pgx.Conn) sessionState {
		var s sessionState
		if err := c.QueryRow(ctx, `SELECT current_user::text, current_setting('role'), current_setting('search_path'), pg_backend_pid()`).
			Scan(&s.user, &s.role, &s.searchPath, &s.pid); err != nil {
			t.Fatal(err)
		}
		return s
	}
	attempts := 2*pgbPoolSize + 2

	// 1. What the service does: settings local to the transaction. Client
	// b never sees them.
	var pidA int32
	if err := a.QueryRow(ctx, `SELECT pg_backend_pid() FROM (SELECT set_config('role', $1, true), set_config('search_path', $2, true)) s`,
		victimRole, victimSchema).Scan(&pidA); err != nil {
		t.Fatal(err)
	}
	for range attempts {
		if s := state(b); !e.clean(s) {
			t.Fatalf("a transaction-local set_config on server connection %d leaked to another client: %+v", pidA, s)
		}
	}

	// 2. A session-level SET search_path on client a, then an unqualified
	// SELECT on client b.
	var want int
	if err := e.direct.owner.QueryRow(ctx, `SELECT count(*) FROM `+victimSchema+`.items`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, `SET search_path TO `+victimSchema); err != nil {
		t.Fatal(err)
	}
	leakedOn := int32(0)
	for i := range attempts {
		s := state(b)
		if emptySearchPath(s.searchPath) {
			continue
		}
		leakedOn = s.pid
		var n int
		err := b.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n)
		t.Logf("negative control: after SET search_path TO %s on client a, client b's %d. transaction saw search_path %s on server connection %d; its unqualified SELECT count(*) FROM items gave %d, %v (tenant %s has %d items)",
			victimSchema, i+1, s.searchPath, s.pid, n, err, victim.ID, want)
		if s.searchPath != victim.ID.Schema() {
			t.Errorf("client b saw search_path %s, want the leaked %s", s.searchPath, victim.ID.Schema())
		}
		if err == nil && n != want {
			t.Errorf("unqualified count on the leaked connection = %d, want tenant %s's %d", n, victim.ID, want)
		}
		break
	}
	if leakedOn == 0 {
		t.Errorf("negative control: SET search_path on client a was not observed by client b in %d transactions (PgBouncer picked other server connections?)", attempts)
	} else {
		// The service is still right on the poisoned connection: its SQL
		// names the schema. Plain runtime statements would now notice the
		// leak, which is what the storm checks.
		for _, db := range []*DB{e.plain, e.withRoles} {
			for _, tn := range e.tenants[1:4] {
				list, _, err := NewRowStore(db).List(ctx, tn.ref, e.items, tenantapi.RowQuery{Limit: 100})
				if err != nil {
					t.Fatalf("List(%s) with a poisoned server connection in the pool: %v", tn.ref.ID, err)
				}
				for _, row := range list {
					if name := decodeItem(t, row).Name; !strings.HasPrefix(name, string(tn.ref.ID)+"/") {
						t.Errorf("List(%s) with a poisoned server connection in the pool returned %q", tn.ref.ID, name)
					}
				}
			}
		}
		if s, err := readSessionState(ctx, e.plain); err == nil && !e.clean(s) {
			t.Logf("negative control: the storm's session check would have caught it: a plain runtime statement now sees %+v", s)
		}
	}

	// 3. A session-level SET ROLE: the storm's check that plain statements
	// run as the runtime role would catch it.
	if _, err := a.Exec(ctx, `SET ROLE `+quoteIdent(victimRole)); err != nil {
		t.Fatal(err)
	}
	roleLeaked := false
	for i := range attempts {
		s := state(b)
		if s.user == e.role {
			continue
		}
		roleLeaked = true
		t.Logf("negative control: after SET ROLE %s on client a, client b's %d. transaction ran as %s on server connection %d", victimRole, i+1, s.user, s.pid)
		if s.user != victimRole {
			t.Errorf("client b ran as %s, want the leaked %s", s.user, victimRole)
		}
		break
	}
	if !roleLeaked {
		t.Errorf("negative control: SET ROLE on client a was not observed by client b in %d transactions", attempts)
	}
}
