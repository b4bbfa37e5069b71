package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantapi/tenantapi"
)

// leftovers returns the replication objects a move of uid may leave: the
// publication and slots on the source, the subscription on the target.
func leftovers(t *testing.T, src, dst *DB, uid int64) []string {
	t.Helper()
	name := moveName(src.owner.database(), uid)
	var out []string
	check := func(db *DB, what, sql string) {
		var n int
		if err := db.owner.QueryRow(t.Context(), sql, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	check(src, "publication", `SELECT count(*) FROM pg_publication WHERE pubname = $1`)
	check(src, "slots", `SELECT count(*) FROM pg_replication_slots WHERE database = current_database()
		AND (slot_name = $1 OR slot_name LIKE 'pg\_%\_sync\_%')`)
	check(dst, "subscription", `SELECT count(*) FROM pg_subscription WHERE subname = $1`+thisDatabase)
	return out
}

// abortAtEnd aborts a move of id that a failed test left, so that its
// databases can be dropped.
func abortAtEnd(t *testing.T, s *stores, id tenantapi.TenantID) {
	t.Cleanup(func() { _ = s.tenants.AbortMove(context.WithoutCancel(t.Context()), id, nil) })
}

// fill creates n items in the tenant.
func fill(t *testing.T, s *stores, ref tenantapi.TenantRef, n int) {
	t.Helper()
	res := itemsAt(t, s.db, ref)
	for i := range n {
		if _, err := s.rows.Create(t.Context(), ref, res, values(res, map[string]string{"name": fmt.Sprintf("item %d", i)}), nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMoveUnderWrites moves a tenant from main to b while writers create
// items through a reference made before the move (a cached route) and
// readers read: every acknowledged write is on the target and nothing
// else is, none failed but with 503, reads never failed, the source is
// fenced (kept) and no replication object is left.
func TestMoveUnderWrites(t *testing.T) {
	t.Parallel()
	for _, commitFence := range []bool{false, true} {
		t.Run(fmt.Sprintf("commit fence %v", commitFence), func(t *testing.T) {
			t.Parallel()
			moveUnderWrites(t, commitFence)
		})
	}
}

func moveUnderWrites(t *testing.T, commitFence bool) {
	s, other := twoDatabases(t, Config{TenantRoles: true})
	ctx := t.Context()
	ref := s.createTenant(t, "acme")
	abortAtEnd(t, s, "acme")
	fill(t, s, ref, 300)
	res := itemsAt(t, s.db, ref)

	var (
		mu       sync.Mutex
		acked    = map[uuid.UUID]bool{}
		held     atomic.Int64 // writes answered unavailable
		failures []error
		reads    atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := s.rows.Create(ctx, ref, res, values(res, map[string]string{"name": fmt.Sprintf("w%d-%d", w, i)}), nil)
				mu.Lock()
				switch {
				case err == nil:
					acked[c.Row.ID] = true
				case tenantapi.ErrorCode(err) == tenantapi.CodeUnavailable:
					held.Add(1)
				default:
					failures = append(failures, err)
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 5}); err != nil {
				mu.Lock()
				failures = append(failures, fmt.Errorf("read: %w", err))
				mu.Unlock()
			}
			reads.Add(1)
			time.Sleep(time.Millisecond)
		}
	})
	time.Sleep(100 * time.Millisecond)
	var lines []string
	rep, err := s.tenants.MoveTenant(ctx, "acme", "b", MoveOptions{KeepSource: true, CommitFence: commitFence,
		Progress: func(l string) { lines = append(lines, l) }})
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("MoveTenant: %v\n%v", err, lines)
	}
	t.Logf("moved: %+v; %d writes acknowledged, %d held, %d reads", rep, len(acked), held.Load(), reads.Load())
	for _, f := range failures {
		t.Errorf("failure under the move: %v", f)
	}
	if tn, _ := s.tenants.Tenant(ctx, "acme"); tn.Database != "b" {
		t.Fatalf("tenant in %q after the move", tn.Database)
	}
	// Reconcile: the target holds the 300 and every acknowledged write,
	// nothing else.
	bdb := open(t, Config{URL: other})
	ids := func(db *DB, schema string) map[uuid.UUID]bool {
		rows, err := db.owner.Query(ctx, `SELECT id FROM `+ident(schema)+`.items`)
		if err != nil {
			t.Fatal(err)
		}
		out := map[uuid.UUID]bool{}
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out[id] = true
		}
		return out
	}
	onTarget, onSource := ids(bdb, "tenant_acme"), ids(s.db, "tenant_acme_moved")
	for id := range acked {
		if !onTarget[id] {
			t.Errorf("acknowledged write %s is not on the target", id)
		}
	}
	if len(onTarget) != 300+len(acked) {
		t.Errorf("target holds %d rows, want 300 + %d acknowledged", len(onTarget), len(acked))
	}
	for id := range onSource {
		if !onTarget[id] {
			t.Errorf("row %s is on the source only: accepted there after the flip", id)
		}
	}
	if len(acked) == 0 {
		t.Error("no write was acknowledged during the move")
	}
	// The kept source refuses writes.
	_, err = s.db.owner.Exec(ctx, `INSERT INTO tenant_acme_moved.items (id, name) VALUES (gen_random_uuid(), 'late')`)
	if sqlState(err) != sqlTenantMoved {
		t.Errorf("a write to the kept source: %v, want SQLSTATE %s", err, sqlTenantMoved)
	}
	if l := leftovers(t, s.db, bdb, ref.UID); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	var moves int
	s.db.owner.QueryRow(ctx, `SELECT count(*) FROM public.tenant_moves`).Scan(&moves)
	if moves != 0 {
		t.Errorf("%d moves still recorded", moves)
	}
	// Moving it back (beside the source kept in main) drops b's schema.
	if _, err := s.tenants.MoveTenant(ctx, "acme", MainDatabase, MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if schemaIn(t, other, "acme_moved") {
		t.Error("b kept its source")
	}
	if schemaIn(t, other, "acme") || !s.schemaExists(t, "acme") {
		t.Error("after moving back, the schema is not in main alone")
	}
	if n := s.queryInt(t, `SELECT count(*) FROM tenant_acme.items`); n != len(onTarget) {
		t.Errorf("moved back with %d rows, want %d", n, len(onTarget))
	}
}

var errCrash = errors.New("crash")

// stopAt is an AfterStep that stops the move, as a crash would, once step
// is recorded.
func stopAt(step string) func(string) error {
	return func(st string) error {
		if st == step {
			return errCrash
		}
		return nil
	}
}

// TestMoveCrashAtEachStep stops the move after each step, as a crash
// would, then runs it again (even steps) or aborts it (odd ones): the
// tenant serves throughout, ends in one database with every row, and no
// replication object is left.
func TestMoveCrashAtEachStep(t *testing.T) {
	t.Parallel()
	for i, step := range stepOrder[:len(stepOrder)-1] {
		abort := i%2 == 1 && stepIndex(step) < stepIndex(stepFlipped)
		t.Run(fmt.Sprintf("%s abort=%v", step, abort), func(t *testing.T) {
			t.Parallel()
			s, other := twoDatabases(t, Config{})
			ctx := t.Context()
			ref := s.createTenant(t, "acme")
			abortAtEnd(t, s, "acme")
			fill(t, s, ref, 20)
			_, err := s.tenants.MoveTenant(ctx, "acme", "b", MoveOptions{AfterStep: stopAt(step)})
			if !errors.Is(err, errCrash) {
				t.Fatalf("MoveTenant = %v, want the crash", err)
			}
			res := itemsAt(t, s.db, ref)
			// Serving between: a read, and a write unless fenced.
			if _, _, err := s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 5}); err != nil {
				t.Errorf("read after the crash: %v", err)
			}
			want := 20
			if stepIndex(step) < stepIndex(stepFenced) || stepIndex(step) >= stepIndex(stepFlipped) {
				if _, err := s.rows.Create(ctx, ref, res, values(res, map[string]string{"name": "between"}), nil); err != nil {
					t.Errorf("write after the crash: %v", err)
				}
				want++
			}
			// A move to elsewhere, or a delete, waits for this one to be done.
			_, err = s.tenants.MoveTenant(ctx, "acme", "c", MoveOptions{})
			wantCode(t, err, tenantapi.CodeConflict)
			_, err = s.tenants.MarkTenantDeleting(ctx, "acme")
			wantCode(t, err, tenantapi.CodeConflict)
			home := "b"
			if abort {
				if err := s.tenants.AbortMove(ctx, "acme", nil); err != nil {
					t.Fatalf("AbortMove: %v", err)
				}
				home = MainDatabase
			} else if _, err := s.tenants.MoveTenant(ctx, "acme", "b", MoveOptions{}); err != nil {
				t.Fatalf("MoveTenant again: %v", err)
			}
			if tn, _ := s.tenants.Tenant(ctx, "acme"); tn.Database != home {
				t.Fatalf("tenant in %s, want %s", tn.Database, home)
			}
			inB, inMain := schemaIn(t, other, "acme"), s.schemaExists(t, "acme")
			if inB != (home == "b") || inMain != (home == MainDatabase) {
				t.Errorf("schema in b %v, in main %v; want it in %s alone", inB, inMain, home)
			}
			if rows, _, err := s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 100}); err != nil || len(rows) != want {
				t.Errorf("after: %d rows (%v), want %d", len(rows), err, want)
			}
			if _, err := s.rows.Create(ctx, ref, res, values(res, map[string]string{"name": "after"}), nil); err != nil {
				t.Errorf("write after: %v", err)
			}
			if l := leftovers(t, s.db, open(t, Config{URL: other}), ref.UID); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
			if n := s.queryInt(t, `SELECT count(*) FROM public.tenant_moves`); n != 0 {
				t.Errorf("%d moves still recorded", n)
			}
		})
	}
}

// TestMoveRefusals: a tenant behind this binary's versions, an unknown
// database, an absent tenant, and an abort with no move are refused; a
// move to where the tenant lives does nothing.
func TestMoveRefusals(t *testing.T) {
	t.Parallel()
	s, _ := twoDatabases(t, Config{})
	ctx := t.Context()
	s.createTenant(t, "acme")
	rep, err := s.tenants.MoveTenant(ctx, "acme", MainDatabase, MoveOptions{})
	if err != nil || !rep.AlreadyThere {
		t.Errorf("move to main = %+v, %v", rep, err)
	}
	_, err = s.tenants.MoveTenant(ctx, "acme", "nowhere", MoveOptions{})
	wantCode(t, err, tenantapi.CodeNotFound)
	_, err = s.tenants.MoveTenant(ctx, "nobody", "b", MoveOptions{})
	wantErr(t, err, tenantapi.ErrTenantNotFound)
	wantCode(t, s.tenants.AbortMove(ctx, "acme", nil), tenantapi.CodeNotFound)
	m2 := s.mig.WithTenantMigrations(Migration{Version: 2, Name: "x", SQL: `CREATE TABLE x (id int PRIMARY KEY)`})
	_, err = NewTenantStore(s.db, m2).MoveTenant(ctx, "acme", "b", MoveOptions{})
	wantCode(t, err, tenantapi.CodeConflict)
}

// TestMoveFailureIsUndone: a move that fails before the flip (here its
// hold can never finish in time) is undone: the tenant serves from the
// source with every row, and nothing of the move is left on either side.
func TestMoveFailureIsUndone(t *testing.T) {
	t.Parallel()
	s, other := twoDatabases(t, Config{})
	ctx := t.Context()
	ref := s.createTenant(t, "acme")
	abortAtEnd(t, s, "acme")
	fill(t, s, ref, 10)
	_, err := s.tenants.MoveTenant(ctx, "acme", "b", MoveOptions{HoldTimeout: time.Nanosecond})
	if err == nil {
		t.Fatal("the move succeeded")
	}
	if tn, _ := s.tenants.Tenant(ctx, "acme"); tn.Database != MainDatabase {
		t.Errorf("tenant in %s after a failed move", tn.Database)
	}
	if schemaIn(t, other, "acme") {
		t.Error("the target schema is left")
	}
	if l := leftovers(t, s.db, open(t, Config{URL: other}), ref.UID); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenant_moves`); n != 0 {
		t.Errorf("%d moves still recorded", n)
	}
	res := itemsAt(t, s.db, ref)
	if rows, _, err := s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 100}); err != nil || len(rows) != 10 {
		t.Errorf("after: %d rows, %v", len(rows), err)
	}
}

// TestMoveRefusesATargetThatDiffers: a target that does not hold what the
// source holds (here a row changed behind the subscription's back) never
// checks equal, so the move does not flip: it is undone, naming the table.
func TestMoveRefusesATargetThatDiffers(t *testing.T) {
	t.Parallel()
	s, other := twoDatabases(t, Config{})
	ctx := t.Context()
	ref := s.createTenant(t, "acme")
	abortAtEnd(t, s, "acme")
	fill(t, s, ref, 10)
	_, err := s.tenants.MoveTenant(ctx, "acme", "b", MoveOptions{AfterStep: stopAt(stepCopied)})
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	bdb := open(t, Config{URL: other})
	if _, err := bdb.owner.Exec(ctx, `UPDATE tenant_acme.items SET name = 'changed on the target' WHERE id = (SELECT id FROM tenant_acme.items ORDER BY id LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	_, err = s.tenants.MoveTenant(ctx, "acme", "b", MoveOptions{HoldTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "table items") {
		t.Fatalf("MoveTenant = %v, want a refusal naming table items", err)
	}
	if tn, _ := s.tenants.Tenant(ctx, "acme"); tn.Database != MainDatabase {
		t.Errorf("tenant in %s", tn.Database)
	}
	if schemaIn(t, other, "acme") {
		t.Error("the target schema is left")
	}
}

// TestHeldWritesLeaveThePool: writes of a tenant being moved that meet the
// write hold (here its table locked as the hold locks it) give their
// connections back and wait without them, so another tenant's request on
// the same small pool is served while the hold lasts; when it ends, the
// writes are done. Without Moving, the same writes take the pool and the
// other tenant's request waits for the hold.
func TestHeldWritesLeaveThePool(t *testing.T) {
	t.Parallel()
	for _, moving := range []bool{true, false} {
		t.Run(fmt.Sprintf("moving %v", moving), func(t *testing.T) {
			t.Parallel()
			s := setupWith(t, Config{MaxConns: 2})
			ctx := t.Context()
			a, b := s.createTenant(t, "acme"), s.createTenant(t, "other")
			a.Moving = moving
			res := itemsAt(t, s.db, a)
			hold := open(t, Config{URL: s.url})
			tx, err := hold.owner.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			if _, err := tx.Exec(ctx, `LOCK TABLE tenant_acme.items IN EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 6)
			for i := range 6 {
				go func() {
					_, err := s.rows.Create(ctx, a, res, values(res, map[string]string{"name": fmt.Sprint("held ", i)}), nil)
					errs <- err
				}()
			}
			time.Sleep(300 * time.Millisecond)
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, _, err = s.rows.List(rctx, b, res, tenantapi.RowQuery{Limit: 5})
			cancel()
			served := err == nil
			if served != moving {
				t.Errorf("the other tenant's read during the hold: %v (moving %v)", err, moving)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			for range 6 {
				if err := <-errs; err != nil && moving {
					t.Errorf("a held write: %v", err)
				}
			}
		})
	}
}

// TestCommittedFenceWithoutFlipIsUnavailable: on a source without prepared
// transactions the fence commits before the flip; a mover that dies
// between leaves the tenant unavailable (503, not gone) until the move is
// carried on, which then serves it from the target.
func TestCommittedFenceWithoutFlipIsUnavailable(t *testing.T) {
	t.Parallel()
	s, _ := twoDatabases(t, Config{})
	ctx := t.Context()
	ref := s.createTenant(t, "acme")
	abortAtEnd(t, s, "acme")
	fill(t, s, ref, 3)
	_, err := s.tenants.MoveTenant(ctx, "acme", "b", MoveOptions{CommitFence: true, AfterStep: stopAt(stepFenced)})
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	res := itemsAt(t, s.db, ref)
	_, _, err = s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 5})
	wantErr(t, err, tenantapi.ErrTenantMoving)
	if _, err := s.tenants.MoveTenant(ctx, "acme", "b", MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if rows, _, err := s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 5}); err != nil || len(rows) != 3 {
		t.Errorf("after the move was carried on: %d rows, %v", len(rows), err)
	}
}
