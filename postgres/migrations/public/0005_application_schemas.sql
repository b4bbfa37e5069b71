-- What each version of the application set serves: its resources, fields,
-- constraints and private tables, as `tenantapi resources --json` prints
-- one version. migrate records it, applying the set to a scratch schema
-- once, whatever the number of tenants; serving processes read this table
-- once at start (and again when a tenant is at a version they do not
-- know), never the catalog of a tenant schema.

CREATE TABLE public.application_schemas (
    version     bigint PRIMARY KEY,
    file        text NOT NULL,
    checksum    text NOT NULL,
    schema      jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
