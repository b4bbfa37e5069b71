-- Tenant schemas follow two tracks: the product's own tables
-- (product_version) and the application set, the built-in items or a
-- team's folder (schema_version). Versions of a team's files may be long
-- numbers such as timestamps.
--
-- tenant_migrations remembers every application file that some tenant has
-- applied, with its SHA-256, so that migrate refuses a folder in which an
-- applied file was changed or removed before it touches any tenant.

ALTER TABLE public.tenants
    ALTER COLUMN schema_version TYPE bigint,
    ADD COLUMN product_version integer NOT NULL DEFAULT 0;

CREATE TABLE public.tenant_migrations (
    version          bigint PRIMARY KEY,
    file             text NOT NULL,
    checksum         text NOT NULL,
    first_applied_at timestamptz NOT NULL DEFAULT now()
);
