-- A tenant's items and the idempotency keys of its creates. {{schema}} is
-- the tenant's quoted schema name.

CREATE TABLE {{schema}}.items (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    attributes  jsonb NOT NULL DEFAULT '{}',
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE {{schema}}.idempotency_keys (
    key          text PRIMARY KEY,
    request_hash bytea NOT NULL,
    response     bytea NOT NULL,
    item_id      uuid NOT NULL,
    created_at   timestamptz NOT NULL
);
