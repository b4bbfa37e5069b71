// Package postgres implements the stores of package tenantapi on PostgreSQL
// with pgx. It is the only package that imports the driver; every error it
// returns is a *tenantapi.Error.
//
// Shared tables live in the public schema and each tenant's tables in its own
// schema, tenant_<id>. All SQL names its schema explicitly: connections run
// with an empty search_path and nothing changes session state that a later
// statement would see, so a pooled connection (or PgBouncer, or RDS Proxy)
// can serve any tenant next. The one thing a connection keeps is its
// prepared statements, within a budget (prepared.go).
package postgres

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantapi/tenantapi"
)

// Config says how to reach the database.
type Config struct {
	// URL is the owner's connection string: migrations, provisioning and
	// the admin API use it. Required.
	URL string
	// RuntimeURL is the connection string of the least-privilege role that
	// serves tenant requests. "" means the owner serves them too.
	RuntimeURL string
	// MaxConns caps each pool; 0 keeps pgxpool's default
	// (max(4, number of CPUs)).
	MaxConns int32
	// ExecMode is how statements are sent: "exec" (the default, "" too),
	// "cache_describe" or "cache_statement". Only "cache_statement" creates
	// server-side prepared statements, which thrash with per-tenant SQL
	// and pin sessions behind RDS Proxy; the others are safe behind any
	// pooler.
	ExecMode string
	// MaxConnLifetime recycles connections after this long (0 keeps
	// pgxpool's default of one hour). Each backend caches the catalog of
	// every relation it has touched, and with many tenants that only stops
	// growing when the connection closes. A tenth of it is added as jitter
	// so a pool does not reconnect all at once.
	MaxConnLifetime time.Duration
	// MaxConnIdleTime closes connections idle this long (0 keeps pgxpool's
	// default of 30 minutes).
	MaxConnIdleTime time.Duration
	// OwnerCredentials and RuntimeCredentials, when set, supply the user
	// and password of each new connection of that pool, overriding the
	// connection string's; on an authentication failure they are asked for
	// fresh ones and the call is retried once.
	OwnerCredentials, RuntimeCredentials Credentials
	// RuntimeRole names the runtime role, so that provisioning can make it
	// a member of each tenant's role. "" takes the user of RuntimeURL.
	RuntimeRole string
	// PreparedStatements is how many server-side prepared statements each
	// connection of the pool that serves tenant requests keeps (see
	// prepared.go); 0 prepares none. Set 0 behind a transaction-mode
	// pooler that does not keep them (PgBouncer before 1.21) and behind
	// RDS Proxy, which pins a session that prepares.
	PreparedStatements int
	// TenantConns routes tenants: the runtime pool is split into groups of
	// this many connections and each tenant's statements use its group
	// only (see routes.go). 0, or not less than MaxConns, uses every
	// connection for every tenant. It applies to a runtime pool of its
	// own (RuntimeURL set).
	TenantConns int
	// Notice, when set, is told what an operator should know and no
	// statement fails for (a pooler found to drop prepared statements).
	Notice func(msg string)
	// TenantRoles runs every tenant statement as the tenant's own role, so
	// PostgreSQL refuses any statement that reaches another tenant's schema
	// (see roles.go). It costs a pipelined set_config per statement.
	TenantRoles bool
	// TracerProvider, when set, gets a client span for every statement and
	// pipelined batch; nil makes none.
	TracerProvider trace.TracerProvider
	// DataAPI, when set, reaches the database through the RDS Data API
	// instead of connections (SPEC §11); URL and RuntimeURL are then
	// unused, and so are the pool settings.
	DataAPI *DataAPI
	// ApplicationSet is the tenant migrations of the deployment, as
	// LoadMigrations returns them; nil means the built-in set (items).
	// Migrators made with NewMigrator apply it.
	ApplicationSet []Migration
	// Locate says how to open the databases other than main that
	// public.databases lists; nil opens those with a connection string,
	// as Locate's doc says.
	Locate Locate
}

// DB holds the connection pools: those of the control database, which
// holds the registry, keys and config and is itself the database "main",
// and, opened on first use, those of every other database tenants live in
// (see sites.go). It is safe for concurrent use.
type DB struct {
	// owner and runtime are the control database's pools: every registry
	// statement uses them. runtime serves tenant requests; it is owner
	// when no runtime role is configured.
	owner, runtime driver
	// main is the control database as a database tenants live in.
	main *site

	tenantRoles bool
	app         []Migration // the application set
	// rowChunk, when not 0, is how many characters of a row's JSON one
	// row of an answer holds (the Data API refuses rows over 64 KB).
	rowChunk int

	sites sites // the other databases
}

// Open creates the pools described by cfg. It does not connect: a database
// that is resuming or briefly unreachable must not stop the process from
// starting. It returns a CodeInternal error for an invalid configuration,
// an empty URL included.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.DataAPI != nil {
		return openDataAPI(cfg)
	}
	s, err := openSite(ctx, MainDatabase, cfg)
	if err != nil {
		return nil, err
	}
	return newDB(s, cfg, 0), nil
}

// newDB returns a DB whose control database is s.
func newDB(s *site, cfg Config, rowChunk int) *DB {
	db := &DB{owner: s.owner, runtime: s.runtime, main: s, tenantRoles: cfg.TenantRoles,
		app: cfg.ApplicationSet, rowChunk: rowChunk}
	if db.app == nil {
		db.app = builtinMigrations
	}
	db.sites.init(db, cfg)
	return db
}

// openSite opens the pools of one database as cfg describes it.
func openSite(ctx context.Context, name string, cfg Config) (*site, error) {
	if cfg.DataAPI != nil {
		return openDataAPISite(name, cfg)
	}
	if cfg.URL == "" {
		// pgx would fall back to PGHOST and friends, or to a local socket:
		// a surprising database to migrate.
		return nil, tenantapi.Errorf(tenantapi.CodeInternal, "no database connection string")
	}
	mode, err := parseExecMode(cfg.ExecMode)
	if err != nil {
		return nil, err
	}
	// The owner's pool keeps a budget of prepared statements only when it
	// serves tenant requests too.
	oc := cfg
	if cfg.RuntimeURL != "" {
		oc.PreparedStatements = 0
	}
	owner, err := newPool(ctx, cfg.URL, cfg.OwnerCredentials, oc, mode)
	if err != nil {
		return nil, err
	}
	s := &site{name: name, owner: owner, runtime: owner, rolePrefix: rolePrefix(owner.database())}
	if cfg.RuntimeURL != "" {
		s.runtime, err = newRuntimePool(ctx, cfg, mode)
		if err != nil {
			owner.Close()
			return nil, err
		}
		s.runtimeRole = cfg.RuntimeRole
		if s.runtimeRole == "" {
			s.runtimeRole = s.runtime.user()
		}
	}
	return s, nil
}

// openDataAPI is Open with the Data API driver.
func openDataAPI(cfg Config) (*DB, error) {
	s, err := openDataAPISite(MainDatabase, cfg)
	if err != nil {
		return nil, err
	}
	return newDB(s, cfg, dataAPIRowChunk), nil
}

// openDataAPISite opens a database through the Data API: one driver for
// the owner's secret and, when there is a runtime secret, one for the
// runtime role.
func openDataAPISite(name string, cfg Config) (*site, error) {
	a := cfg.DataAPI
	if a.Client == nil || a.ClusterARN == "" || a.OwnerSecretARN == "" || a.Database == "" {
		return nil, tenantapi.Errorf(tenantapi.CodeInternal, "the Data API needs a cluster ARN, a secret ARN and a database name")
	}
	owner := &dataAPI{c: a.Client, cluster: a.ClusterARN, secret: a.OwnerSecretARN, db: a.Database, u: a.OwnerUser}
	s := &site{name: name, owner: owner, runtime: owner, rolePrefix: rolePrefix(a.Database)}
	if a.RuntimeSecretARN != "" {
		s.runtime = &dataAPI{c: a.Client, cluster: a.ClusterARN, secret: a.RuntimeSecretARN, db: a.Database, u: a.RuntimeUser}
		s.runtimeRole = cmp.Or(cfg.RuntimeRole, a.RuntimeUser)
	}
	return s, nil
}

// DefaultConnectTimeout bounds establishing a connection (TCP, TLS,
// authentication) when the connection string sets no connect_timeout, so
// that a database that stops answering without refusing costs each pool
// slot a bounded wait and the pool recovers soon after it returns.
const DefaultConnectTimeout = 3 * time.Second

func newPool(ctx context.Context, url string, creds Credentials, cfg Config, mode pgx.QueryExecMode) (*pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn masks the password in this message.
		return nil, tenantapi.Wrap(tenantapi.CodeInternal, err, "invalid database connection string")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.MaxConnLifetime > 0 {
		pc.MaxConnLifetime = cfg.MaxConnLifetime
		pc.MaxConnLifetimeJitter = cfg.MaxConnLifetime / 10
	}
	if cfg.MaxConnIdleTime > 0 {
		pc.MaxConnIdleTime = cfg.MaxConnIdleTime
	}
	cc := pc.ConnConfig
	cc.DefaultQueryExecMode = mode
	qt := queryTracer{}
	if cfg.TracerProvider != nil {
		qt.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	cc.Tracer = qt
	// The pool finishes a connection attempt in the background after the
	// request that started it gives up. One that gets no answer (a host
	// that died, a partition) would wait as long as TCP does, holding a
	// pool slot all along: bound it unless the connection string does
	// (connect_timeout, or PGCONNECT_TIMEOUT).
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = DefaultConnectTimeout
	}
	// An empty search_path makes any unqualified name fail loudly instead
	// of silently reading public or whatever an earlier session chose. It
	// is a start-up parameter, not a SET, so poolers see no session state.
	cc.RuntimeParams["search_path"] = ""
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "tenantapi"
	}
	p := &pool{creds: creds, prep: newPreparer(cfg.PreparedStatements, cfg.Notice)}
	if creds != nil {
		pc.BeforeConnect = p.beforeConnect
	}
	if p.prep != nil {
		pc.BeforeClose = p.prep.closed
	}

	if p.Pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, tenantapi.Wrap(tenantapi.CodeInternal, err, "invalid database configuration")
	}
	return p, nil
}

func parseExecMode(s string) (pgx.QueryExecMode, error) {
	switch s {
	case "", "exec":
		return pgx.QueryExecModeExec, nil
	case "cache_describe":
		return pgx.QueryExecModeCacheDescribe, nil
	case "cache_statement":
		return pgx.QueryExecModeCacheStatement, nil
	}
	return 0, tenantapi.Errorf(tenantapi.CodeInternal, "unknown database exec mode %q (want exec, cache_describe or cache_statement)", s)
}

// Close closes the pools, waiting for connections in use to be returned.
func (db *DB) Close() {
	db.sites.close()
	db.main.close()
}

// Ping checks that both pools can reach the database. It returns a
// CodeUnavailable error when they cannot.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.owner.Ping(ctx); err != nil {
		return translate(err, publicScope)
	}
	if db.runtime != db.owner {
		if err := db.runtime.Ping(ctx); err != nil {
			return translate(err, publicScope)
		}
	}
	return nil
}

// Ready returns nil when the database answers and the public schema is at
// the version this binary embeds, and a CodeUnavailable error otherwise. It
// never looks at tenant schemas: one failed tenant must not take the service
// out.
func (db *DB) Ready(ctx context.Context) error {
	v, err := db.PublicVersion(ctx)
	if err != nil {
		return err
	}
	if want := LatestPublicVersion(); v != want {
		return tenantapi.Errorf(tenantapi.CodeUnavailable, "database schema is at version %d, this binary needs %d", v, want)
	}
	if db.runtime != db.owner {
		if err := db.runtime.Ping(ctx); err != nil {
			return translate(err, publicScope)
		}
	}
	return nil
}

// PublicVersion returns the highest public migration applied, 0 for a
// database never migrated. It returns CodeUnavailable when the database
// cannot be reached.
func (db *DB) PublicVersion(ctx context.Context) (int, error) {
	var v int
	err := db.owner.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM public.schema_migrations`).Scan(&v)
	if isUndefinedTable(err) {
		return 0, nil
	}
	return v, translate(err, publicScope)
}

// inTx runs fn in a transaction of d and commits when fn returns nil. The
// error it returns is fn's or the driver's, untranslated.
func inTx(ctx context.Context, d driver, fn func(pgx.Tx) error) error {
	tx, err := d.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		// Roll back on a context of its own: ctx may be why fn failed, and
		// the original error is the one worth returning.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
