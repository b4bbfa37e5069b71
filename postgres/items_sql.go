package postgres

import (
	"sync"

	"github.com/tenantapi/tenantapi"
)

// itemSQL holds the item statements of one tenant, with its schema already
// in place. Each is a single statement, so each call is one round trip.
type itemSQL struct {
	get, list, check, insert, insertIdem, replace, delete string
}

const itemColumns = `id, name, description, attributes, version, created_at, updated_at`

// itemTemplates are the statements with {{schema}} standing for the
// tenant's quoted schema.
var itemTemplates = itemSQL{
	get: `SELECT ` + itemColumns + ` FROM {{schema}}.items WHERE id = $1`,

	list: `SELECT ` + itemColumns + ` FROM {{schema}}.items WHERE id > $1 ORDER BY id LIMIT $2`,

	check: `SELECT version FROM {{schema}}.items WHERE id = $1`,

	// Every value comes from Go ($5 is both timestamps) but the attributes'
	// text, which only PostgreSQL writes as every read will show it (jsonb
	// spacing and key order).
	insert: `INSERT INTO {{schema}}.items (` + itemColumns + `)
		VALUES ($1, $2, $3, $4, 1, $5, $5)
		RETURNING attributes`,

	// insertIdem claims the idempotency key and inserts the item only when
	// the claim succeeded, atomically. A key older than the cutoff $9 is
	// taken over in place. When the key is held, the second branch returns
	// the holder's row as this statement's snapshot sees it; a holder that
	// committed while the statement waited on it is not visible, which the
	// caller reports as "still in flight". The stored response is the body
	// Go rendered around the attributes ($8 and $10) with the attributes'
	// jsonb text between, the text the created branch returns.
	insertIdem: `WITH k AS (
			INSERT INTO {{schema}}._tenantapi_idempotency_keys AS k (key, request_hash, response, item_id, created_at)
			VALUES ($6, $7, $8::bytea || convert_to($4::jsonb::text, 'UTF8') || $10::bytea, $1, $5)
			ON CONFLICT (key) DO UPDATE
				SET request_hash = excluded.request_hash, response = excluded.response,
				    item_id = excluded.item_id, created_at = excluded.created_at
				WHERE k.created_at <= $9::timestamptz
			RETURNING 1
		), i AS (
			INSERT INTO {{schema}}.items (` + itemColumns + `)
			SELECT $1::uuid, $2::text, $3::text, $4::jsonb, 1, $5::timestamptz, $5::timestamptz FROM k
			RETURNING attributes
		)
		SELECT true, NULL::bytea, NULL::bytea, NULL::uuid, NULL::timestamptz, attributes FROM i
		UNION ALL
		SELECT false, request_hash, response, item_id, created_at, NULL::jsonb FROM {{schema}}._tenantapi_idempotency_keys
		WHERE key = $6 AND NOT EXISTS (SELECT 1 FROM k)`,

	// replace and delete tell "no such item" (no row) from "not written" (a
	// false row, with the item as the statement's snapshot sees it) in one
	// statement. Under READ COMMITTED a writer that waited for a concurrent
	// one re-checks the version on the row it then sees, so of two writers
	// with the same If-Match exactly one wins. A loser that waited for a
	// delete finds no row to re-check, yet the false branch still sees the
	// row of its snapshot: the caller tells that race from a precondition
	// that failed by the version returned (see ItemStore.write).
	replace: `WITH upd AS (
			UPDATE {{schema}}.items
			SET name = $2, description = $3, attributes = $4, version = version + 1, updated_at = $5
			WHERE id = $1 AND ($6::boolean OR version = ANY($7::bigint[]))
			RETURNING ` + itemColumns + `
		)
		SELECT true, ` + itemColumns + ` FROM upd
		UNION ALL
		SELECT false, ` + itemColumns + ` FROM {{schema}}.items
		WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`,

	delete: `WITH del AS (
			DELETE FROM {{schema}}.items
			WHERE id = $1 AND ($2::boolean OR version = ANY($3::bigint[]))
			RETURNING 1
		)
		SELECT true, NULL::bigint FROM del
		UNION ALL
		SELECT false, version FROM {{schema}}.items WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM del)`,
}

// maxCachedTenants bounds the statement cache. Rendering is cheap, so a
// full cache is simply emptied rather than managed.
const maxCachedTenants = 1024

// itemSQLCache keeps rendered statements of recently used tenants, so the
// request path does not rebuild its SQL text every call.
type itemSQLCache struct {
	mu sync.RWMutex
	m  map[tenantapi.TenantID]*itemSQL
}

// statements returns id's item statements.
func (c *itemSQLCache) statements(id tenantapi.TenantID) *itemSQL {
	c.mu.RLock()
	s, ok := c.m[id]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = &itemSQL{
		get:        forTenant(itemTemplates.get, id),
		list:       forTenant(itemTemplates.list, id),
		check:      forTenant(itemTemplates.check, id),
		insert:     forTenant(itemTemplates.insert, id),
		insertIdem: forTenant(itemTemplates.insertIdem, id),
		replace:    forTenant(itemTemplates.replace, id),
		delete:     forTenant(itemTemplates.delete, id),
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedTenants {
		c.m = make(map[tenantapi.TenantID]*itemSQL)
	}
	c.m[id] = s
	c.mu.Unlock()
	return s
}
