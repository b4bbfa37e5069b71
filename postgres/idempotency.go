package postgres

import (
	"bytes"
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tenantapi/tenantapi"
)

// idempotencyTTL is how long an Idempotency-Key is remembered. After it, the
// key is free for a new request.
const idempotencyTTL = 24 * time.Hour

var (
	errKeyReused = tenantapi.Errorf(tenantapi.CodeIdempotencyKeyReused,
		"this Idempotency-Key was used with a different request body")
	errKeyInFlight = tenantapi.ErrKeyInFlight
)

// createIdempotent inserts it and claims idem.Key for the body head,
// attributes, tail in one statement, so a failure leaves neither, and a
// repeat is answered without a second round trip: the stored body when the
// hash matches, CodeIdempotencyKeyReused when it does not, CodeConflict when
// the first request has not committed yet (or committed only while this
// statement waited for it). The body stored holds the attributes' jsonb
// text, as the item returned does.
func (s *ItemStore) createIdempotent(ctx context.Context, t tenantapi.TenantRef, st *itemSQL, it tenantapi.Item, idem *tenantapi.Idempotency, head, tail []byte) (tenantapi.Created, error) {
	var (
		created   bool
		hash      []byte
		stored    []byte
		itemID    *uuid.UUID
		claimedAt *time.Time
		attrs     []byte
	)
	cutoff := it.CreatedAt.Add(-idempotencyTTL)
	err := s.db.tenantRow(ctx, t, st.insertIdem,
		it.ID, it.Name, it.Description, it.Attributes, it.CreatedAt,
		idem.Key, idem.RequestHash[:], notNull(head), cutoff, notNull(tail),
	).Scan(&created, &hash, &stored, &itemID, &claimedAt, &attrs)
	switch {
	case isNoRows(err):
		return tenantapi.Created{}, errKeyInFlight
	case err != nil:
		return tenantapi.Created{}, translate(err, itemScope)
	case created:
		it.Attributes = attrs
		return tenantapi.Created{Item: it}, nil
	case !claimedAt.After(cutoff):
		// Expired in this statement's snapshot, yet not taken over: another
		// request took it over meanwhile and is still in flight.
		return tenantapi.Created{}, errKeyInFlight
	case !bytes.Equal(hash, idem.RequestHash[:]):
		return tenantapi.Created{}, errKeyReused
	}
	return tenantapi.Created{Item: tenantapi.Item{ID: *itemID}, Replayed: true, Body: stored}, nil
}

// notNull returns b, or an empty slice for nil, which would be sent as NULL
// (and the response column is NOT NULL).
func notNull(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
