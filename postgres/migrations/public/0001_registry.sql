-- The tenant registry, API keys and shared settings. Nothing here holds
-- tenant data: a query that forgot its tenant schema finds nothing to read.

CREATE TABLE public.tenants (
    id             text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_]{0,39}$'),
    -- uid is the tenant's internal identity. Keys reference it, not id, so a
    -- tenant deleted and created again with the same id never revives them.
    uid            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    name           text NOT NULL,
    status         text NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'suspended', 'deleting')),
    -- schema_version mirrors the ledger inside the tenant schema so that
    -- "which tenants need migrating" is one cheap query.
    schema_version integer NOT NULL DEFAULT 0,
    migration_error text,
    deleting_since timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tenants_schema_version_idx ON public.tenants (schema_version);

CREATE TABLE public.api_keys (
    id          text PRIMARY KEY,
    tenant_uid  bigint NOT NULL REFERENCES public.tenants (uid) ON DELETE CASCADE,
    hash        bytea NOT NULL UNIQUE,
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);

CREATE INDEX api_keys_tenant_uid_idx ON public.api_keys (tenant_uid);

CREATE TABLE public.config (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
