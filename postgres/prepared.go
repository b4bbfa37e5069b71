package postgres

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Prepared statements. PostgreSQL parses and plans a statement sent
// unprepared on every execution: most of what a GET costs the server. A
// pool with a budget (Config.PreparedStatements) keeps, on each of its
// connections, up to that many server-side prepared statements: a
// statement text met a second time on a connection is prepared there once
// the statement is done, before the connection goes back to the pool (one
// round trip, once), and pgx then runs that text as the prepared
// statement in any exec mode, batches included. A connection whose budget
// is full prepares a newcomer only in place of a statement it has not run
// for preparedIdle, so a working set larger than the budget runs partly
// unprepared (one round trip each, as without a budget) instead of
// preparing and deallocating on every statement. Each prepared statement
// holds its plan in the backend (about 23 KB for a GET by id), so the
// budget bounds that memory; tenant routing (routes.go) keeps the
// statements a connection meets few enough to fit.
//
// Named prepared statements do not survive a transaction-mode pooler
// (PgBouncer before 1.21 hands the next statement to any server
// connection). The first statement that finds its prepared statement gone
// (SQLSTATE 26000) turns preparation off for the pool, every connection
// drops what it prepared before its next statement, and the statement is
// run again unprepared: correct, and as fast as without a budget. Setting
// the budget to 0 behind such a pooler or RDS Proxy (which pins a
// session that prepares) avoids even that first failure.

// preparedIdle is how long a prepared statement must have gone unused on
// its connection before a newcomer may take its place in a full budget.
const preparedIdle = time.Minute

// SQLSTATEs that a second attempt may cure once the prepared statements
// are dropped: the server does not have the statement (a pooler switched
// server connections), or a prepared statement's result type changed
// under it (a migration altered its table).
const (
	sqlInvalidStatementName = "26000"
	sqlFeatureNotSupported  = "0A000"
)

// preparer keeps the prepared statements of a pool's connections.
type preparer struct {
	max    int
	idle   time.Duration // preparedIdle; tests shorten it
	notice func(string)  // told once when preparation turns off; may be nil

	sets sync.Map // *pgx.Conn → *stmtSet
	// gen changes when every connection must drop what it prepared; off
	// stops preparing for good.
	gen atomic.Int64
	off atomic.Bool

	prepares, deallocates, prepared atomic.Int64
}

func newPreparer(max int, notice func(string)) *preparer {
	if max <= 0 {
		return nil
	}
	return &preparer{max: max, idle: preparedIdle, notice: notice}
}

// stmtSet is one connection's prepared statements, most recently used
// first, the texts it met once, and what its next release is to prepare
// and drop. Only the goroutine that holds the connection touches it.
type stmtSet struct {
	gen      int64
	lru      list.List // of *preparedStmt
	prepared map[string]*list.Element
	seen     map[string]struct{}
	add      []string // to prepare at release
	drop     []string // to deallocate at release
}

type preparedStmt struct {
	sql  string
	used time.Time
}

func (p *preparer) set(c *pgx.Conn) *stmtSet {
	if s, ok := p.sets.Load(c); ok {
		return s.(*stmtSet)
	}
	s := &stmtSet{gen: p.gen.Load(), prepared: map[string]*list.Element{}, seen: map[string]struct{}{}}
	p.sets.Store(c, s)
	return s
}

// closed forgets a connection that is being closed.
func (p *preparer) closed(c *pgx.Conn) {
	if s, ok := p.sets.LoadAndDelete(c); ok {
		p.prepared.Add(-int64(len(s.(*stmtSet).prepared)))
	}
}

// ready notes, on c, the statements about to run on it: those prepared
// run prepared (pgx finds them by their text); a text met before is to be
// prepared when c is released, in place of one idle for p.idle when the
// budget is full (see pool.release).
func (p *preparer) ready(ctx context.Context, c *pgx.Conn, sqls ...string) {
	s := p.set(c)
	if g := p.gen.Load(); s.gen != g {
		if len(s.prepared) > 0 && c.DeallocateAll(ctx) != nil {
			return // the connection is broken: its next statement says so
		}
		p.prepared.Add(-int64(len(s.prepared)))
		s.gen = g
		s.lru.Init()
		clear(s.prepared)
		clear(s.seen)
		s.add, s.drop = s.add[:0], s.drop[:0]
	}
	if p.off.Load() {
		return
	}
	now := time.Now()
	for _, sql := range sqls {
		if e, ok := s.prepared[sql]; ok {
			e.Value.(*preparedStmt).used = now
			s.lru.MoveToFront(e)
			continue
		}
		if _, ok := s.seen[sql]; !ok {
			if len(s.seen) >= 4*p.max {
				clear(s.seen)
			}
			s.seen[sql] = struct{}{}
			continue
		}
		if len(s.prepared)-len(s.drop)+len(s.add) >= p.max {
			last := s.lru.Back()
			if last == nil || now.Sub(last.Value.(*preparedStmt).used) < p.idle {
				continue // every prepared one is in use: this one runs unprepared
			}
			victim := last.Value.(*preparedStmt).sql
			s.lru.Remove(last)
			delete(s.prepared, victim)
			p.prepared.Add(-1)
			s.drop = append(s.drop, victim)
		}
		delete(s.seen, sql)
		s.add = append(s.add, sql)
	}
}

// pending reports whether c has statements to prepare or drop.
func (p *preparer) pending(c *pgx.Conn) bool {
	if p == nil {
		return false
	}
	s := p.set(c)
	return len(s.add) > 0 || len(s.drop) > 0
}

// flushTimeout bounds what a release spends preparing and dropping.
const flushTimeout = 5 * time.Second

// flush prepares and drops on c what ready noted. A statement that fails
// to prepare is left to run unprepared; a connection that breaks is
// closed by pgx, and the pool drops it at its release.
func (p *preparer) flush(c *pgx.Conn) {
	s := p.set(c)
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	for _, sql := range s.drop {
		if c.Deallocate(ctx, sql) != nil {
			return
		}
		p.deallocates.Add(1)
	}
	s.drop = s.drop[:0]
	now := time.Now()
	for _, sql := range s.add {
		if _, ok := s.prepared[sql]; ok {
			continue
		}
		if _, err := c.Prepare(ctx, sql, sql); err != nil {
			if c.IsClosed() {
				return
			}
			continue
		}
		s.prepared[sql] = s.lru.PushFront(&preparedStmt{sql: sql, used: now})
		p.prepares.Add(1)
		p.prepared.Add(1)
	}
	s.add = s.add[:0]
}

// lost reports whether err says that a prepared statement is gone or no
// longer fits, and if so makes every connection drop its prepared
// statements before its next statement (and, for a pooler, stops
// preparing): the statement can then run again, unprepared.
func (p *preparer) lost(err error) bool {
	switch sqlState(err) {
	case sqlInvalidStatementName:
		if !p.off.Swap(true) && p.notice != nil {
			p.notice("a prepared statement was missing on its server connection: a transaction-mode pooler is between tenantapi and PostgreSQL? Prepared statements are now off for this pool; set DB_PREPARED_STATEMENTS=0 to say so")
		}
	case sqlFeatureNotSupported:
		if !strings.Contains(err.Error(), "cached plan must not change result type") {
			return false
		}
	default:
		return false
	}
	p.gen.Add(1)
	return true
}

// statementTexts returns the texts of b's statements.
func statementTexts(b *pgx.Batch) []string {
	out := make([]string, len(b.QueuedQueries))
	for i, q := range b.QueuedQueries {
		out[i] = q.SQL
	}
	return out
}
