package tenantapi

import (
	"context"

	"github.com/google/uuid"
)

// Value is one field of a write after validation (SPEC §10): the value to
// store, or the column's default.
type Value struct {
	// Field is the index of the field in its Resource.Fields.
	Field int
	// Default asks for the column's default (null when it has none).
	Default bool
	// Null stores SQL NULL.
	Null bool
	// Text is the value otherwise: PostgreSQL's input text of a scalar
	// ("42", "2026-11-26T14:07:25Z", "t"), or JSON text for a json column
	// and for an array (a JSON array of the elements).
	Text string
}

// Row is a resource row as a store reads it.
type Row struct {
	ID uuid.UUID
	// Version is the row's version; for a resource without a version
	// column, a token that changes with every write (never sent as an
	// ETag). Rows of a list leave it 0: their versions are in JSON.
	Version int64
	// JSON is the row as the API shows it: an object with id, the fields
	// in column order, then the managed columns the table has.
	JSON []byte
}

// Filter keeps the rows whose field equals a value: Field indexes
// Resource.Fields (-1 is id), Text is the value as PostgreSQL input text.
type Filter struct {
	Field int
	Text  string
}

// RowQuery asks for a page of rows ordered by id.
type RowQuery struct {
	Filters []Filter
	// After is the id the page starts after; nil for the first page.
	After *uuid.UUID
	Limit int
}

// CreatedRow is the result of a create: the row, and for a replayed
// idempotent request the stored response body of the first one.
type CreatedRow struct {
	Row      Row
	Replayed bool
}

// RowStore reads and writes the rows of a tenant's resources. Every method
// works in the schema of the tenant it is given, with the resource's shape
// at that tenant's version, and takes one round trip (Patch two when it
// merges into a JSON member). A tenant whose schema is gone gives
// ErrTenantNotFound; a row that does not exist ErrItemNotFound; an
// unreachable or overloaded database CodeUnavailable. A constraint the
// write breaks is CodeValidationFailed on its field (CHECK, NOT NULL,
// foreign key) or CodeConflict (unique, or a delete of a referenced row);
// the error never shows SQL or another row.
type RowStore interface {
	// Create inserts a row with a new UUIDv7 id, the given values and the
	// defaults of the other columns, and returns it as stored. With idem
	// set it also claims the key, which is the tenant's across its
	// resources, atomically with the insert: a key already used within 24
	// hours with the same RequestHash on the same resource returns the
	// first response's body as Row.JSON (and its id) with Replayed true;
	// with another hash, or on another resource, CodeIdempotencyKeyReused;
	// while the first request is still in flight ErrKeyInFlight
	// (CodeConflict). A key older than 24 hours is free again. A create
	// that fails claims nothing.
	Create(ctx context.Context, t TenantRef, res *Resource, vals []Value, idem *Idempotency) (CreatedRow, error)
	// Get returns the row.
	Get(ctx context.Context, t TenantRef, res *Resource, id uuid.UUID) (Row, error)
	// List returns up to q.Limit rows ordered by id, and whether more may
	// follow the last.
	List(ctx context.Context, t TenantRef, res *Resource, q RowQuery) (rows []Row, more bool, err error)
	// Replace writes vals, each a column's value or its default, to an
	// existing row when pre matches; columns vals does not name keep
	// theirs (a PUT names every writable column).
	// It returns ErrPreconditionFailed only when the row exists at a
	// version pre does not match.
	Replace(ctx context.Context, t TenantRef, res *Resource, id uuid.UUID, vals []Value, pre Precondition) (Row, error)
	// Patch reads the row when merge needs it, checks pre and writes the
	// values patch returns for it (only those columns change), starting
	// over when another write came between. patch gets nil when the row
	// was not read (merge false).
	Patch(ctx context.Context, t TenantRef, res *Resource, id uuid.UUID, pre Precondition, merge bool, patch func(cur *Row) ([]Value, error)) (Row, error)
	// Delete deletes the row when pre matches.
	Delete(ctx context.Context, t TenantRef, res *Resource, id uuid.UUID, pre Precondition) error
	// Check returns nil when the row exists and pre matches, else
	// ErrItemNotFound or ErrPreconditionFailed, so that a caller can
	// report those before a validation error, as the contract orders them.
	Check(ctx context.Context, t TenantRef, res *Resource, id uuid.UUID, pre Precondition) error
}

// SchemaSource tells the shape of each version of the application set.
type SchemaSource interface {
	// Schema returns the schema of version v, or an error when no
	// migration recorded it (CodeUnavailable: run migrate).
	Schema(ctx context.Context, v int) (*Schema, error)
	// Schemas returns every recorded version, oldest first.
	Schemas(ctx context.Context) ([]*Schema, error)
	// Known reports whether some version has a resource named name; an
	// error when it cannot tell (the database is unreachable).
	Known(ctx context.Context, name string) (bool, error)
}
