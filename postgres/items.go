package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/tenantapi/tenantapi"
)

// ItemStore keeps a tenant's items in tenant_<id>.items. Every call works in
// the schema of the tenant it is given, named in the SQL itself, and takes
// one round trip (PatchItem two). It implements tenantapi.ItemStore: a tenant
// whose schema is gone gives ErrTenantNotFound, an unreachable or overloaded
// database CodeUnavailable, anything unexpected CodeInternal.
type ItemStore struct {
	db  *DB
	sql itemSQLCache
}

var _ tenantapi.ItemStore = (*ItemStore)(nil)

// NewItemStore returns an ItemStore that serves requests from db's runtime
// pool.
func NewItemStore(db *DB) *ItemStore { return &ItemStore{db: db} }

// maxWriteAttempts bounds how often a write to one item starts over after
// losing a race with concurrent writes to it (PatchItem's read-modify-write
// loop, and the conditional statements of ReplaceItem and DeleteItem).
const maxWriteAttempts = 8

// errItemBusy is the answer of a write that lost maxWriteAttempts races.
var errItemBusy = tenantapi.Errorf(tenantapi.CodeConflict, "the item is being changed by other requests; try again")

// writeTime is the time of a write, at the precision PostgreSQL stores, so
// the item Go returns equals the one read back later.
func writeTime() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// attributes returns in's attributes, {} when unset.
func attributes(in tenantapi.ItemInput) json.RawMessage {
	if len(in.Attributes) == 0 {
		return json.RawMessage(`{}`)
	}
	return in.Attributes
}

// newItem returns the item a create will insert: every field is known in Go
// but the attributes' jsonb text, which the INSERT returns.
func newItem(in tenantapi.ItemInput) (tenantapi.Item, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return tenantapi.Item{}, tenantapi.Wrap(tenantapi.CodeInternal, err, "internal error")
	}
	t := writeTime()
	return tenantapi.Item{
		ID:          id,
		Name:        in.Name,
		Description: in.Description,
		Attributes:  attributes(in),
		Version:     1,
		CreatedAt:   t,
		UpdatedAt:   t,
	}, nil
}

// itemDest returns scan destinations for an item row. Attributes are read as
// the raw jsonb text, never parsed or built in the database. The id is
// scanned as a [16]byte, which pgx parses in place; through uuid.UUID's
// sql.Scanner it would go by way of a string and an interface per row.
func itemDest(it *tenantapi.Item) []any {
	return []any{(*[16]byte)(&it.ID), &it.Name, &it.Description, (*[]byte)(&it.Attributes), &it.Version, &it.CreatedAt, &it.UpdatedAt}
}

func utcItem(it *tenantapi.Item) {
	it.CreatedAt, it.UpdatedAt = it.CreatedAt.UTC(), it.UpdatedAt.UTC()
}

// CreateItem inserts a new item with a UUIDv7 id and returns it with the
// attributes as PostgreSQL returns them. With idem set it also claims the
// idempotency key in the same statement; see tenantapi.ItemStore for the
// replay rules. A key held by a request that is still in flight gives
// CodeConflict (the caller answers 409 with Retry-After).
func (s *ItemStore) CreateItem(ctx context.Context, t tenantapi.TenantRef, in tenantapi.ItemInput, idem *tenantapi.Idempotency, render func(tenantapi.Item) (head, tail []byte)) (tenantapi.Created, error) {
	it, err := newItem(in)
	if err != nil {
		return tenantapi.Created{}, err
	}
	st := s.sql.statements(t.ID)
	if idem == nil {
		err := s.db.tenantRow(ctx, t, st.insert, it.ID, it.Name, it.Description, it.Attributes, it.CreatedAt).
			Scan((*[]byte)(&it.Attributes))
		if err != nil {
			return tenantapi.Created{}, translate(err, itemScope)
		}
		return tenantapi.Created{Item: it}, nil
	}
	head, tail := render(it)
	return s.createIdempotent(ctx, t, st, it, idem, head, tail)
}

// Item returns the item or ErrItemNotFound.
func (s *ItemStore) Item(ctx context.Context, t tenantapi.TenantRef, id uuid.UUID) (tenantapi.Item, error) {
	return s.get(ctx, t, s.sql.statements(t.ID), id)
}

func (s *ItemStore) get(ctx context.Context, t tenantapi.TenantRef, st *itemSQL, id uuid.UUID) (tenantapi.Item, error) {
	var it tenantapi.Item
	if err := s.db.tenantRow(ctx, t, st.get, id).Scan(itemDest(&it)...); err != nil {
		return tenantapi.Item{}, translate(err, itemScope)
	}
	utcItem(&it)
	return it, nil
}

// Items returns up to limit items (DefaultPageLimit when it is not positive)
// ordered by id, after the id after (nil for the first page).
func (s *ItemStore) Items(ctx context.Context, t tenantapi.TenantRef, after *uuid.UUID, limit int) ([]tenantapi.Item, error) {
	if limit <= 0 {
		limit = tenantapi.DefaultPageLimit
	}
	var from uuid.UUID // the nil UUID sorts before every UUIDv7
	if after != nil {
		from = *after
	}
	rows, err := s.db.tenantQuery(ctx, t, s.sql.statements(t.ID).list, from, limit)
	if err != nil {
		return nil, translate(err, itemScope)
	}
	defer rows.Close()
	items := []tenantapi.Item{}
	for rows.Next() {
		var it tenantapi.Item
		if err := rows.Scan(itemDest(&it)...); err != nil {
			return nil, translate(err, itemScope)
		}
		utcItem(&it)
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err, itemScope)
	}
	return items, nil
}

// ReplaceItem replaces the writable fields of the item when pre matches and
// returns it at its new version. It returns ErrItemNotFound, or
// ErrPreconditionFailed when the item's version does not match pre.
func (s *ItemStore) ReplaceItem(ctx context.Context, t tenantapi.TenantRef, id uuid.UUID, in tenantapi.ItemInput, pre tenantapi.Precondition) (tenantapi.Item, error) {
	st := s.sql.statements(t.ID)
	var it tenantapi.Item
	err := write(pre, func() (bool, int64, error) {
		var (
			updated bool
			err     error
		)
		it, updated, err = s.replace(ctx, t, st, id, in, pre)
		return updated, it.Version, err
	})
	if err != nil {
		return tenantapi.Item{}, err
	}
	return it, nil
}

// replace runs the conditional update of ReplaceItem and PatchItem once. It
// returns the item at its new version and true, or, when it did not write,
// the item as the statement's snapshot saw it and false; a missing item is
// ErrItemNotFound.
func (s *ItemStore) replace(ctx context.Context, t tenantapi.TenantRef, st *itemSQL, id uuid.UUID, in tenantapi.ItemInput, pre tenantapi.Precondition) (tenantapi.Item, bool, error) {
	anyMatch, versions := preArgs(pre)
	var (
		it      tenantapi.Item
		updated bool
	)
	dest := append([]any{&updated}, itemDest(&it)...)
	err := s.db.tenantRow(ctx, t, st.replace, id, in.Name, in.Description, attributes(in), writeTime(), anyMatch, versions).Scan(dest...)
	if err != nil {
		return tenantapi.Item{}, false, translate(err, itemScope)
	}
	utcItem(&it)
	return it, updated, nil
}

// write runs a conditional write statement until it is decided: once in the
// steady state. once runs the statement and reports whether it wrote and,
// when not, the item's version in the statement's snapshot (a missing item
// is ErrItemNotFound from once). A version that pre does not match is a
// failed precondition. One that pre matches means the statement waited for
// a concurrent write or delete of the item and then found the row changed
// past pre or gone, which its snapshot cannot tell: a new statement, with a
// fresh snapshot, writes, finds no item, or sees the version that fails pre.
// After maxWriteAttempts such races it gives up with CodeConflict.
func write(pre tenantapi.Precondition, once func() (written bool, seen int64, err error)) error {
	for range maxWriteAttempts {
		written, seen, err := once()
		switch {
		case err != nil:
			return err
		case written:
			return nil
		case !pre.Matches(seen):
			return tenantapi.ErrPreconditionFailed
		}
	}
	return errItemBusy
}

// preArgs turns pre into the statements' "any version matches" flag and
// version list.
func preArgs(pre tenantapi.Precondition) (anyMatch bool, versions []int64) {
	if !pre.Present || pre.Any {
		return true, []int64{}
	}
	if pre.Versions == nil {
		return false, []int64{} // nil would be sent as NULL
	}
	return false, pre.Versions
}

// PatchItem reads the item, checks pre, and writes what apply returns on
// condition that the item is still at the version read. If another write
// came between, it starts over from the item that write left: a deleted
// item gives ErrItemNotFound, one whose version pre no longer matches
// ErrPreconditionFailed; after maxWriteAttempts lost races it gives up with
// CodeConflict. Errors from apply are returned as they are.
func (s *ItemStore) PatchItem(ctx context.Context, t tenantapi.TenantRef, id uuid.UUID, pre tenantapi.Precondition, apply func(tenantapi.Item) (tenantapi.ItemInput, error)) (tenantapi.Item, error) {
	st := s.sql.statements(t.ID)
	cur, err := s.get(ctx, t, st, id)
	if err != nil {
		return tenantapi.Item{}, err
	}
	for range maxWriteAttempts {
		if !pre.Matches(cur.Version) {
			return tenantapi.Item{}, tenantapi.ErrPreconditionFailed
		}
		in, err := apply(cur)
		if err != nil {
			return tenantapi.Item{}, err
		}
		it, written, err := s.replace(ctx, t, st, id, in, tenantapi.Precondition{Present: true, Versions: []int64{cur.Version}})
		switch {
		case err != nil:
			return tenantapi.Item{}, err
		case written:
			return it, nil
		case it.Version != cur.Version:
			// A write committed between the read and this statement: it is
			// the item this statement saw.
			cur = it
		default:
			// This statement waited for a write or delete of the version
			// read, which its snapshot cannot show: read again.
			if cur, err = s.get(ctx, t, st, id); err != nil {
				return tenantapi.Item{}, err
			}
		}
	}
	return tenantapi.Item{}, errItemBusy
}

// DeleteItem deletes the item when pre matches. It returns ErrItemNotFound,
// or ErrPreconditionFailed when the item's version does not match pre.
func (s *ItemStore) DeleteItem(ctx context.Context, t tenantapi.TenantRef, id uuid.UUID, pre tenantapi.Precondition) error {
	st := s.sql.statements(t.ID)
	anyMatch, versions := preArgs(pre)
	return write(pre, func() (bool, int64, error) {
		var (
			deleted bool
			seen    *int64 // NULL when deleted
		)
		if err := s.db.tenantRow(ctx, t, st.delete, id, anyMatch, versions).Scan(&deleted, &seen); err != nil {
			return false, 0, translate(err, itemScope)
		}
		if deleted {
			return true, 0, nil
		}
		return false, *seen, nil
	})
}

// CheckItem returns nil when the item exists and pre matches, else
// ErrItemNotFound or ErrPreconditionFailed.
func (s *ItemStore) CheckItem(ctx context.Context, t tenantapi.TenantRef, id uuid.UUID, pre tenantapi.Precondition) error {
	var v int64
	if err := s.db.tenantRow(ctx, t, s.sql.statements(t.ID).check, id).Scan(&v); err != nil {
		return translate(err, itemScope)
	}
	if !pre.Matches(v) {
		return tenantapi.ErrPreconditionFailed
	}
	return nil
}
