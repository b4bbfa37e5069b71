// Package httpapi is the HTTP face of the service: the tenant items API, the
// admin API, health and documentation. The same http.Handler serves the HTTP
// server and, through the Lambda adapter, API Gateway.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantapi/tenantapi"
)

// Auth modes.
const (
	AuthAPIKey  = "apikey"
	AuthNone    = "none"
	AuthGateway = "gateway" // the tenant claim of an API Gateway authorizer
	AuthJWT     = "jwt"     // a bearer JWT checked by Stores.Tokens
)

// Config tunes a Server. Zero values take the defaults named on each field.
type Config struct {
	// AuthMode is AuthAPIKey (default), AuthJWT, AuthGateway or AuthNone.
	// Whether a mode is allowed where the server runs is the command's
	// decision.
	AuthMode string
	// TenantClaim names the authorizer claim that holds the tenant id in
	// AuthGateway mode (default "custom:tenant_id").
	TenantClaim string
	// AdminToken opens /admin/*; "" answers 404 there. At least 32 characters.
	AdminToken string
	// CORSAllowedOrigins lists exact origins allowed to call the API.
	CORSAllowedOrigins []string
	// RequestTimeout bounds each request, database calls included (default 10s).
	RequestTimeout time.Duration
	// CacheTTL bounds how long a change to a tenant or a key can go unseen
	// by this server (default 2s; at most 5s, so changes take effect
	// everywhere within 5 s). Without Stores.Changes, found tenant statuses
	// and key lookups are cached for CacheTTL; with it, for CacheMaxAge,
	// while the change feed is read every CacheTTL/2.
	CacheTTL time.Duration
	// CacheMaxAge bounds how long a found tenant status or key lookup is
	// kept when Stores.Changes is set (default 10m).
	CacheMaxAge time.Duration
	// DeleteGrace is how long a tenant delete waits between marking the
	// tenant deleting and dropping its schema, so that no process still
	// serves it from a cache (default 5s).
	DeleteGrace time.Duration
	// DropLockTimeout bounds the wait for locks when dropping a tenant
	// schema (default 3s).
	DropLockTimeout time.Duration
	// RateLimit is each tenant's request budget in this process, for
	// tenants without a limit of their own in the registry. RPS 0 (the
	// default) means no limit; Burst 0 takes one second's worth of RPS.
	RateLimit tenantapi.RateLimit
	// NoRateLimit turns rate limiting off altogether, tenants' own limits
	// included (on Lambda, where API Gateway throttles and one instance
	// sees only a slice of the traffic).
	NoRateLimit bool
	// Version is reported by /healthz.
	Version string
	// UsageWindow is the window in which the usage endpoint counts a
	// tenant's requests, aligned to the Unix epoch (default 1h: the current
	// UTC hour).
	UsageWindow time.Duration
	// Observer, when set, is told about every request (metrics).
	Observer Observer
	// Metrics serves GET /metrics, outside tenant auth; nil answers 404.
	Metrics http.Handler
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// TracerProvider, when set, gets a span for every request; nil turns
	// tracing off at no cost.
	TracerProvider trace.TracerProvider
	// Propagator reads the caller's trace context from request headers
	// (default: W3C Trace Context).
	Propagator propagation.TextMapPropagator
}

// Stores are the dependencies a Server serves from.
type Stores struct {
	Tenants tenantapi.TenantStore
	Lookup  tenantapi.Lookup
	Keys    tenantapi.KeyStore
	// Rows serves every resource; Schemas tells each version's resources.
	Rows    tenantapi.RowStore
	Schemas tenantapi.SchemaSource
	Config  tenantapi.ConfigStore
	// Changes is the registry's change feed; nil keeps cache entries for
	// Config.CacheTTL only.
	Changes tenantapi.ChangeFeed
	// Usage measures tenants for GET /admin/tenants/{id}/usage; nil
	// answers 404 there.
	Usage tenantapi.UsageStore
	// Tokens verifies bearer JWTs; required in AuthJWT mode, unused otherwise.
	Tokens TokenVerifier
	// Ready reports whether the database answers and its public schema is at
	// this binary's version.
	Ready func(ctx context.Context) error
}

// Server is the HTTP API. Create it with NewServer.
type Server struct {
	cfg     Config
	stores  Stores
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	origins map[string]bool

	principals *ttlCache[[32]byte, tenantapi.Principal]
	statuses   *ttlCache[tenantapi.TenantID, tenantStatus]
	changes    *changeWatch // nil without Stores.Changes
	limits     *limiter     // nil with NoRateLimit
	requests   *requestCounter
	openapi    openAPICache
}

type tenantStatus struct {
	ref    tenantapi.TenantRef
	status tenantapi.TenantStatus
	limit  *tenantapi.RateLimit // the tenant's own; nil for the default
}

// NewServer returns the API over stores. It returns an error for a config it
// cannot serve safely (an unknown auth mode, a short admin token, a cache TTL
// over 5 s, a rate limit out of bounds).
func NewServer(cfg Config, stores Stores, log *slog.Logger) (*Server, error) {
	if cfg.AuthMode == "" {
		cfg.AuthMode = AuthAPIKey
	}
	switch cfg.AuthMode {
	case AuthAPIKey, AuthNone, AuthGateway:
	case AuthJWT:
		if stores.Tokens == nil {
			return nil, errors.New("auth mode jwt needs a token verifier")
		}
	default:
		return nil, errors.New("unknown auth mode " + cfg.AuthMode + " (want apikey, jwt, gateway or none)")
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = "custom:tenant_id"
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < 32 {
		return nil, errors.New("the admin token must be at least 32 characters")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 2 * time.Second
	}
	if cfg.CacheTTL > 5*time.Second {
		return nil, errors.New("the cache TTL must be at most 5s so that changes take effect within 5 s")
	}
	if cfg.CacheMaxAge <= 0 {
		cfg.CacheMaxAge = 10 * time.Minute
	}
	if cfg.CacheMaxAge < cfg.CacheTTL {
		return nil, errors.New("the cache max age must be at least the cache TTL")
	}
	if cfg.DeleteGrace <= 0 {
		cfg.DeleteGrace = 5 * time.Second
	}
	if cfg.DropLockTimeout <= 0 {
		cfg.DropLockTimeout = 3 * time.Second
	}
	if cfg.RateLimit.Burst == 0 {
		cfg.RateLimit.Burst = tenantapi.DefaultBurst(cfg.RateLimit.RPS)
	}
	if !cfg.RateLimit.Valid() {
		return nil, errors.New("the rate limit must be 0 to 1000000 requests a second with a burst of 1 to 1000000")
	}
	if cfg.UsageWindow <= 0 {
		cfg.UsageWindow = time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		stores:   stores,
		log:      log,
		mux:      http.NewServeMux(),
		origins:  map[string]bool{},
		requests: newRequestCounter(cfg.UsageWindow),
	}
	keep := cfg.CacheTTL
	if stores.Changes != nil {
		keep = cfg.CacheMaxAge
		s.changes = newChangeWatch(stores.Changes, cfg.CacheTTL, s.applyChanges)
	}
	s.principals = newTTLCache[[32]byte, tenantapi.Principal](keep, 100_000)
	s.statuses = newTTLCache[tenantapi.TenantID, tenantStatus](keep, 100_000)
	for _, o := range cfg.CORSAllowedOrigins {
		s.origins[o] = true
	}
	if !cfg.NoRateLimit {
		s.limits = newLimiter(cfg.RateLimit, 100_000)
	}
	s.routes()
	s.handler = s.requestID(s.accessLog(s.recoverPanic(s.deadline(s.mux))))
	if cfg.TracerProvider != nil {
		// Inside the access log, whose record the span reads for the route
		// and tenant; the span covers everything the log line times.
		s.handler = s.requestID(s.accessLog(s.trace(s.recoverPanic(s.deadline(s.mux)))))
	}
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}
