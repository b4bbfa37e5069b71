package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantapi/tenantapi"
)

// Moving a tenant to another database, online, on PostgreSQL's logical
// replication (SPEC §12):
//
//	prepare   a row in public.tenant_moves records the move (and keeps
//	          migrations off the tenant until it is done)
//	schema    the tenant's schema is made on the target at the tenant's
//	          versions, its tables empty
//	publish   on the source: a publication of the tenant's tables and a
//	          logical replication slot, both named tenantapi_move_<uid>
//	subscribe on the target: a subscription on that slot, which copies
//	          every table and then streams every change
//	copy      wait until every table is copied
//	hold      the tenant's tables are locked against writes on the source
//	          (reads go on); once the target has every change before the
//	          lock, it is checked equal (row counts and checksums), the
//	          sequences are carried over and the source is fenced: its
//	          schema is renamed tenant_<id>_moved, and a trigger on each
//	          table refuses any write with SQLSTATE TA001. Statements that
//	          waited on the lock, and any that a cached route still sends
//	          there, then find no schema, and the store sends them on to
//	          the target once the placement flips (routed): a read never
//	          sees the source after a write went to the target.
//	flip      the registry places the tenant on the target
//	cleanup   subscription, slot and publication are dropped, and the
//	          source schema too unless it is kept
//
// The row's step says what is done. Running the move again after a crash
// carries on from there (every step checks what exists before it acts);
// aborting undoes whatever exists, as long as the placement has not
// flipped.

// The steps of a move, in order, as public.tenant_moves.step records them.
const (
	stepPrepare   = "prepare"
	stepSchema    = "schema"
	stepPublish   = "publish"
	stepSubscribe = "subscribe"
	stepCopied    = "copied"
	stepFenced    = "fenced"
	stepFlipped   = "flipped"
	stepCleaned   = "cleaned"
)

var stepOrder = []string{stepPrepare, stepSchema, stepPublish, stepSubscribe, stepCopied, stepFenced, stepFlipped, stepCleaned}

func stepIndex(step string) int {
	for i, s := range stepOrder {
		if s == step {
			return i
		}
	}
	return -1
}

// MoveOptions tunes MoveTenant.
type MoveOptions struct {
	// KeepSource keeps the source schema (fenced against writes) instead
	// of dropping it right after the flip. A process that routes the
	// tenant there from its cache (until the change feed tells it, within
	// CACHE_TTL) then reads the source's rows as they were at the flip;
	// with the schema dropped it meets no schema and reads the target.
	KeepSource bool
	// HoldTimeout bounds one write hold: if the target has not caught up
	// and checked equal within it, the hold is released and tried again
	// (three times). 0 means 5 s.
	HoldTimeout time.Duration
	// Progress, when set, is told what the move is doing, one line at a
	// time.
	Progress func(line string)
	// AfterStep, when set, is called once each step is recorded; an error
	// stops the move there as a crash would (for tests of recovery).
	AfterStep func(step string) error
	// Settle is how long after the move is recorded its write hold may
	// begin at the earliest: the time every serving process takes to
	// learn from the change feed that the tenant is moving (CACHE_TTL),
	// so that its writes meet the hold without holding a connection (see
	// TenantRef.Moving). 0 means 2 s, CACHE_TTL's default.
	Settle time.Duration
	// CommitFence commits the fence before the flip even where the source
	// has prepared transactions (max_prepared_transactions > 0), as on a
	// source without them: statements that meet it wait for the flip,
	// and a mover that dies between leaves the tenant unavailable until
	// the move is run again or aborted.
	CommitFence bool
}

// MoveReport is what a finished move did.
type MoveReport struct {
	Tenant       tenantapi.TenantID
	From, To     string
	Rows         int64         // rows checked equal, over every table
	Tables       int           // tables moved
	Hold         time.Duration // how long writes were held
	Holds        int           // hold attempts
	Duration     time.Duration
	KeptSource   bool
	AlreadyThere bool // nothing to do: the tenant lives in To already
}

var errMoveNeedsPgx = tenantapi.Errorf(tenantapi.CodeInternal,
	"tenant moves need the pgx driver (DB_DRIVER=pgx): replication is set up and checked over connections")

// movesPossible reports whether this process can move tenants: its
// databases are reached over connections (every database of a process
// has main's driver).
func (db *DB) movesPossible() bool {
	_, ok := db.main.owner.(*pool)
	return ok
}

// move is one MoveTenant call.
type move struct {
	s        *TenantStore
	id       tenantapi.TenantID
	uid      int64
	src, dst *site
	name     string // of the publication, slot and subscription, and the hold's prepared transaction
	opts     MoveOptions
	twoPhase bool // the source has prepared transactions: the hold is one
	rep      MoveReport
}

// moveName is the name of the publication, slot and subscription of the
// move of uid out of the database named source. Slot names are
// cluster-wide: the source's name (as a tenant role prefix hashes it)
// keeps moves out of two databases of one cluster apart.
func moveName(source string, uid int64) string {
	return "tenantapi_move_" + rolePrefix(source) + strconv.FormatInt(uid, 10)
}

// movedSchema is the name of a fenced source schema: tenant_<id>_moved.
func movedSchema(id tenantapi.TenantID) string { return id.Schema() + "_moved" }

// thisDatabase limits a query of the cluster-wide pg_subscription to the
// connection's database.
const thisDatabase = ` AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`

// MoveTenant moves the tenant to the database named to, online, as the
// comment at the top of move.go describes, and returns what it did. A move
// of the tenant that is recorded already (a crashed run) is carried on;
// one to another database is CodeConflict (abort it first). Moving a
// tenant to where it lives is a no-op. Both databases need the pgx driver;
// the source needs wal_level=logical and the target's owner the right to
// create subscriptions.
func (s *TenantStore) MoveTenant(ctx context.Context, id tenantapi.TenantID, to string, opts MoveOptions) (MoveReport, error) {
	start := time.Now()
	mv, step, err := s.startMove(ctx, id, to, opts)
	if err != nil || mv == nil {
		return MoveReport{Tenant: id, To: to, AlreadyThere: err == nil}, err
	}
	if step == stepPrepare && opts.AfterStep != nil {
		if err := opts.AfterStep(step); err != nil {
			return mv.rep, stopped{err}
		}
	}
	if err := mv.run(ctx, step); err != nil {
		return mv.rep, mv.failed(ctx, err)
	}
	mv.rep.Duration = time.Since(start)
	return mv.rep, nil
}

// stopped is an AfterStep error: the move stops there as a crash would.
type stopped struct{ err error }

func (s stopped) Error() string { return s.err.Error() }
func (s stopped) Unwrap() error { return s.err }

// failed handles a move that failed with err. Stopped (ctx done, or
// AfterStep), it stays as it is, to be carried on or aborted by the next
// run: on Lambda a long copy spans invocations. Failed before the flip, it
// is undone, so that it leaves nothing behind; after the flip it can only
// be finished, by running it again.
func (mv *move) failed(ctx context.Context, err error) error {
	var st stopped
	if errors.As(err, &st) || ctx.Err() != nil {
		mv.progress("stopped: run the move again to carry on, or abort it")
		return err
	}
	var step string
	if e := mv.s.db.owner.QueryRow(ctx, `SELECT step FROM public.tenant_moves WHERE tenant_uid = $1`, mv.uid).Scan(&step); e != nil || stepIndex(step) >= stepIndex(stepFlipped) {
		mv.progress("failed after the flip: run the move again to finish it")
		return err
	}
	mv.progress("failed: undoing the move")
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if aerr := mv.s.AbortMove(uctx, mv.id, mv.opts.Progress); aerr != nil {
		return fmt.Errorf("%w; undoing the move failed too (%v): run tenants move %s --abort", err, aerr, mv.id)
	}
	return err
}

// startMove records the move, or finds the one recorded, and returns it
// with the last step done; nil when the tenant is at to already.
func (s *TenantStore) startMove(ctx context.Context, id tenantapi.TenantID, to string, opts MoveOptions) (*move, string, error) {
	if _, err := tenantapi.ParseTenantID(string(id)); err != nil {
		return nil, "", tenantapi.ErrTenantNotFound
	}
	if opts.HoldTimeout <= 0 {
		opts.HoldTimeout = 5 * time.Second
	}
	mv := &move{s: s, id: id, opts: opts}
	var (
		from, step, target string
		keep               bool
		status             tenantapi.TenantStatus
	)
	err := inTx(ctx, s.db.owner, func(tx pgx.Tx) error {
		// The registry row's lock waits for a migration of the tenant
		// that is running, and the move's row keeps the next one off.
		if err := tx.QueryRow(ctx, `SELECT uid, status, database FROM public.tenants WHERE id = $1 FOR UPDATE`, string(id)).
			Scan(&mv.uid, &status, &from); err != nil {
			return err
		}
		if status == tenantapi.TenantDeleting {
			return tenantapi.ErrTenantNotFound
		}
		err := tx.QueryRow(ctx, `SELECT source, target, step, keep_source FROM public.tenant_moves WHERE tenant_uid = $1`, mv.uid).
			Scan(&from, &target, &step, &keep)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if to == from || (to == "" && from == MainDatabase) {
				return nil
			}
			if !s.db.movesPossible() {
				// Refused before the move is recorded, so that
				// nothing is left to abort.
				return errMoveNeedsPgx
			}
			if to != MainDatabase {
				if _, err := s.db.database(ctx, to); err != nil {
					return err
				}
			}
			var behind bool
			if err := tx.QueryRow(ctx, `SELECT schema_version <> $2 OR product_version <> $3 FROM public.tenants WHERE uid = $1`,
				mv.uid, s.m.LatestTenantVersion(), LatestProductVersion()).Scan(&behind); err != nil {
				return err
			}
			if behind {
				return tenantapi.Errorf(tenantapi.CodeConflict, "tenant %s is not at this binary's versions: run migrate first", id)
			}
			target, step, keep = to, stepPrepare, opts.KeepSource
			_, err := tx.Exec(ctx, `INSERT INTO public.tenant_moves (tenant_uid, source, target, step, keep_source) VALUES ($1, $2, $3, $4, $5)`,
				mv.uid, from, target, step, keep)
			if err != nil {
				return err
			}
			// The change feed tells every serving process the tenant is
			// moving (TenantRef.Moving).
			_, err = tx.Exec(ctx, `UPDATE public.tenants SET updated_at = now() WHERE uid = $1`, mv.uid)
			return err
		case err != nil:
			return err
		case to != "" && to != target:
			return tenantapi.Errorf(tenantapi.CodeConflict, "tenant %s is being moved to %s: run the move to %s again to finish it, or abort it", id, target, target)
		}
		return nil
	})
	if err != nil {
		return nil, "", translate(err, registryScope)
	}
	if step == "" {
		return nil, "", nil
	}
	mv.opts.KeepSource = keep
	mv.rep = MoveReport{Tenant: id, From: from, To: target, KeptSource: keep}
	if mv.src, err = s.db.site(ctx, from); err != nil {
		return nil, "", err
	}
	if mv.dst, err = s.db.site(ctx, target); err != nil {
		return nil, "", err
	}
	mv.name = moveName(mv.src.owner.database(), mv.uid)
	for _, st := range []*site{mv.src, mv.dst} {
		if _, ok := st.owner.(*pool); !ok {
			return nil, "", errMoveNeedsPgx
		}
	}
	return mv, step, nil
}

func (mv *move) progress(format string, args ...any) {
	if mv.opts.Progress != nil {
		mv.opts.Progress(fmt.Sprintf(format, args...))
	}
}

// record notes that step is done.
func (mv *move) record(ctx context.Context, step string) error {
	_, err := mv.s.db.owner.Exec(ctx, `UPDATE public.tenant_moves SET step = $2, updated_at = now() WHERE tenant_uid = $1`, mv.uid, step)
	if err != nil {
		return translate(err, publicScope)
	}
	if mv.opts.AfterStep != nil {
		if err := mv.opts.AfterStep(step); err != nil {
			return stopped{err}
		}
	}
	return nil
}

// run carries the move on from the step after done.
func (mv *move) run(ctx context.Context, done string) error {
	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{stepSchema, mv.makeSchema},
		{stepPublish, mv.publish},
		{stepSubscribe, mv.subscribe},
		{stepCopied, mv.waitCopied},
		{stepFenced, mv.hold},
		{stepFlipped, mv.flip},
		{stepCleaned, mv.cleanup},
	}
	if done == stepPrepare {
		mv.progress("moving tenant %s from %s to %s", mv.id, mv.rep.From, mv.rep.To)
	} else {
		mv.progress("carrying on the move of tenant %s from %s to %s after step %s", mv.id, mv.rep.From, mv.rep.To, done)
	}
	for _, st := range steps {
		if stepIndex(st.name) <= stepIndex(done) {
			continue
		}
		if err := st.do(ctx); err != nil {
			return err
		}
		if err := mv.record(ctx, st.name); err != nil {
			return err
		}
	}
	if err := mv.s.db.forgetMove(ctx, mv.uid); err != nil {
		return err
	}
	mv.progress("moved tenant %s to %s", mv.id, mv.rep.To)
	return nil
}

// srcPool and dstPool are the owners' pools of the two databases.
func (mv *move) srcPool() *pool { return mv.src.owner.(*pool) }
func (mv *move) dstPool() *pool { return mv.dst.owner.(*pool) }

// makeSchema creates the tenant's schema on the target at the source
// ledger's versions, with no rows. A schema there already is a leftover of
// this move (the registry places the tenant on the source, and no
// subscription fills it yet): it is made again.
func (mv *move) makeSchema(ctx context.Context) error {
	rows, err := mv.srcPool().Query(ctx, forTenant(`SELECT track, version, file, checksum FROM {{schema}}._tenantapi_migrations ORDER BY track DESC, version`, mv.id))
	if err != nil {
		return translate(err, publicScope)
	}
	ledger, err := pgx.CollectRows(rows, pgx.RowToStructByPos[LedgerEntry])
	if err != nil {
		return translate(err, publicScope)
	}
	if err := mv.dropSubscription(ctx); err != nil {
		return err
	}
	err = mv.s.db.inPlaced(ctx, mv.dst, mv.id, func(reg, sch pgx.Tx) error {
		if _, err := sch.Exec(ctx, forTenant(`DROP SCHEMA IF EXISTS {{schema}} CASCADE`, mv.id)); err != nil {
			return err
		}
		if err := mv.s.schemaAt(ctx, reg, sch, mv.id, ledger); err != nil {
			return err
		}
		return mv.dst.grantTenant(ctx, sch, mv.id)
	})
	if err != nil {
		return translate(err, publicScope)
	}
	mv.progress("schema made on %s at the tenant's versions", mv.rep.To)
	return nil
}

// movedFenceSQL is the trigger function of the fence on a moved source.
const movedFenceSQL = `CREATE OR REPLACE FUNCTION public.tenantapi_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the tenant has moved to another database' USING ERRCODE = 'TA001';
END
$$`

// publish makes the publication of the tenant's tables and the slot on the
// source, each unless it exists. A table without a primary key publishes
// its updates with the whole row as identity.
func (mv *move) publish(ctx context.Context) error {
	src := mv.srcPool()
	tables, err := mv.tables(ctx, src, mv.id.Schema())
	if err != nil {
		return err
	}
	var kept bool
	if err := src.QueryRow(ctx, `SELECT to_regnamespace($1) IS NOT NULL`, ident(movedSchema(mv.id))).Scan(&kept); err != nil {
		return translate(err, publicScope)
	}
	if kept {
		return tenantapi.Errorf(tenantapi.CodeConflict, "%s holds %s, the source an earlier move kept: drop it (DROP SCHEMA %s CASCADE) before moving the tenant out again",
			mv.rep.From, movedSchema(mv.id), movedSchema(mv.id))
	}
	err = inTx(ctx, src, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, movedFenceSQL); err != nil {
			return err
		}
		for _, t := range tables {
			if len(t.key) == 0 {
				if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{mv.id.Schema(), t.name}.Sanitize()+` REPLICA IDENTITY FULL`); err != nil {
					return err
				}
			}
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, mv.name).Scan(&exists); err != nil || exists {
			return err
		}
		names := make([]string, len(tables))
		for i, t := range tables {
			names[i] = pgx.Identifier{mv.id.Schema(), t.name}.Sanitize()
		}
		_, err := tx.Exec(ctx, `CREATE PUBLICATION `+ident(mv.name)+` FOR TABLE `+strings.Join(names, ", "))
		return err
	})
	if err != nil {
		return moveError("publishing the tenant's tables on "+mv.rep.From, err)
	}
	var exists bool
	if err := src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, mv.name).Scan(&exists); err != nil {
		return translate(err, publicScope)
	}
	if !exists {
		// FROM the function, not SELECT f(): the result is a record.
		if _, err := src.Exec(ctx, `SELECT 1 FROM pg_create_logical_replication_slot($1, 'pgoutput')`, mv.name); err != nil {
			return moveError("creating the replication slot on "+mv.rep.From+" (it needs wal_level=logical)", err)
		}
	}
	mv.rep.Tables = len(tables)
	mv.progress("published %d tables on %s", len(tables), mv.rep.From)
	return nil
}

// tables lists the tables of the schema on p's database.
func (mv *move) tables(ctx context.Context, p *pool, schema string) ([]tableInfo, error) {
	var tables []tableInfo
	err := inTx(ctx, p, func(tx pgx.Tx) error {
		var err error
		tables, err = schemaTables(ctx, tx, schema)
		return err
	})
	if err != nil {
		return nil, translate(err, publicScope)
	}
	if len(tables) == 0 {
		return nil, tenantapi.Errorf(tenantapi.CodeInternal, "tenant %s has no tables on %s", mv.id, mv.rep.From)
	}
	return tables, nil
}

// subscribe makes the subscription on the target, unless it exists, on the
// slot publish made, and records its oid: the slots its table copies make
// on the source are named after it.
func (mv *move) subscribe(ctx context.Context) error {
	dst := mv.dstPool()
	var oid int64
	err := dst.QueryRow(ctx, `SELECT oid::bigint FROM pg_subscription WHERE subname = $1`+thisDatabase, mv.name).Scan(&oid)
	if errors.Is(err, pgx.ErrNoRows) {
		conn, cerr := mv.srcPool().conninfo(ctx)
		if cerr != nil {
			return cerr
		}
		// Built by the server, which quotes the connection string (and
		// its password) as a literal; the statement is never logged here.
		var stmt string
		if err := dst.QueryRow(ctx, `SELECT format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I
			WITH (create_slot = false, slot_name = %L, copy_data = true, synchronous_commit = ''on'')', $1::text, $2::text, $1::text, $1::text)`,
			mv.name, conn).Scan(&stmt); err != nil {
			return translate(err, publicScope)
		}
		if _, err := dst.Exec(ctx, stmt); err != nil {
			return moveError("subscribing on "+mv.rep.To+" (its owner needs the right to create subscriptions, and to reach "+mv.rep.From+")", err)
		}
		err = dst.QueryRow(ctx, `SELECT oid::bigint FROM pg_subscription WHERE subname = $1`+thisDatabase, mv.name).Scan(&oid)
	}
	if err != nil {
		return translate(err, publicScope)
	}
	if _, err := mv.s.db.owner.Exec(ctx, `UPDATE public.tenant_moves SET subscription_oid = $2 WHERE tenant_uid = $1`, mv.uid, oid); err != nil {
		return translate(err, publicScope)
	}
	mv.progress("subscribed on %s: copying", mv.rep.To)
	return nil
}

// waitCopied waits until every table of the subscription is copied and
// streaming, showing progress every few seconds.
func (mv *move) waitCopied(ctx context.Context) error {
	dst := mv.dstPool()
	last := time.Time{}
	for {
		var ready, total int
		err := dst.QueryRow(ctx, `SELECT count(*) FILTER (WHERE r.srsubstate = 'r'), count(*)
			FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1`+thisDatabase, mv.name).Scan(&ready, &total)
		if err != nil {
			return translate(err, publicScope)
		}
		if total > 0 && ready == total {
			mv.progress("copied %d tables; streaming changes", total)
			return nil
		}
		if time.Since(last) > 3*time.Second {
			var rows int64
			_ = dst.QueryRow(ctx, `SELECT coalesce(sum(n_live_tup), 0)::bigint FROM pg_stat_user_tables WHERE schemaname = $1`, mv.id.Schema()).Scan(&rows)
			mv.progress("copying: %d of %d tables done, about %d rows on %s so far", ready, total, rows, mv.rep.To)
			last = time.Now()
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return tenantapi.Wrap(tenantapi.CodeUnavailable, ctx.Err(), "the move stopped before it was done; run it again to carry on, or abort it")
	}
}

// settle waits until Settle has passed since the move was recorded.
func (mv *move) settle(ctx context.Context) error {
	d := mv.opts.Settle
	if d <= 0 {
		d = 2 * time.Second
	}
	var seconds float64 // since the move was recorded, by the database's clock
	if err := mv.s.db.owner.QueryRow(ctx, `SELECT extract(epoch FROM now() - started_at)::float8 FROM public.tenant_moves WHERE tenant_uid = $1`, mv.uid).
		Scan(&seconds); err != nil {
		return translate(err, publicScope)
	}
	if wait := d - time.Duration(seconds*float64(time.Second)); wait > 0 {
		mv.progress("waiting %s for every process to learn the tenant is moving", wait.Round(time.Millisecond))
		return sleep(ctx, wait)
	}
	return nil
}

// errHoldAgain is a hold that was released without fencing: try again.
var errHoldAgain = errors.New("the target did not catch up within the hold")

// hold holds the tenant's writes on the source, checks the target equal,
// carries the sequences over and fences the source (see the top of this
// file). A source fenced already (a crashed run) is checked again and
// kept.
func (mv *move) hold(ctx context.Context) error {
	if ok, err := mv.prepared(ctx); err != nil || ok {
		// Held, checked and fenced under the lock it still holds.
		return err
	}
	fenced, err := mv.fenced(ctx)
	if err != nil {
		return err
	}
	if fenced {
		// Nothing can write to the source now: the check needs no lock.
		rows, err := mv.compare(ctx, nil, movedSchema(mv.id))
		if err != nil {
			return err
		}
		mv.rep.Rows = rows
		return nil
	}
	if err := mv.settle(ctx); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		mv.rep.Holds = attempt
		err := mv.holdOnce(ctx)
		if !errors.Is(err, errHoldAgain) || attempt == 3 {
			return err
		}
		mv.progress("hold %d released: %v; trying again", attempt, err)
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

func (mv *move) holdOnce(ctx context.Context) error {
	src := mv.srcPool()
	if err := src.QueryRow(ctx, `SELECT current_setting('max_prepared_transactions')::int > 0`).Scan(&mv.twoPhase); err != nil {
		return translate(err, publicScope)
	}
	mv.twoPhase = mv.twoPhase && !mv.opts.CommitFence
	tables, err := mv.tables(ctx, src, mv.id.Schema())
	if err != nil {
		return err
	}
	// Two connections of its own, taken before the lock: writes that
	// wait on it may hold every other one of the pool (they share it in
	// a process that serves too).
	lockConn, err := src.Acquire(ctx)
	if err != nil {
		return translate(err, publicScope)
	}
	defer lockConn.Release()
	poll, err := src.Acquire(ctx)
	if err != nil {
		return translate(err, publicScope)
	}
	defer poll.Release()
	// Wait, unlocked, until the target is close behind: the hold then
	// only covers the last few changes.
	if err := mv.caughtUp(ctx, poll, "", 0); err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, mv.opts.HoldTimeout)
	defer cancel()
	tx, err := lockConn.Begin(hctx)
	if err != nil {
		return translate(err, publicScope)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
	started := time.Now()
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{mv.id.Schema(), t.name}.Sanitize()
	}
	// EXCLUSIVE: every write waits, reads go on. A write that holds a lock
	// already makes this wait; lock_timeout keeps that wait short.
	if _, err := tx.Exec(hctx, `SELECT set_config('lock_timeout', '1000', true)`); err != nil {
		return translate(err, publicScope)
	}
	if _, err := tx.Exec(hctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		if code := sqlState(err); code == sqlLockNotAvailable || code == sqlDeadlock {
			return fmt.Errorf("%w (a write held its lock)", errHoldAgain)
		}
		return translate(err, publicScope)
	}
	// The insert position: every commit before the lock is before it
	// (the write position may lag behind commits not yet flushed).
	var lsn string
	if err := tx.QueryRow(hctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
		return translate(err, publicScope)
	}
	// WAL is decoded once flushed: with synchronous_commit off on the
	// source, the last commits could wait for the WAL writer. A
	// transaction committed synchronously flushes everything before it.
	if err := flushWAL(hctx, poll); err != nil {
		return err
	}
	if err := mv.caughtUp(hctx, poll, lsn, 0); err != nil {
		if hctx.Err() != nil && ctx.Err() == nil {
			var confirmed string
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_ = poll.QueryRow(dctx, `SELECT coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots WHERE slot_name = $1`, mv.name).Scan(&confirmed)
			return fmt.Errorf("%w (the target confirmed %s of %s)", errHoldAgain, confirmed, lsn)
		}
		return err
	}
	rows, err := mv.compare(hctx, tx, mv.id.Schema())
	if err != nil {
		if hctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%w (checking took too long)", errHoldAgain)
		}
		return err
	}
	if err := mv.carrySequences(hctx, tx); err != nil {
		return err
	}
	for _, n := range names {
		if _, err := tx.Exec(hctx, `CREATE TRIGGER tenantapi_moved BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON `+n+
			` FOR EACH STATEMENT EXECUTE FUNCTION public.tenantapi_moved()`); err != nil {
			return moveError("fencing the source", err)
		}
	}
	if _, err := tx.Exec(hctx, `ALTER SCHEMA `+quotedSchema(mv.id)+` RENAME TO `+ident(movedSchema(mv.id))); err != nil {
		return moveError("fencing the source", err)
	}
	// Prepared, the fence stays invisible and the lock held, durably,
	// until the flip is done: reads go on on the source meanwhile, even if
	// the mover dies here. Without prepared transactions the fence commits
	// now, and the statements that meet it wait for the flip.
	var err2 error
	if mv.twoPhase {
		_, err2 = tx.Exec(hctx, `PREPARE TRANSACTION `+literal(mv.name))
	} else {
		err2 = tx.Commit(hctx)
	}
	if err2 != nil {
		return translate(err2, publicScope)
	}
	mv.rep.Hold, mv.rep.Rows = time.Since(started), rows
	mv.progress("writes held %s: %d rows in %d tables checked equal; source fenced", mv.rep.Hold.Round(time.Millisecond), rows, len(tables))
	return nil
}

// literal quotes s as an SQL string literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// prepared reports whether the hold's prepared transaction is on the
// source.
func (mv *move) prepared(ctx context.Context) (bool, error) {
	var n int
	err := mv.srcPool().QueryRow(ctx, `SELECT count(*) FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()`, mv.name).Scan(&n)
	return n > 0, translate(err, publicScope)
}

// endPrepared commits (or rolls back) the hold's prepared transaction, if
// there is one.
func (mv *move) endPrepared(ctx context.Context, commit bool) error {
	ok, err := mv.prepared(ctx)
	if err != nil || !ok {
		return err
	}
	verb := "ROLLBACK PREPARED "
	if commit {
		verb = "COMMIT PREPARED "
	}
	if _, err := mv.srcPool().Exec(ctx, verb+literal(mv.name)); err != nil && sqlState(err) != sqlUndefinedObject {
		return moveError("ending the hold on "+mv.rep.From, err)
	}
	return nil
}

// flushWAL flushes the source's WAL up to now: a transaction that writes
// a logical message (which subscribers ignore) and commits synchronously.
func flushWAL(ctx context.Context, c *pgxpool.Conn) error {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT set_config('synchronous_commit', 'local', true)`)
	b.Queue(`SELECT 1 FROM pg_logical_emit_message(true, 'tenantapi', '')`)
	b.Queue(`COMMIT`)
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		_, _ = c.Exec(context.WithoutCancel(ctx), `ROLLBACK`)
		return translate(err, publicScope)
	}
	return nil
}

// caughtUp waits until the slot's subscriber has confirmed the source's
// WAL up to lsn ("" waits until it is within lag bytes of now, 16 MB for
// lag 0).
func (mv *move) caughtUp(ctx context.Context, src *pgxpool.Conn, lsn string, lag int64) error {
	if lag == 0 {
		lag = 16 << 20
	}
	for {
		var behind int64
		var err error
		if lsn == "" {
			err = src.QueryRow(ctx, `SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint
				FROM pg_replication_slots WHERE slot_name = $1`, mv.name).Scan(&behind)
			if err == nil && behind <= lag {
				return nil
			}
		} else {
			var ok *bool
			err = src.QueryRow(ctx, `SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1`, mv.name, lsn).Scan(&ok)
			if err == nil && ok != nil && *ok {
				return nil
			}
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return tenantapi.Errorf(tenantapi.CodeInternal, "the move's replication slot is gone from %s: abort the move and start again", mv.rep.From)
		}
		if err != nil {
			return translate(err, publicScope)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// compare checks every table of the tenant equal on both sides (row count
// and checksum: the sum of a 32-bit hash of each row's text, with the
// settings of an archive's COPY, so one pass in the server and no order),
// reading the source's schema srcSchema in tx (nil: a transaction of its
// own), and returns the rows counted.
func (mv *move) compare(ctx context.Context, tx pgx.Tx, srcSchema string) (int64, error) {
	type sums struct {
		sum   map[string]string
		count map[string]int64
		err   error
	}
	side := func(tx pgx.Tx, schema string) sums {
		out := sums{sum: map[string]string{}, count: map[string]int64{}}
		tables, err := schemaTables(ctx, tx, schema)
		if err != nil {
			out.err = err
			return out
		}
		if err := setCopySettings(ctx, tx); err != nil {
			out.err = err
			return out
		}
		// One pass over each table, in the server, in any order: no sort
		// and no rows over the wire, so the write hold stays short.
		b := &pgx.Batch{}
		for _, t := range tables {
			b.Queue(`SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0)::text FROM ` +
				pgx.Identifier{schema, t.name}.Sanitize() + ` t`).QueryRow(func(row pgx.Row) error {
				var n int64
				var sum string
				err := row.Scan(&n, &sum)
				out.sum[t.name], out.count[t.name] = sum, n
				return err
			})
		}
		out.err = tx.SendBatch(ctx, b).Close()
		return out
	}
	on := func(p *pool, schema string) sums {
		var out sums
		err := inTx(ctx, p, func(tx pgx.Tx) error { out = side(tx, schema); return out.err })
		if out.err == nil {
			out.err = err
		}
		return out
	}
	dstc := make(chan sums, 1)
	go func() { dstc <- on(mv.dstPool(), mv.id.Schema()) }()
	var a sums
	if tx != nil {
		a = side(tx, srcSchema)
	} else {
		a = on(mv.srcPool(), srcSchema)
	}
	b := <-dstc
	for _, e := range []error{a.err, b.err} {
		if e != nil {
			if errors.Is(e, context.DeadlineExceeded) || errors.Is(e, context.Canceled) {
				return 0, e
			}
			return 0, translate(e, publicScope)
		}
	}
	var rows int64
	for name, sum := range a.sum {
		if b.sum[name] != sum || b.count[name] != a.count[name] {
			return 0, fmt.Errorf("%w (table %s: %d rows on %s, %d on %s)", errHoldAgain, name, a.count[name], mv.rep.From, b.count[name], mv.rep.To)
		}
		rows += a.count[name]
	}
	if len(a.sum) != len(b.sum) {
		return 0, tenantapi.Errorf(tenantapi.CodeInternal, "the tenant has %d tables on %s and %d on %s", len(a.sum), mv.rep.From, len(b.sum), mv.rep.To)
	}
	return rows, nil
}

// carrySequences sets every sequence of the tenant on the target to where
// it is on the source (read in tx): replication carries rows, not
// sequences.
func (mv *move) carrySequences(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT sequencename::text FROM pg_sequences WHERE schemaname = $1 ORDER BY 1`, mv.id.Schema())
	if err != nil {
		return translate(err, publicScope)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return translate(err, publicScope)
	}
	b := &pgx.Batch{}
	for _, name := range seqs {
		var st SequenceState
		q := pgx.Identifier{mv.id.Schema(), name}.Sanitize()
		if err := tx.QueryRow(ctx, `SELECT last_value, is_called FROM `+q).Scan(&st.LastValue, &st.IsCalled); err != nil {
			return translate(err, publicScope)
		}
		b.Queue(`SELECT setval($1::regclass, $2, $3)`, q, st.LastValue, st.IsCalled)
	}
	if len(seqs) == 0 {
		return nil
	}
	return translate(mv.dstPool().SendBatch(ctx, b).Close(), publicScope)
}

// fenced reports whether the source is fenced: its schema renamed (in the
// transaction that made the triggers).
func (mv *move) fenced(ctx context.Context) (bool, error) {
	var fenced bool
	err := mv.srcPool().QueryRow(ctx, `SELECT to_regnamespace($1) IS NOT NULL`, ident(movedSchema(mv.id))).Scan(&fenced)
	return fenced, translate(err, publicScope)
}

// flip places the tenant on the target. updated_at moves, so every
// serving process forgets its cached route within CACHE_TTL; one that
// uses it meanwhile meets the fence or no schema, and is sent on.
func (mv *move) flip(ctx context.Context) error {
	// Only over a source that stays fenced: held by the prepared
	// transaction, or fenced for good.
	prepared, err := mv.prepared(ctx)
	if err != nil {
		return err
	}
	fenced := prepared
	if !prepared {
		if fenced, err = mv.fenced(ctx); err != nil {
			return err
		}
	}
	if !fenced {
		_, _ = mv.s.db.owner.Exec(ctx, `UPDATE public.tenant_moves SET step = $2 WHERE tenant_uid = $1`, mv.uid, stepCopied)
		return tenantapi.Errorf(tenantapi.CodeInternal, "the hold on %s was lost before the flip (its prepared transaction was rolled back?): run the move again", mv.rep.From)
	}
	err = inTx(ctx, mv.s.db.owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE public.tenants SET database = $2, updated_at = now() WHERE uid = $1`, mv.uid, mv.rep.To); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE public.tenant_moves SET step = $2, updated_at = now() WHERE tenant_uid = $1`, mv.uid, stepFlipped)
		return err
	})
	if err != nil {
		return translate(err, publicScope)
	}
	mv.progress("tenant %s now lives in %s", mv.id, mv.rep.To)
	// The fence shows and the lock goes: statements that waited on it
	// meet no schema and go on to the target.
	return mv.endPrepared(ctx, true)
}

// cleanup drops the subscription, the slots and the publication, then the
// source schema and tenant role, unless kept.
func (mv *move) cleanup(ctx context.Context) error {
	// A run that died between the flip and ending the hold left it.
	if err := mv.endPrepared(ctx, true); err != nil {
		return err
	}
	if err := mv.dropReplication(ctx); err != nil {
		return err
	}
	if mv.opts.KeepSource {
		mv.progress("kept the source schema on %s as %s (fenced: it refuses writes)", mv.rep.From, movedSchema(mv.id))
		return nil
	}
	err := inTx(ctx, mv.srcPool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+ident(movedSchema(mv.id))+` CASCADE`); err != nil {
			return err
		}
		return mv.src.dropTenantRole(ctx, tx, mv.id)
	})
	if err != nil {
		return moveError("dropping the source schema", err)
	}
	mv.progress("dropped the source schema on %s", mv.rep.From)
	return nil
}

// dropReplication drops whatever exists of the subscription, the slot,
// the table copies' slots and the publication.
func (mv *move) dropReplication(ctx context.Context) error {
	if err := mv.dropSubscription(ctx); err != nil {
		return err
	}
	src := mv.srcPool()
	var suboid *int64
	if err := mv.s.db.owner.QueryRow(ctx, `SELECT subscription_oid FROM public.tenant_moves WHERE tenant_uid = $1`, mv.uid).Scan(&suboid); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return translate(err, publicScope)
	}
	slots := []string{mv.name}
	pattern := ""
	if suboid != nil {
		pattern = "pg\\_" + strconv.FormatInt(*suboid, 10) + "\\_sync\\_%"
	}
	// The walsender of a subscription just dropped may hold the slot a
	// moment longer: wait for it, then end it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := src.Query(ctx, `SELECT slot_name::text, active_pid FROM pg_replication_slots
			WHERE slot_name = ANY($1) OR ($2 <> '' AND slot_name LIKE $2)`, slots, pattern)
		if err != nil {
			return translate(err, publicScope)
		}
		type slot struct {
			Name string
			PID  *int32
		}
		left, err := pgx.CollectRows(rows, pgx.RowToStructByPos[slot])
		if err != nil {
			return translate(err, publicScope)
		}
		if len(left) == 0 {
			break
		}
		for _, sl := range left {
			if sl.PID != nil {
				if time.Now().After(deadline) {
					_, _ = src.Exec(ctx, `SELECT pg_terminate_backend($1)`, *sl.PID)
				}
				continue
			}
			if _, err := src.Exec(ctx, `SELECT 1 FROM pg_drop_replication_slot($1) WHERE EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND NOT active)`, sl.Name); err != nil && sqlState(err) != "55006" && sqlState(err) != "42704" {
				return moveError("dropping the replication slot on "+mv.rep.From, err)
			}
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	if _, err := src.Exec(ctx, `DROP PUBLICATION IF EXISTS `+ident(mv.name)); err != nil {
		return moveError("dropping the publication on "+mv.rep.From, err)
	}
	return nil
}

// dropSubscription drops the subscription on the target, if it exists,
// without touching the source: it is disabled and let go of its slot
// first, which dropReplication drops itself (a subscription between two
// databases of one cluster could not drop its slot: the call would wait
// on itself).
func (mv *move) dropSubscription(ctx context.Context) error {
	dst := mv.dstPool()
	var exists bool
	if err := dst.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1`+thisDatabase+`)`, mv.name).Scan(&exists); err != nil {
		return translate(err, publicScope)
	}
	if !exists {
		return nil
	}
	for _, stmt := range []string{
		`ALTER SUBSCRIPTION ` + ident(mv.name) + ` DISABLE`,
		`ALTER SUBSCRIPTION ` + ident(mv.name) + ` SET (slot_name = NONE)`,
		`DROP SUBSCRIPTION IF EXISTS ` + ident(mv.name),
	} {
		if _, err := dst.Exec(ctx, stmt); err != nil {
			return moveError("dropping the subscription on "+mv.rep.To, err)
		}
	}
	return nil
}

// AbortMove undoes the tenant's move that has not flipped yet: the
// subscription, slots and publication are dropped, the source's fence
// lifted, the target's schema dropped, and the move forgotten. It returns
// CodeConflict once the placement has flipped (run the move again to
// finish it) and CodeNotFound when no move is recorded.
func (s *TenantStore) AbortMove(ctx context.Context, id tenantapi.TenantID, progress func(string)) error {
	if _, err := tenantapi.ParseTenantID(string(id)); err != nil {
		return tenantapi.ErrTenantNotFound
	}
	if !s.db.movesPossible() {
		return errMoveNeedsPgx
	}
	mv := &move{s: s, id: id, opts: MoveOptions{Progress: progress}}
	var step string
	err := s.db.owner.QueryRow(ctx, `SELECT m.tenant_uid, m.source, m.target, m.step FROM public.tenant_moves m
		JOIN public.tenants t ON t.uid = m.tenant_uid WHERE t.id = $1`, string(id)).Scan(&mv.uid, &mv.rep.From, &mv.rep.To, &step)
	if errors.Is(err, pgx.ErrNoRows) {
		return tenantapi.Errorf(tenantapi.CodeNotFound, "tenant %s is not being moved", id)
	}
	if err != nil {
		return translate(err, publicScope)
	}
	if stepIndex(step) >= stepIndex(stepFlipped) {
		return tenantapi.Errorf(tenantapi.CodeConflict, "the move of tenant %s to %s has flipped already: run it again to finish it", id, mv.rep.To)
	}
	if mv.src, err = s.db.site(ctx, mv.rep.From); err != nil {
		return err
	}
	if mv.dst, err = s.db.site(ctx, mv.rep.To); err != nil {
		return err
	}
	mv.name = moveName(mv.src.owner.database(), mv.uid)
	if err := mv.endPrepared(ctx, false); err != nil {
		return err
	}
	if err := mv.dropReplication(ctx); err != nil {
		return err
	}
	// Lift the fence of a hold that fenced but did not flip: the tenant
	// lives on the source still.
	fenced, err := mv.fenced(ctx)
	if err != nil {
		return err
	}
	if fenced {
		if _, err := mv.srcPool().Exec(ctx, `ALTER SCHEMA `+ident(movedSchema(id))+` RENAME TO `+quotedSchema(id)); err != nil {
			return moveError("lifting the fence on "+mv.rep.From, err)
		}
	}
	tables, err := mv.tables(ctx, mv.srcPool(), id.Schema())
	if err != nil {
		return err
	}
	err = inTx(ctx, mv.srcPool(), func(tx pgx.Tx) error {
		for _, t := range tables {
			n := pgx.Identifier{mv.id.Schema(), t.name}.Sanitize()
			if _, err := tx.Exec(ctx, `DROP TRIGGER IF EXISTS tenantapi_moved ON `+n); err != nil {
				return err
			}
			if len(t.key) == 0 {
				if _, err := tx.Exec(ctx, `ALTER TABLE `+n+` REPLICA IDENTITY DEFAULT`); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return moveError("lifting the fence on "+mv.rep.From, err)
	}
	err = inTx(ctx, mv.dstPool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, forTenant(`DROP SCHEMA IF EXISTS {{schema}} CASCADE`, id)); err != nil {
			return err
		}
		return mv.dst.dropTenantRole(ctx, tx, id)
	})
	if err != nil {
		return moveError("dropping the target schema on "+mv.rep.To, err)
	}
	if err := s.db.forgetMove(ctx, mv.uid); err != nil {
		return err
	}
	mv.progress("aborted the move of tenant %s to %s: it lives in %s as before", id, mv.rep.To, mv.rep.From)
	return nil
}

// forgetMove deletes the record of a move, done or undone, and moves the
// tenant's updated_at, so every serving process learns it is not moving.
func (db *DB) forgetMove(ctx context.Context, uid int64) error {
	_, err := db.owner.Exec(ctx, `WITH done AS (DELETE FROM public.tenant_moves WHERE tenant_uid = $1 RETURNING tenant_uid)
		UPDATE public.tenants SET updated_at = now() WHERE uid IN (SELECT tenant_uid FROM done)`, uid)
	return translate(err, publicScope)
}

// moveError reports a failed step by its SQLSTATE: the server's message
// may quote a connection string.
func moveError(what string, err error) error {
	if code := sqlState(err); code != "" {
		var te *tenantapi.Error
		if errors.As(translate(err, publicScope), &te) && te.Code == tenantapi.CodeUnavailable {
			return te
		}
		return tenantapi.Errorf(tenantapi.CodeInternal, "%s failed (SQLSTATE %s)", what, code)
	}
	return translate(err, publicScope)
}

// conninfo returns the pool's connection parameters as a libpq connection
// string, credentials included, for a subscription to reach this database.
func (p *pool) conninfo(ctx context.Context) (string, error) {
	cc := p.Config().ConnConfig
	user, password := cc.User, cc.Password
	if p.creds != nil {
		var err error
		if user, password, err = p.creds(ctx, false); err != nil {
			return "", err
		}
	}
	sslmode := "disable"
	if cc.TLSConfig != nil {
		sslmode = "require"
	}
	kv := func(k, v string) string {
		return k + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	return strings.Join([]string{kv("host", cc.Host), kv("port", strconv.Itoa(int(cc.Port))), kv("dbname", cc.Database),
		kv("user", user), kv("password", password), kv("sslmode", sslmode)}, " "), nil
}
