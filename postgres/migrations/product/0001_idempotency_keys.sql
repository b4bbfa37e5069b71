-- The product's own per-tenant tables live on a track of their own, apart
-- from the application set, under names that start with _tenantapi_: no
-- table a team brings can clash with them, and none of them is ever a
-- resource. Like application files, product files run with the tenant's
-- schema as the search_path.
--
-- A tenant made before the tracks were kept apart has its idempotency keys
-- in idempotency_keys; they move over with their rows. On every other
-- tenant this file runs before any application file, so no table of that
-- name exists yet.

ALTER TABLE IF EXISTS idempotency_keys RENAME TO _tenantapi_idempotency_keys;
ALTER INDEX IF EXISTS idempotency_keys_pkey RENAME TO _tenantapi_idempotency_keys_pkey;

CREATE TABLE IF NOT EXISTS _tenantapi_idempotency_keys (
    key          text PRIMARY KEY,
    request_hash bytea NOT NULL,
    response     bytea NOT NULL,
    item_id      uuid NOT NULL,
    created_at   timestamptz NOT NULL
);
