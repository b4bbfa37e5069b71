package tenantapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Item limits, from the product contract.
const (
	MaxNameLen        = 200    // code points
	MaxDescriptionLen = 10_000 // code points
	MaxAttributesSize = 64 << 10
	MaxAttributeDepth = 32 // the attributes object itself is depth 1
	DefaultPageLimit  = 50
	MaxPageLimit      = 500
)

// Item is a row of tenant_<id>.items.
type Item struct {
	ID          uuid.UUID
	Name        string
	Description string
	// Attributes is a JSON object as PostgreSQL returns it (jsonb text).
	Attributes json.RawMessage
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ItemInput is the writable part of an item after validation: Name is set,
// Description defaults to "" and Attributes to {}.
type ItemInput struct {
	Name        string
	Description string
	Attributes  json.RawMessage
}

// Precondition is a parsed If-Match header. The zero value (Present false)
// matches anything.
type Precondition struct {
	Present bool
	// Any is true for "If-Match: *": any existing item matches.
	Any bool
	// Versions are the strong ETags listed; weak ETags never match.
	Versions []int64
}

// Matches reports whether an item at version v satisfies the precondition.
func (p Precondition) Matches(v int64) bool {
	if !p.Present || p.Any {
		return true
	}
	for _, w := range p.Versions {
		if w == v {
			return true
		}
	}
	return false
}

// Idempotency is the Idempotency-Key of a create and the SHA-256 of its body.
type Idempotency struct {
	Key         string
	RequestHash [32]byte
}

// Created is the result of a create: the item, and for a replayed
// idempotent request, the stored response body of the first one.
type Created struct {
	Item     Item
	Replayed bool
	// Body is the stored response of the first request when Replayed.
	Body []byte
}

// ItemStore reads and writes a tenant's items. Every method works in the
// schema of the tenant it is given and nowhere else. A tenant whose schema is
// gone (deleted while the call ran) gives ErrTenantNotFound; an unreachable or
// overloaded database gives CodeUnavailable.
type ItemStore interface {
	// CreateItem inserts an item and returns it as stored: its Attributes are
	// the database's text of them, as every later read shows them. With idem
	// set, a key already used with the same RequestHash within 24 hours
	// returns the stored first response with Replayed true; with another hash
	// it returns CodeIdempotencyKeyReused; while the first request is still
	// in flight it returns CodeConflict. render turns the new item into the
	// response body that is stored for replays, in two parts: the body is
	// head, the stored attributes, tail (so that a replay shows the
	// attributes as the first answer and every read do). It is called only
	// when idem is set.
	CreateItem(ctx context.Context, t TenantRef, in ItemInput, idem *Idempotency, render func(Item) (head, tail []byte)) (Created, error)
	// Item returns the item or ErrItemNotFound.
	Item(ctx context.Context, t TenantRef, id uuid.UUID) (Item, error)
	// Items returns up to limit items ordered by id, after the id after (nil
	// for the first page).
	Items(ctx context.Context, t TenantRef, after *uuid.UUID, limit int) ([]Item, error)
	// ReplaceItem replaces the writable fields of an existing item when pre
	// matches and returns it. It returns ErrItemNotFound, or
	// ErrPreconditionFailed only when the item exists at a version pre does
	// not match: a write that loses a race with a delete finds no item.
	ReplaceItem(ctx context.Context, t TenantRef, id uuid.UUID, in ItemInput, pre Precondition) (Item, error)
	// PatchItem reads the item, checks pre, calls apply with it and writes the
	// input apply returns, unless another write came between (then it
	// starts over from the item that write left: ErrItemNotFound when it was
	// deleted, ErrPreconditionFailed when pre no longer matches). Errors from
	// apply are returned as they are.
	PatchItem(ctx context.Context, t TenantRef, id uuid.UUID, pre Precondition, apply func(Item) (ItemInput, error)) (Item, error)
	// DeleteItem deletes the item when pre matches. It returns
	// ErrItemNotFound, or ErrPreconditionFailed only when the item exists at
	// a version pre does not match.
	DeleteItem(ctx context.Context, t TenantRef, id uuid.UUID, pre Precondition) error
	// CheckItem returns nil when the item exists and pre matches, else
	// ErrItemNotFound or ErrPreconditionFailed. It lets a caller report those
	// before a validation error, as the contract orders them.
	CheckItem(ctx context.Context, t TenantRef, id uuid.UUID, pre Precondition) error
}
