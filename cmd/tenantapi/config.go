package main

import (
	"context"
	"errors"

	"flag"
	"fmt"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantapi/tenantapi/awssecrets"
	"github.com/tenantapi/tenantapi/httpapi"
	"github.com/tenantapi/tenantapi/postgres"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// env reads configuration variables; it is the only place below main that
// sees the environment, and it sees it through the getenv that run was given.
type env struct {
	getenv func(string) string
	errs   []error
	// secrets, when set, is the process's Secrets Manager cache, shared by
	// every command so that a warm Lambda fetches each secret once.
	secrets *awssecrets.Cache
	// migrated, when set, is told how many tenants a migrate command run
	// in this process migrated and failed (metrics on Lambda).
	migrated func(migrated, failed int)
	// stdin is the program's standard input (tenants import -).
	stdin io.Reader
}

func newEnv(getenv func(string) string) *env { return &env{getenv: getenv} }

func (e *env) str(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func (e *env) duration(name string, def time.Duration) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a duration such as 10s or 500ms", name, v))
		return def
	}
	return d
}

func (e *env) boolean(name string, def bool) bool {
	switch v := e.getenv(name); v {
	case "":
		return def
	case "1", "true", "on", "yes":
		return true
	case "0", "false", "off", "no":
		return false
	default:
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not true or false", name, v))
		return def
	}
}

func (e *env) integer(name string, def int) int {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a non-negative integer", name, v))
		return def
	}
	return n
}

func (e *env) number(name string, def float64) float64 {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0) || math.IsInf(f, 0) {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a non-negative number", name, v))
		return def
	}
	return f
}

// err returns the first malformed variable seen, as a usage error.
func (e *env) err() error {
	if len(e.errs) > 0 {
		return usageError{e.errs[0].Error()}
	}
	return nil
}

// dbConfig is how a command reaches PostgreSQL.
type dbConfig struct {
	// Driver is DB_DRIVER: "pgx" (connections) or "data-api" (the RDS
	// Data API on ClusterARN, database Name, as the secrets' users).
	Driver     string
	ClusterARN string
	URL        string // DATABASE_URL: the owner role
	RuntimeURL string // DATABASE_RUNTIME_URL: the role that serves tenant requests
	// SecretARN and RuntimeSecretARN name Secrets Manager secrets holding
	// the owner's and the runtime role's credentials; used when the URL of
	// the same role is unset.
	SecretARN, RuntimeSecretARN string
	// Host, Port and Name fill or override a secret's host, port and dbname.
	Host, Port, Name string
	SSLMode          string // for connections built from a secret
	SecretsTTL       time.Duration
	MaxConns         int
	MaxConnIdleTime  time.Duration
	MaxConnLifetime  time.Duration // recycle connections (bounds each backend's catalog cache)
	ExecMode         string
	// PreparedStatements is each runtime connection's budget of prepared
	// statements (0: none); TenantConns how many connections one tenant
	// uses (0: all). See postgres.Config.
	PreparedStatements int
	TenantConns        int
	TenantRoles        bool   // run tenant statements as the tenant's own role
	DataDir            string // where the dev cluster lives when nothing else is set
	// Migrations is the folder of the application set (TENANT_MIGRATIONS,
	// --migrations); "" means the built-in items.
	Migrations string
	// tracerProvider, when set, traces every statement.
	tracerProvider trace.TracerProvider
	// notice, when set, logs what the database layer reports for an
	// operator (a pooler that drops prepared statements).
	notice func(string)
}

// pools returns the pool settings of c in the database layer's terms.
func (c dbConfig) pools(pc postgres.Config) postgres.Config {
	pc.MaxConns = int32(c.MaxConns)
	pc.MaxConnIdleTime, pc.MaxConnLifetime = c.MaxConnIdleTime, c.MaxConnLifetime
	pc.ExecMode, pc.PreparedStatements, pc.TenantConns = c.ExecMode, c.PreparedStatements, c.TenantConns
	pc.TenantRoles, pc.TracerProvider, pc.Notice = c.TenantRoles, c.tracerProvider, c.notice
	return pc
}

func (e *env) db() dbConfig {
	driver := e.str("DB_DRIVER", "pgx")
	return dbConfig{
		Driver:           driver,
		ClusterARN:       e.getenv("DB_CLUSTER_ARN"),
		URL:              e.getenv("DATABASE_URL"),
		RuntimeURL:       e.getenv("DATABASE_RUNTIME_URL"),
		SecretARN:        e.getenv("DB_SECRET_ARN"),
		RuntimeSecretARN: e.getenv("DB_RUNTIME_SECRET_ARN"),
		Host:             e.getenv("DB_HOST"),
		Port:             e.getenv("DB_PORT"),
		Name:             e.getenv("DB_NAME"),
		SSLMode:          e.str("DB_SSLMODE", "require"),
		SecretsTTL:       e.duration("SECRETS_TTL", 5*time.Minute),
		MaxConns:         e.integer("DB_MAX_CONNS", 0),
		MaxConnIdleTime:  e.duration("DB_MAX_CONN_IDLE_TIME", 0),
		MaxConnLifetime:  e.duration("DB_MAX_CONN_LIFETIME", 0),
		ExecMode:         e.str("DB_EXEC_MODE", "exec"),
		// Measured in BENCHMARKS.md ("Prepared statements and routing").
		PreparedStatements: e.integer("DB_PREPARED_STATEMENTS", 1000),
		TenantConns:        e.integer("DB_TENANT_CONNS", 2),
		// Each tenant statement under its role costs the Data API a
		// transaction of four calls instead of one (see docs/aws.md).
		TenantRoles: e.boolean("DB_TENANT_ROLES", driver != "data-api"),
		DataDir:     e.str("TENANTAPI_DIR", ".tenantapi"),
		Migrations:  e.getenv("TENANT_MIGRATIONS"),
	}
}

// applicationSet loads the tenant migrations the configuration names: the
// folder's files, or nil for the built-in set.
func (c dbConfig) applicationSet() ([]postgres.Migration, error) {
	if c.Migrations == "" {
		return nil, nil
	}
	return postgres.LoadMigrations(c.Migrations)
}

// migrationsFlag adds --migrations to a command that applies or serves
// the application set.
func migrationsFlag(fs *flag.FlagSet, c *dbConfig) {
	fs.StringVar(&c.Migrations, "migrations", c.Migrations, "folder of your tenant migrations ($TENANT_MIGRATIONS; empty: the built-in items)")
}

// serverConfig is what serve and dev need beyond the database.
type serverConfig struct {
	Host            string
	Port            int
	AuthMode        string
	TenantClaim     string
	AdminToken      string
	CORSOrigins     []string
	RequestTimeout  time.Duration
	CacheTTL        time.Duration
	CacheMaxAge     time.Duration
	DeleteGrace     time.Duration
	DropLockTimeout time.Duration
	ShutdownTimeout time.Duration

	// Slow clients cannot hold a connection: each phase of a request is
	// bounded. READ_HEADER_TIMEOUT (5s) and READ_TIMEOUT (30s, the whole
	// request, body included) are for reading, WRITE_TIMEOUT (0:
	// REQUEST_TIMEOUT plus 30s) for answering, IDLE_TIMEOUT (120s) between
	// requests on a kept-alive connection.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// Each tenant's request budget in this process unless it has its own:
	// RateLimitRPS 0 is no limit, RateLimitBurst 0 one second's worth.
	// NoRateLimit turns limiting off altogether (Lambda).
	RateLimitRPS   float64
	RateLimitBurst int
	NoRateLimit    bool

	// UsageWindow is the window of the usage endpoint's request count
	// (USAGE_WINDOW, default 1h).
	UsageWindow time.Duration

	// Metrics: Prometheus /metrics in server mode, EMF lines on Lambda
	// (METRICS, default true). MetricsTenantLabel adds a tenant label
	// (METRICS_TENANT_LABEL; on Lambda a TenantId dimension), MetricsToken
	// guards /metrics (METRICS_TOKEN), MetricsNamespace and MetricsService
	// name the EMF namespace and Service dimension (METRICS_NAMESPACE,
	// METRICS_SERVICE; default "tenantapi").
	Metrics                          bool
	MetricsTenantLabel               bool
	MetricsToken                     string
	MetricsNamespace, MetricsService string

	// observer and metrics are what the command wired for metrics; see
	// newAPI.
	observer httpapi.Observer
	metrics  http.Handler
	// startupMigration is the report of the tenant migration the command
	// ran before serving (dev), counted by the metrics.
	startupMigration *postgres.Report
	// tracing, when set, traces every request.
	tracing *tracing

	// AUTH_MODE=jwt; see newVerifier.
	JWKSURL, JWTIssuer, JWTAudience string
	JWTLeeway, JWKSRefreshInterval  time.Duration
}

func (e *env) server() serverConfig {
	var origins []string
	for _, o := range strings.Split(e.getenv("CORS_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	return serverConfig{
		Host:            e.str("HOST", ""),
		Port:            e.integer("PORT", 8080),
		AuthMode:        e.str("AUTH_MODE", "apikey"),
		TenantClaim:     e.str("TENANT_CLAIM", "custom:tenant_id"),
		AdminToken:      e.getenv("ADMIN_TOKEN"),
		CORSOrigins:     origins,
		RequestTimeout:  e.duration("REQUEST_TIMEOUT", 10*time.Second),
		CacheTTL:        e.duration("CACHE_TTL", 2*time.Second),
		CacheMaxAge:     e.duration("CACHE_MAX_AGE", 10*time.Minute),
		DeleteGrace:     e.duration("TENANT_DELETE_GRACE", 5*time.Second),
		DropLockTimeout: e.duration("DROP_LOCK_TIMEOUT", 3*time.Second),
		ShutdownTimeout: e.duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		RateLimitRPS:    e.number("RATE_LIMIT_RPS", 0),
		RateLimitBurst:  e.integer("RATE_LIMIT_BURST", 0),
		UsageWindow:     e.duration("USAGE_WINDOW", time.Hour),

		Metrics:            e.boolean("METRICS", true),
		MetricsTenantLabel: e.boolean("METRICS_TENANT_LABEL", false),
		MetricsToken:       e.getenv("METRICS_TOKEN"),
		MetricsNamespace:   e.str("METRICS_NAMESPACE", "tenantapi"),
		MetricsService:     e.str("METRICS_SERVICE", "tenantapi"),

		ReadHeaderTimeout: e.duration("READ_HEADER_TIMEOUT", 5*time.Second),
		ReadTimeout:       e.duration("READ_TIMEOUT", 30*time.Second),
		WriteTimeout:      e.duration("WRITE_TIMEOUT", 0),
		IdleTimeout:       e.duration("IDLE_TIMEOUT", 120*time.Second),

		JWKSURL:             e.getenv("JWT_JWKS_URL"),
		JWTIssuer:           e.getenv("JWT_ISSUER"),
		JWTAudience:         e.getenv("JWT_AUDIENCE"),
		JWTLeeway:           e.duration("JWT_LEEWAY", 30*time.Second),
		JWKSRefreshInterval: e.duration("JWKS_REFRESH_INTERVAL", time.Hour),
	}
}

// logger returns the slog logger LOG_LEVEL and LOG_FORMAT ask for: JSON lines
// on stdout by default.
func (e *env) logger(stdout io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.str("LOG_LEVEL", "info"))); err != nil {
		return nil, usagef("LOG_LEVEL=%q is not one of debug, info, warn, error", e.getenv("LOG_LEVEL"))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format := e.str("LOG_FORMAT", "json"); format {
	case "json":
		return slog.New(slog.NewJSONHandler(stdout, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(stdout, opts)), nil
	default:
		return nil, usagef("LOG_FORMAT=%q is not json or text", format)
	}
}

// requestLogger returns log for packages that log during a request (the
// JWKS fetch of a JWT check): their lines carry the request's trace_id,
// as the access and error lines of the request do.
func requestLogger(log *slog.Logger) *slog.Logger {
	return slog.New(traceIDHandler{log.Handler()})
}

// traceIDHandler adds the trace_id of the request of a record's context.
type traceIDHandler struct{ slog.Handler }

func (h traceIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := httpapi.TraceID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceIDHandler) WithGroup(name string) slog.Handler {
	return traceIDHandler{h.Handler.WithGroup(name)}
}

// parseFlags parses a command's flags, which may come before, between or
// after its positional arguments, and returns the positional ones. --help
// prints the usage and stops the command with success (done); a bad flag is
// a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (positional []string, done bool, err error) {
	// The flag package would print the usage itself, to the wrong stream
	// for --help and next to the error exitCode prints for a bad flag.
	fs.SetOutput(io.Discard)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return nil, true, nil
			}
			return nil, false, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return positional, false, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newFlagSet returns a flag set whose usage shows synopsis, then the flags.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
