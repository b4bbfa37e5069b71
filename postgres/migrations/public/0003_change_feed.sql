-- The change feed (postgres.ChangeStore) reads the keys revoked and the
-- tenants changed since its last read, once a second or so per serving
-- process: by time, through these indexes, however large the registry grows.

CREATE INDEX api_keys_revoked_at_idx ON public.api_keys (revoked_at)
    WHERE revoked_at IS NOT NULL;

CREATE INDEX tenants_updated_at_idx ON public.tenants (updated_at);

-- A dropped tenant leaves no row to read a change from: its tombstone tells
-- the feed, for a day (DropTenant prunes older ones), so that a process that
-- has not read the feed since the tenant was marked deleting still forgets
-- it and its keys.
CREATE TABLE public.tenant_tombstones (
    id         text NOT NULL,
    uid        bigint NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tenant_tombstones_deleted_at_idx ON public.tenant_tombstones (deleted_at);
