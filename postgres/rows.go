package postgres

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tenantapi/tenantapi"
)

// RowStore keeps the rows of every resource of the application set, each
// in tenant_<id>.<table>. It implements tenantapi.RowStore: every call is
// one statement (an idempotent create two, pipelined in one transaction),
// so one round trip, in the schema of the tenant it is given.
type RowStore struct {
	db    *DB
	plans sync.Map // *tenantapi.Resource → *rowPlan
	sql   statementCache
}

var _ tenantapi.RowStore = (*RowStore)(nil)

// NewRowStore returns a RowStore that serves requests from db's runtime
// pool.
func NewRowStore(db *DB) *RowStore { return &RowStore{db: db} }

// plan returns the statements of res.
func (s *RowStore) plan(res *tenantapi.Resource) *rowPlan {
	if p, ok := s.plans.Load(res); ok {
		return p.(*rowPlan)
	}
	p, _ := s.plans.LoadOrStore(res, newRowPlan(res, s.db.rowChunk))
	return p.(*rowPlan)
}

// uuidArg is id as a statement parameter of type uuid: pgx encodes it
// directly, where a uuid.UUID would go through its text form and be
// parsed back (a fifth of a GET's allocations).
func uuidArg(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// valueArgs appends the parameters of vals to args: nil for NULL, the
// text otherwise; a default takes none (the statement says DEFAULT or
// leaves the column out).
func valueArgs(args []any, vals []tenantapi.Value) []any {
	for _, v := range vals {
		switch {
		case v.Default:
		case v.Null:
			args = append(args, nil)
		default:
			args = append(args, v.Text)
		}
	}
	return args
}

// collect reads the answer of a shaped statement of p (rowPlan.shaped,
// rowPlan.out): for each row, rec returns the destinations of the columns
// before the row's JSON, where the row's id lands, and what takes the JSON
// (nil for NULL). In chunk mode the JSON comes in parts over several rows
// of the answer, which collect joins; else as each member's text, which
// it encodes.
func collect(rows pgx.Rows, p *rowPlan, rec func() (dest []any, id *[16]byte, done func(json []byte))) error {
	defer rows.Close()
	var (
		pending []byte
		commit  func([]byte)
		texts   = make([][]byte, len(p.members))
		into    = make([]any, len(p.members))
	)
	for i := range texts {
		into[i] = &texts[i]
	}
	for rows.Next() {
		dest, id, done := rec()
		if p.chunk == 0 {
			if err := rows.Scan(append(dest, into...)...); err != nil {
				return err
			}
			done(p.encode(make([]byte, 0, 256), *id, texts))
			continue
		}
		var (
			n    int
			part *string
		)
		if err := rows.Scan(append(dest, &n, &part)...); err != nil {
			return err
		}
		if n == 1 {
			if commit != nil {
				commit(pending)
			}
			commit, pending = done, nil
		}
		if part != nil {
			pending = append(pending, *part...)
		}
	}
	if commit != nil {
		commit(pending)
	}
	return rows.Err()
}

// one runs a shaped statement of p that answers at most one row; false
// when it answers none. id is where dest puts the row's id.
func (s *RowStore) one(ctx context.Context, t tenantapi.TenantRef, p *rowPlan, sql string, args []any, dest []any, id *[16]byte, json *[]byte) (bool, error) {
	found := false
	err := s.db.tenantRows(ctx, t, sql, args, func(rows pgx.Rows) error {
		return collect(rows, p, func() ([]any, *[16]byte, func([]byte)) {
			return dest, id, func(j []byte) { *json, found = j, true }
		})
	})
	return found, err
}

// Create implements tenantapi.RowStore.
func (s *RowStore) Create(ctx context.Context, t tenantapi.TenantRef, res *tenantapi.Resource, vals []tenantapi.Value, idem *tenantapi.Idempotency) (tenantapi.CreatedRow, error) {
	p := s.plan(res)
	id, err := uuid.NewV7()
	if err != nil {
		return tenantapi.CreatedRow{}, tenantapi.Wrap(tenantapi.CodeInternal, err, "internal error")
	}
	now := writeTime()
	args := []any{uuidArg(id)}
	if p.stamped() {
		args = append(args, now)
	}
	args = valueArgs(args, vals)
	if idem == nil {
		var row tenantapi.Row
		found, err := s.one(ctx, t, p, s.sql.render(t.ID, p.insertSQL(vals)), args, []any{(*[16]byte)(&row.ID), &row.Version}, (*[16]byte)(&row.ID), &row.JSON)
		if err == nil && !found {
			err = pgx.ErrNoRows
		}
		if err != nil {
			return tenantapi.CreatedRow{}, rowError(err, res, false)
		}
		return tenantapi.CreatedRow{Row: row}, nil
	}
	cutoff := now.Add(-idempotencyTTL)
	args = append(args, idem.Key, idem.RequestHash[:], cutoff, res.Name, now)
	b := &pgx.Batch{}
	var (
		created   bool
		hash      []byte
		claimedAt *time.Time
		claimedBy *string
		rowID     *uuid.UUID
		version   *int64
		body      []byte // the new row, or the first request's stored answer
		stored    *string
		found     bool
		newID     = [16]byte(id) // the new row's, when it is created
	)
	b.Queue(s.sql.render(t.ID, p.insertIdemSQL(vals)), args...).Query(func(rows pgx.Rows) error {
		return collect(rows, p, func() ([]any, *[16]byte, func([]byte)) {
			dest := []any{&created, &hash, &claimedAt, &claimedBy, &rowID, &version}
			if p.chunk == 0 {
				dest = append(dest, &stored)
			}
			return dest, &newID, func(j []byte) {
				body, found = j, true
				if stored != nil {
					body = []byte(*stored)
				}
			}
		})
	})
	b.Queue(s.sql.render(t.ID, p.storeResponseSQL()), idem.Key, uuidArg(id))
	if err := s.db.tenantBatch(ctx, t, b); err != nil {
		return tenantapi.CreatedRow{}, rowError(err, res, false)
	}
	switch {
	case !found:
		return tenantapi.CreatedRow{}, errKeyInFlight
	case created:
		return tenantapi.CreatedRow{Row: tenantapi.Row{ID: *rowID, Version: *version, JSON: body}}, nil
	case !claimedAt.After(cutoff):
		// Expired in this statement's snapshot, yet not taken over: another
		// request took it over meanwhile and is still in flight.
		return tenantapi.CreatedRow{}, errKeyInFlight
	case !bytes.Equal(hash, idem.RequestHash[:]) || *claimedBy != res.Name:
		return tenantapi.CreatedRow{}, errKeyReused
	}
	return tenantapi.CreatedRow{Row: tenantapi.Row{ID: *rowID, Version: 1, JSON: body}, Replayed: true}, nil
}

// Get implements tenantapi.RowStore.
func (s *RowStore) Get(ctx context.Context, t tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID) (tenantapi.Row, error) {
	var row tenantapi.Row
	p := s.plan(res)
	found, err := s.one(ctx, t, p, s.sql.render(t.ID, p.getSQL()), []any{uuidArg(id)}, []any{(*[16]byte)(&row.ID), &row.Version}, (*[16]byte)(&row.ID), &row.JSON)
	if err == nil && !found {
		err = pgx.ErrNoRows
	}
	if err != nil {
		return tenantapi.Row{}, rowError(err, res, false)
	}
	return row, nil
}

// List implements tenantapi.RowStore. It asks for one row more than the
// page, to tell whether more follow; when the driver refuses an answer that
// large (the Data API's 1 MiB), it asks for fewer rows, down to one, and
// says that more may follow.
func (s *RowStore) List(ctx context.Context, t tenantapi.TenantRef, res *tenantapi.Resource, q tenantapi.RowQuery) ([]tenantapi.Row, bool, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = tenantapi.DefaultPageLimit
	}
	var from uuid.UUID // the nil UUID sorts before every UUIDv7
	if q.After != nil {
		from = *q.After
	}
	fields := make([]int, len(q.Filters))
	args := []any{uuidArg(from), limit + 1}
	for i, f := range q.Filters {
		fields[i] = f.Field
		args = append(args, f.Text)
	}
	p := s.plan(res)
	sql := s.sql.render(t.ID, p.listSQL(fields))
	for ask := limit + 1; ; ask = max(ask/2, 1) {
		args[1] = ask
		out, err := s.list(ctx, t, p, sql, args, min(ask, 64))
		switch {
		case errors.Is(err, errResultTooLarge) && ask > 1:
			continue
		case err != nil:
			return nil, false, rowError(err, res, false)
		case ask > limit:
			if len(out) > limit {
				return out[:limit], true, nil
			}
			return out, false, nil
		}
		return out, len(out) == ask, nil
	}
}

func (s *RowStore) list(ctx context.Context, t tenantapi.TenantRef, p *rowPlan, sql string, args []any, capacity int) ([]tenantapi.Row, error) {
	var out []tenantapi.Row
	err := s.db.tenantRows(ctx, t, sql, args, func(rows pgx.Rows) error {
		out = make([]tenantapi.Row, 0, capacity)
		return collect(rows, p, func() ([]any, *[16]byte, func([]byte)) {
			row := new(tenantapi.Row)
			return []any{(*[16]byte)(&row.ID)}, (*[16]byte)(&row.ID), func(j []byte) {
				row.JSON = j
				out = append(out, *row)
			}
		})
	})
	return out, err
}

// update runs the conditional update of vals once: the row at its new
// version and true, or the row's version as the statement's snapshot saw
// it and false.
func (s *RowStore) update(ctx context.Context, t tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID, vals []tenantapi.Value, pre tenantapi.Precondition) (tenantapi.Row, bool, error) {
	anyMatch, versions := preArgs(pre)
	args := []any{uuidArg(id), anyMatch, versions}
	if res.Updated {
		args = append(args, writeTime())
	}
	args = valueArgs(args, vals)
	var (
		row     tenantapi.Row
		written bool
	)
	p := s.plan(res)
	found, err := s.one(ctx, t, p, s.sql.render(t.ID, p.updateSQL(vals)), args, []any{&written, (*[16]byte)(&row.ID), &row.Version}, (*[16]byte)(&row.ID), &row.JSON)
	if err == nil && !found {
		err = pgx.ErrNoRows
	}
	if err != nil {
		return tenantapi.Row{}, false, rowError(err, res, false)
	}
	return row, written, nil
}

// Replace implements tenantapi.RowStore.
func (s *RowStore) Replace(ctx context.Context, t tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID, vals []tenantapi.Value, pre tenantapi.Precondition) (tenantapi.Row, error) {
	var row tenantapi.Row
	err := write(pre, func() (bool, int64, error) {
		r, written, err := s.update(ctx, t, res, id, vals, pre)
		row = r
		return written, r.Version, err
	})
	return row, err
}

// Patch implements tenantapi.RowStore. Without merge it is one conditional
// update of the columns patch names. With merge it reads the row, checks
// pre and writes what patch makes of it on condition that the row is
// still as read; when another write came between, it starts over from the
// row that write left (ErrItemNotFound when it was deleted,
// ErrPreconditionFailed when pre no longer matches), at most
// maxWriteAttempts times.
func (s *RowStore) Patch(ctx context.Context, t tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID, pre tenantapi.Precondition, merge bool, patch func(*tenantapi.Row) ([]tenantapi.Value, error)) (tenantapi.Row, error) {
	if !merge {
		vals, err := patch(nil)
		if err != nil {
			return tenantapi.Row{}, err
		}
		return s.Replace(ctx, t, res, id, vals, pre)
	}
	cur, err := s.Get(ctx, t, res, id)
	if err != nil {
		return tenantapi.Row{}, err
	}
	for range maxWriteAttempts {
		if !pre.Matches(cur.Version) {
			return tenantapi.Row{}, tenantapi.ErrPreconditionFailed
		}
		vals, err := patch(&cur)
		if err != nil {
			return tenantapi.Row{}, err
		}
		row, written, err := s.update(ctx, t, res, id, vals, tenantapi.Precondition{Present: true, Versions: []int64{cur.Version}})
		switch {
		case err != nil:
			return tenantapi.Row{}, err
		case written:
			return row, nil
		}
		// A write committed between the read and this statement, or the
		// statement waited for a write or delete of the version read,
		// which its snapshot cannot show: read again (the update's row has
		// no JSON to merge into).
		if cur, err = s.Get(ctx, t, res, id); err != nil {
			return tenantapi.Row{}, err
		}
	}
	return tenantapi.Row{}, errItemBusy
}

// Delete implements tenantapi.RowStore.
func (s *RowStore) Delete(ctx context.Context, t tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID, pre tenantapi.Precondition) error {
	anyMatch, versions := preArgs(pre)
	sql := s.sql.render(t.ID, s.plan(res).deleteSQL())
	return write(pre, func() (bool, int64, error) {
		var (
			deleted bool
			seen    *int64 // NULL when deleted
		)
		if err := s.db.tenantRow(ctx, t, sql, uuidArg(id), anyMatch, versions).Scan(&deleted, &seen); err != nil {
			return false, 0, rowError(err, res, true)
		}
		if deleted {
			return true, 0, nil
		}
		return false, *seen, nil
	})
}

// Check implements tenantapi.RowStore.
func (s *RowStore) Check(ctx context.Context, t tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID, pre tenantapi.Precondition) error {
	var v int64
	if err := s.db.tenantRow(ctx, t, s.sql.render(t.ID, s.plan(res).checkSQL()), uuidArg(id)).Scan(&v); err != nil {
		return rowError(err, res, false)
	}
	if !pre.Matches(v) {
		return tenantapi.ErrPreconditionFailed
	}
	return nil
}

// SQLSTATEs of the constraints a write can break, and of a statement made
// for another shape of the table than the tenant's.
const (
	sqlNotNullViolation = "23502"
	sqlCheckViolation   = "23514"
	sqlExclusion        = "23P01"
	sqlUndefinedColumn  = "42703"
	sqlUndefinedObject  = "42704"
	sqlDatatypeMismatch = "42804"
	sqlRaiseException   = "P0001"
)

// rowError translates err of a statement on res: a broken constraint
// becomes the problem of the field it names, by the constraint's name and
// the catalog, never the server's message. deleting tells a foreign key
// that a delete breaks (the row is still referenced) from one an insert or
// update breaks (it references a missing row).
func rowError(err error, res *tenantapi.Resource, deleting bool) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || isConnectError(err) {
		return translate(err, itemScope)
	}
	fields := func(cs []tenantapi.Constraint) []string {
		for _, c := range cs {
			if c.Name == pe.ConstraintName {
				return c.Columns
			}
		}
		return nil
	}
	invalid := func(cols []string, msg string) error {
		field := ""
		if len(cols) == 1 {
			field = "/" + pointerToken(cols[0])
		}
		return tenantapi.Invalid(tenantapi.FieldError{Field: field, Message: msg})
	}
	switch pe.Code {
	case sqlCheckViolation:
		return invalid(fields(res.Checks), "does not satisfy the constraint "+pe.ConstraintName)
	case sqlNotNullViolation:
		return invalid([]string{pe.ColumnName}, "must not be null")
	case sqlUniqueViolation:
		cols := fields(res.Uniques)
		if len(cols) == 0 {
			return tenantapi.Errorf(tenantapi.CodeConflict, "a row with the same unique values already exists")
		}
		return tenantapi.Errorf(tenantapi.CodeConflict, "a row with the same %s already exists", strings.Join(cols, ", "))
	case sqlExclusion:
		return tenantapi.Errorf(tenantapi.CodeConflict, "the row conflicts with another one")
	case sqlForeignKeyViolation:
		if deleting {
			return tenantapi.Errorf(tenantapi.CodeConflict, "other rows still refer to this one")
		}
		return invalid(fields(res.ForeignKeys), "refers to a row that does not exist")
	case sqlRaiseException:
		return invalid(nil, "was refused by the database")
	case sqlUndefinedColumn, sqlUndefinedObject, sqlDatatypeMismatch:
		return tenantapi.Wrap(tenantapi.CodeUnavailable, err, tenantapi.ErrShapeChanged.Detail)
	}
	if strings.HasPrefix(pe.Code, "22") {
		// Data exceptions the validation did not foresee: a value out of a
		// type's range, say.
		return invalid(nil, "holds a value the column cannot store")
	}
	return translate(err, itemScope)
}

// pointerToken escapes a JSON Pointer reference token (RFC 6901).
func pointerToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
