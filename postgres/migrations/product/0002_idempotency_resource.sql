-- An Idempotency-Key is the tenant's, across its resources: a key used on
-- one resource and repeated on another is a reuse, never a replay of the
-- first resource's answer. Keys stored before every table was a resource
-- were all items'.

ALTER TABLE _tenantapi_idempotency_keys ADD COLUMN resource text NOT NULL DEFAULT 'items';
