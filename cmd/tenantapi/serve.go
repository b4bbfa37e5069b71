package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/httpapi"
	"github.com/tenantapi/tenantapi/postgres"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func cmdServe(ctx context.Context, env *env, args []string, stdout, stderr io.Writer) error {
	cfg := env.server()
	dbc := env.db()
	fs := newFlagSet("serve", "tenantapi serve [flags]\n\n"+
		"Serves the API over HTTP until SIGINT or SIGTERM, then drains in-flight\n"+
		"requests. Everything else comes from the environment: DATABASE_URL (or\n"+
		"DB_SECRET_ARN) for the owner, DATABASE_RUNTIME_URL for the role that serves\n"+
		"tenants, ADMIN_TOKEN, CACHE_TTL, REQUEST_TIMEOUT, LOG_LEVEL and the rest of\n"+
		"docs/configuration.md. Flags override their variables.\n")
	fs.StringVar(&cfg.Host, "host", cfg.Host, "address to listen on ($HOST; empty: all interfaces)")
	fs.IntVar(&cfg.Port, "port", cfg.Port, "port to listen on ($PORT)")
	fs.StringVar(&cfg.AuthMode, "auth-mode", cfg.AuthMode, "apikey, jwt, or none (loopback only) ($AUTH_MODE)")
	migrationsFlag(fs, &dbc)
	if _, done, err := parseFlags(fs, args, stdout, stderr); done || err != nil {
		return err
	}
	tr, err := startTracing(ctx, env, &cfg, &dbc)
	if err != nil {
		return err
	}
	defer tr.shutdown()
	log, err := env.logger(stdout)
	if err != nil {
		return err
	}
	dbc.notice = func(msg string) { log.Warn(msg) }
	if cfg.AuthMode == httpapi.AuthNone && !isLoopback(cfg.Host) {
		return usagef("AUTH_MODE=none is accepted only on loopback; set HOST=127.0.0.1 or use an API key mode")
	}
	if cfg.AuthMode == httpapi.AuthGateway {
		return usagef("AUTH_MODE=gateway trusts API Gateway's authorizer and works only on AWS Lambda")
	}
	if _, err := newVerifier(cfg, log); err != nil {
		return err
	}
	if dbc.URL == "" && dbc.SecretARN == "" {
		return usagef("set DATABASE_URL or DB_SECRET_ARN (or use 'tenantapi dev' for a local database)")
	}
	if dbc.RuntimeURL == "" && dbc.RuntimeSecretARN == "" {
		log.Warn("DATABASE_RUNTIME_URL is not set: the owner role serves tenant requests")
	}
	db, err := openDatabase(ctx, dbc, env.secrets, stderr)
	if err != nil {
		return err
	}
	defer db.close()
	return serveHTTP(ctx, cfg, db.DB, log, nil)
}

// isLoopback reports whether host names only loopback addresses.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newAPI returns the HTTP API over db.
func newAPI(cfg serverConfig, db *postgres.DB, log *slog.Logger) (*httpapi.Server, error) {
	tokens, err := newVerifier(cfg, log)
	if err != nil {
		return nil, err
	}
	tenants := postgres.NewTenantStore(db, postgres.NewMigrator(db))
	return httpapi.NewServer(httpapi.Config{
		AuthMode:           cfg.AuthMode,
		TenantClaim:        cfg.TenantClaim,
		AdminToken:         cfg.AdminToken,
		CORSAllowedOrigins: cfg.CORSOrigins,
		RequestTimeout:     cfg.RequestTimeout,
		CacheTTL:           cfg.CacheTTL,
		CacheMaxAge:        cfg.CacheMaxAge,
		DeleteGrace:        cfg.DeleteGrace,
		DropLockTimeout:    cfg.DropLockTimeout,
		RateLimit:          tenantapi.RateLimit{RPS: cfg.RateLimitRPS, Burst: cfg.RateLimitBurst},
		NoRateLimit:        cfg.NoRateLimit,
		Version:            version,
		UsageWindow:        cfg.UsageWindow,
		Observer:           cfg.observer,
		Metrics:            cfg.metrics,
		MetricsToken:       cfg.MetricsToken,
		TracerProvider:     tracerProvider(cfg.tracing),
		Propagator:         propagator(),
	}, httpapi.Stores{
		Tenants: tenants,
		Lookup:  tenants,
		Keys:    postgres.NewKeyStore(db),
		Rows:    postgres.NewRowStore(db),
		Schemas: postgres.NewSchemaStore(db),
		Config:  postgres.NewConfigStore(db),
		Changes: postgres.NewChangeStore(db),
		Usage:   tenants,
		Tokens:  tokens,
		Ready:   db.Ready,
	}, log)
}

// serveHTTP serves the API on cfg's host and port until ctx is done, then
// stops accepting, lets in-flight requests finish within the shutdown
// timeout and returns nil. ready, when not nil, is called with the
// listening address.
func serveHTTP(ctx context.Context, cfg serverConfig, db *postgres.DB, log *slog.Logger, ready func(addr string)) error {
	return serveListener(ctx, cfg, db, log, nil, ready)
}

// serveListener is serveHTTP on ln, a listener the caller opened and that
// is closed when serveListener returns. A nil ln means one on cfg's host
// and port, opened once the API is built.
func serveListener(ctx context.Context, cfg serverConfig, db *postgres.DB, log *slog.Logger, ln net.Listener, ready func(addr string)) error {
	if ln != nil {
		defer ln.Close()
	}
	if cfg.Metrics {
		m := newPromMetrics(cfg, db)
		if r := cfg.startupMigration; r != nil {
			m.Migrations(r.Migrated, len(r.Failed))
		}
		cfg.observer, cfg.metrics = m, m.Handler()
	}
	api, err := newAPI(cfg, db, log)
	if err != nil {
		return usageError{err.Error()}
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))); err != nil {
			return err
		}
	}
	writeTimeout := cfg.WriteTimeout
	if writeTimeout == 0 {
		writeTimeout = cfg.RequestTimeout + 30*time.Second
	}
	srv := &http.Server{
		Handler: api,
		// Slow clients cannot hold connections open: each phase is bounded.
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("auth_mode", cfg.AuthMode), slog.String("version", version))
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.Duration("drain_timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
