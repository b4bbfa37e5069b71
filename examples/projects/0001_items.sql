-- The built-in application set: the items of SPEC §3. tenantapi runs each
-- file of a set in one transaction with the tenant's schema as the
-- search_path, so tables are named plainly. To bring your own tables, copy
-- this folder (keep this file as it is if your tenants already hold items)
-- and add files after it; see docs/schema.md.

CREATE TABLE items (
    id          uuid PRIMARY KEY,
    name        varchar(200) NOT NULL CHECK (name <> ''),
    description varchar(10000) NOT NULL DEFAULT '',
    attributes  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
