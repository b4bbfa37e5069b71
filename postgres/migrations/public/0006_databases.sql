-- More than one database. The control database (this one) holds the
-- registry, keys and config and is itself the database "main"; the others
-- hold tenant schemas only. Each tenant lives in exactly one of them, as its
-- registry row says; moving it flips that column.

CREATE TABLE public.databases (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    -- The owner's connection string (pgx driver), or the Secrets Manager
    -- secret of its credentials (with the cluster for the Data API). main
    -- has neither: every process is configured with it.
    url         text,
    -- Where it is without credentials, postgres://host:port/dbname: the
    -- runtime role may read this, never url.
    address     text NOT NULL DEFAULT '',
    secret_arn  text,
    cluster_arn text,
    draining    boolean NOT NULL DEFAULT false,
    added_at    timestamptz DEFAULT now(), -- NULL for main
    CHECK (name = 'main' OR (url IS NULL) <> (secret_arn IS NULL))
);

INSERT INTO public.databases (name, added_at) VALUES ('main', NULL);

ALTER TABLE public.tenants
    ADD COLUMN database text NOT NULL DEFAULT 'main' REFERENCES public.databases (name);

CREATE INDEX tenants_database_idx ON public.tenants (database);

-- A move in progress (tenantapi tenants move): what the mover has done, so
-- that running it again after a crash finishes or undoes it.
CREATE TABLE public.tenant_moves (
    tenant_uid  bigint PRIMARY KEY REFERENCES public.tenants (uid) ON DELETE CASCADE,
    source      text NOT NULL REFERENCES public.databases (name),
    target      text NOT NULL REFERENCES public.databases (name),
    step        text NOT NULL,
    -- The subscription's oid on the target, once made: its table-copy
    -- slots on the source are named after it.
    subscription_oid bigint,
    keep_source boolean NOT NULL DEFAULT false,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
