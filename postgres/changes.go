package postgres

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/tenantapi/tenantapi"
)

// changeLookback is how far before the previous read the change feed looks
// again. The registry stamps a change with its transaction's start time
// (now()), so a change becomes visible up to the length of its transaction
// after its stamp; every registry write is a short transaction, far shorter
// than this.
const changeLookback = 10 * time.Second

// tombstoneRetention is how long a dropped tenant's tombstone is kept. A
// read of the feed whose since is older gets Reset.
const tombstoneRetention = 24 * time.Hour

// ChangeStore is the registry's change feed, on the runtime pool.
type ChangeStore struct{ db *DB }

// NewChangeStore returns the change feed of db.
func NewChangeStore(db *DB) *ChangeStore { return &ChangeStore{db: db} }

// RegistryChanges implements tenantapi.ChangeFeed in one query: the keys
// revoked and the tenants updated (not merely created) or dropped in the
// lookback before since, which covers every change committed after the
// read that returned since; Reset when since is older than the tombstones.
func (s *ChangeStore) RegistryChanges(ctx context.Context, since time.Time) (tenantapi.RegistryChanges, error) {
	var (
		c      tenantapi.RegistryChanges
		hashes []string // hex: an array of bytea is one the Data API cannot answer
		ids    []string
	)
	if since.IsZero() {
		err := s.db.runtime.QueryRow(ctx, `SELECT statement_timestamp()`).Scan(&c.Until)
		c.Reset = true
		return c, translate(err, registryScope)
	}
	from := since.Add(-changeLookback)
	err := s.db.runtime.QueryRow(ctx, `SELECT statement_timestamp(),
		ARRAY(SELECT encode(hash, 'hex') FROM public.api_keys WHERE revoked_at > $1),
		ARRAY(SELECT id FROM public.tenants WHERE updated_at > $1 AND updated_at > created_at
			UNION SELECT id FROM public.tenant_tombstones WHERE deleted_at > $1)`, from).
		Scan(&c.Until, &hashes, &ids)
	if err != nil {
		return tenantapi.RegistryChanges{}, translate(err, registryScope)
	}
	if c.Until.Sub(since) > tombstoneRetention-changeLookback {
		return tenantapi.RegistryChanges{Until: c.Until, Reset: true}, nil
	}
	for _, x := range hashes {
		if h, err := hex.DecodeString(x); err == nil && len(h) == 32 {
			c.RevokedKeys = append(c.RevokedKeys, [32]byte(h))
		}
	}
	for _, id := range ids {
		c.Tenants = append(c.Tenants, tenantapi.TenantID(id))
	}
	return c, nil
}
