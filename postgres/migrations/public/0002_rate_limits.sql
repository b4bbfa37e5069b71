-- A tenant's own rate limit (server mode): a token bucket refilled at
-- rate_limit_rps requests a second holding at most rate_limit_burst. Both
-- NULL: the server's default (RATE_LIMIT_RPS, RATE_LIMIT_BURST). An rps of 0
-- exempts the tenant. The bounds are tenantapi.RateLimit.Valid's; they also
-- keep NaN and infinity out.

ALTER TABLE public.tenants
    ADD COLUMN rate_limit_rps   double precision
        CHECK (rate_limit_rps >= 0 AND rate_limit_rps <= 1000000),
    ADD COLUMN rate_limit_burst integer
        CHECK (rate_limit_burst >= 1 AND rate_limit_burst <= 1000000),
    ADD CONSTRAINT tenants_rate_limit_both
        CHECK ((rate_limit_rps IS NULL) = (rate_limit_burst IS NULL));
