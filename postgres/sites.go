package postgres

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantapi/tenantapi"
)

// MainDatabase is the name of the control database as a database tenants
// live in.
const MainDatabase = "main"

// A site is one database tenants live in: its pools, and the names its
// tenant roles and runtime role have there.
type site struct {
	name string
	// owner runs DDL and provisioning; runtime serves tenant requests
	// (owner when no runtime role is configured).
	owner, runtime driver

	rolePrefix  string // of tenant roles; see roles.go
	runtimeRole string // member of every tenant role; "" when the owner serves
}

func (s *site) close() {
	if s.runtime != s.owner {
		s.runtime.Close()
	}
	s.owner.Close()
}

// Database is a database tenants live in other than main: a row of
// public.databases in the control database.
type Database struct {
	Name string
	// URL is the owner's connection string (pgx driver); SecretARN the
	// Secrets Manager secret of the owner's credentials, with ClusterARN
	// for the Data API driver. One of URL and SecretARN is set. URL is
	// read only by a process that has the owner's pool: the runtime role
	// may not read it.
	URL, SecretARN, ClusterARN string
	// Address is where the database is, without credentials:
	// postgres://host:port/dbname.
	Address string
	// Draining stops automatic placement of new tenants here.
	Draining bool
	AddedAt  time.Time // zero for main
	// Tenants is how many tenants live there (filled by Databases).
	Tenants int
}

// Where returns where d is, safe to print: the connection string without
// its password, or the ARNs.
func (d Database) Where() string {
	if d.SecretARN != "" {
		if d.ClusterARN != "" {
			return d.ClusterARN + " " + d.SecretARN
		}
		return d.SecretARN
	}
	return d.Address
}

// Locate returns how to open a database added by its secret (SecretARN
// set): the Config of its pools, as the command reads secrets. A database
// added by connection string needs none: its URL is the owner's and, when
// main has a runtime role, its address with the runtime role's user and
// password (and credentials source) is the runtime pool's; a process
// without the owner's pool (URL unreadable) serves with the runtime role
// alone.
type Locate func(ctx context.Context, d Database) (Config, error)

// sites holds the databases other than main, opened on first use. Reads
// take an atomic snapshot; only opening one takes the lock.
type sites struct {
	db     *DB
	base   Config
	locate Locate

	mu     sync.Mutex // serialises opening
	opened atomic.Pointer[map[string]*site]

	// moved remembers the routes this process corrected (routeKey →
	// movedRoute), so that a tenant's next statements with the same stale
	// route go straight to where it went: a read after a write that was
	// sent on to the target reads the target too, before the change feed
	// refreshes the cached route.
	moved sync.Map
}

// routeKey is a tenant and the database a stale route names.
type routeKey struct {
	uid  int64
	from string
}

// movedRoute is where a corrected route went, and when.
type movedRoute struct {
	to string
	at time.Time
}

// movedRouteTTL bounds how long a correction is used: well past the time
// the change feed takes to refresh every cached route (CACHE_TTL).
const movedRouteTTL = time.Minute

// remember records that t's route to from was corrected to to.
func (ss *sites) remember(uid int64, from, to string) {
	if from == "" {
		from = MainDatabase
	}
	ss.moved.Store(routeKey{uid, from}, movedRoute{to: to, at: time.Now()})
}

// corrected returns t with the database a correction of its route names,
// if there is a fresh one.
func (ss *sites) corrected(t tenantapi.TenantRef) tenantapi.TenantRef {
	from := t.Database
	if from == "" {
		from = MainDatabase
	}
	v, ok := ss.moved.Load(routeKey{t.UID, from})
	if !ok {
		return t
	}
	r := v.(movedRoute)
	if time.Since(r.at) > movedRouteTTL {
		ss.moved.Delete(routeKey{t.UID, from})
		return t
	}
	t.Database = r.to
	return t
}

func (ss *sites) init(db *DB, cfg Config) {
	ss.db, ss.base, ss.locate = db, cfg, cfg.Locate
	ss.opened.Store(&map[string]*site{})
}

// config returns the Config of d's pools.
func (ss *sites) config(ctx context.Context, d Database) (Config, error) {
	if d.SecretARN == "" {
		return ss.byURL(d)
	}
	if ss.locate == nil {
		return Config{}, tenantapi.Errorf(tenantapi.CodeInternal, "database %s is reached through a secret, which this process cannot read", d.Name)
	}
	return ss.locate(ctx, d)
}

// byURL is config for a database added by connection string.
func (ss *sites) byURL(d Database) (Config, error) {
	cfg := ss.base
	cfg.URL, cfg.OwnerCredentials, cfg.RuntimeURL = d.URL, nil, ""
	if ss.db.main.runtimeRole == "" {
		if d.URL == "" {
			return Config{}, tenantapi.Errorf(tenantapi.CodeInternal, "database %s has no connection string", d.Name)
		}
		return cfg, nil
	}
	rt, err := WithAddress(ss.base.RuntimeURL, d.Address)
	if err != nil {
		return Config{}, tenantapi.Errorf(tenantapi.CodeInternal, "database %s: its address does not parse", d.Name)
	}
	cfg.RuntimeURL, cfg.RuntimeRole = rt, ss.db.main.runtimeRole
	if d.URL == "" {
		// Runtime only, as the process is.
		cfg.URL, cfg.OwnerCredentials, cfg.RuntimeURL = rt, ss.base.RuntimeCredentials, ""
	}
	return cfg, nil
}

// WithAddress returns the connection string conn (its user, password and
// parameters) pointed at address's host, port and database instead.
func WithAddress(conn, address string) (string, error) {
	c, err := url.Parse(conn)
	if err != nil {
		return "", err
	}
	a, err := url.Parse(address)
	if err != nil || a.Host == "" {
		return "", errors.New("not a postgres:// address")
	}
	c.Host, c.Path, c.RawPath = a.Host, a.Path, ""
	return c.String(), nil
}

// Address returns a connection string's host, port and database as
// postgres://host:port/dbname, without credentials or parameters.
func Address(conn string) (string, error) {
	u, err := url.Parse(conn)
	if err != nil || u.Host == "" || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("a connection string must be a postgres://user:password@host:port/dbname URL")
	}
	return (&url.URL{Scheme: "postgres", Host: u.Host, Path: u.Path}).String(), nil
}

// site returns the database named name ("" is main), opening its pools on
// first use. An unknown name is CodeInternal: a registry row naming a
// database that public.databases lacks is not the caller's fault.
func (db *DB) site(ctx context.Context, name string) (*site, error) {
	if name == "" || name == MainDatabase {
		return db.main, nil
	}
	if s, ok := (*db.sites.opened.Load())[name]; ok {
		return s, nil
	}
	return db.sites.open(ctx, name)
}

func (ss *sites) open(ctx context.Context, name string) (*site, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	cur := *ss.opened.Load()
	if s, ok := cur[name]; ok {
		return s, nil
	}
	d, err := ss.db.database(ctx, name)
	if err != nil {
		return nil, err
	}
	cfg, err := ss.config(ctx, d)
	if err != nil {
		return nil, err
	}
	s, err := openSite(ctx, name, cfg)
	if err != nil {
		return nil, err
	}
	next := make(map[string]*site, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = s
	ss.opened.Store(&next)
	return s, nil
}

// forget closes and drops the pools of a database, after it was removed.
func (ss *sites) forget(name string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	cur := *ss.opened.Load()
	s, ok := cur[name]
	if !ok {
		return
	}
	next := make(map[string]*site, len(cur))
	for k, v := range cur {
		if k != name {
			next[k] = v
		}
	}
	ss.opened.Store(&next)
	s.close()
}

func (ss *sites) close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if m := ss.opened.Load(); m != nil {
		for _, s := range *m {
			s.close()
		}
	}
}

// allSites returns every database's site, main first, opening the others.
func (db *DB) allSites(ctx context.Context) ([]*site, error) {
	ds, err := db.listDatabases(ctx)
	if err != nil {
		return nil, err
	}
	out := []*site{db.main}
	for _, d := range ds {
		s, err := db.site(ctx, d.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// database reads one row of public.databases.
func (db *DB) database(ctx context.Context, name string) (Database, error) {
	var d Database
	var u, secret, cluster *string
	read := func(url string) error {
		return db.owner.QueryRow(ctx, `SELECT name, `+url+`, address, secret_arn, cluster_arn, draining, added_at
			FROM public.databases WHERE name = $1`, name).Scan(&d.Name, &u, &d.Address, &secret, &cluster, &d.Draining, &d.AddedAt)
	}
	err := read("url")
	if sqlState(err) == sqlInsufficientPrivilege {
		// The runtime role may not read url (it holds the owner's
		// password): a process that has no other role does without it.
		err = read("NULL::text")
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Database{}, tenantapi.Errorf(tenantapi.CodeNotFound, "no database is named %q", name)
	}
	if err != nil {
		return Database{}, translate(err, publicScope)
	}
	d.URL, d.SecretARN, d.ClusterARN = deref(u), deref(secret), deref(cluster)
	d.AddedAt = d.AddedAt.UTC()
	return d, nil
}

// listDatabases returns the rows of public.databases other than main, by
// name, with their tenant counts; none on a control database migrated
// before databases existed.
func (db *DB) listDatabases(ctx context.Context) ([]Database, error) {
	rows, err := db.owner.Query(ctx, `SELECT d.name, d.url, d.address, d.secret_arn, d.cluster_arn, d.draining, d.added_at,
			(SELECT count(*) FROM public.tenants t WHERE t.database = d.name)::int
		FROM public.databases d WHERE d.name <> 'main' ORDER BY d.name`)
	if err != nil {
		if isUndefinedTable(err) {
			return nil, nil
		}
		return nil, translate(err, publicScope)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Database, error) {
		var d Database
		var u, secret, cluster *string
		err := row.Scan(&d.Name, &u, &d.Address, &secret, &cluster, &d.Draining, &d.AddedAt, &d.Tenants)
		d.URL, d.SecretARN, d.ClusterARN = deref(u), deref(secret), deref(cluster)
		d.AddedAt = d.AddedAt.UTC()
		return d, err
	})
	return out, translate(err, publicScope)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// sqlTenantMoved is the SQLSTATE the fence of a moved tenant's source
// schema raises on any write (see move.go): the statement did nothing and
// belongs on the tenant's new database.
const sqlTenantMoved = "TA001"

// staleRoute reports whether err is what a tenant statement meets on a
// database the tenant no longer lives in: no schema or table there, no
// tenant role to switch to (22023, which a statement's own bad value gives
// too: relocate then finds the tenant where it was and nothing is run
// again), or the fence a move leaves on the source. Nothing was done, so
// the statement may run again where the registry now places the tenant.
func staleRoute(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case sqlInvalidSchemaName, sqlUndefinedTable, sqlTenantMoved, sqlInvalidParameterValue:
		return true
	}
	return false
}

// relocateWait bounds how long a statement that met a tenant's old
// database waits for the placement to flip while the tenant is being
// moved: the mover flips it right after fencing the source.
var relocateWait = 2 * time.Second

// placedNow reads where the registry places t now and whether a move of it
// is recorded; ErrTenantNotFound when the registry has no such tenant any
// more (or it is being deleted).
func (db *DB) placedNow(ctx context.Context, t tenantapi.TenantRef) (database string, moving bool, err error) {
	err = db.runtime.QueryRow(ctx, `SELECT t.database, EXISTS (SELECT 1 FROM public.tenant_moves m WHERE m.tenant_uid = t.uid)
		FROM public.tenants t WHERE t.uid = $1 AND t.status <> 'deleting'`, t.UID).Scan(&database, &moving)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, tenantapi.ErrTenantNotFound
	}
	return database, moving, err
}

// sameDatabase reports whether two database names name the same one ("" is
// main).
func sameDatabase(a, b string) bool {
	return a == b || (a == "" && b == MainDatabase) || (a == MainDatabase && b == "")
}

// relocate returns t with the database the registry places it in now, and
// whether that differs from t's; ErrTenantNotFound when the registry has
// no such tenant any more. While a move of the tenant is recorded the flip
// may be a moment away: the registry is read again, every 20 ms, until it
// flips, relocateWait passes or ctx ends; then moving says the move is
// still recorded.
func (db *DB) relocate(ctx context.Context, t tenantapi.TenantRef) (_ tenantapi.TenantRef, moved, moving bool, err error) {
	deadline := time.Now().Add(relocateWait)
	for {
		now, moving, err := db.placedNow(ctx, t)
		switch {
		case errors.Is(err, tenantapi.ErrTenantNotFound):
			return t, false, false, err
		case err != nil:
			return t, false, false, nil
		case !sameDatabase(now, t.Database):
			t.Database = now
			return t, true, moving, nil
		case !moving || time.Now().After(deadline):
			return t, false, moving, nil
		}
		select {
		case <-ctx.Done():
			return t, false, moving, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// heldWrite is routed for a statement of a tenant being moved that did not
// get its lock in movingLockTimeout: the move's write hold, most likely
// (or a concurrent write of the same row). It waits without a connection,
// then runs the statement again: on the target once the placement flips,
// else where it was, every 25 ms until relocateWait passes (then err, a
// 503: the hold lasted too long).
func (db *DB) heldWrite(ctx context.Context, s *site, t tenantapi.TenantRef, cached string, fn func(*site, tenantapi.TenantRef) error, err error) error {
	deadline := time.Now().Add(relocateWait)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(25 * time.Millisecond):
		}
		if now, _, e := db.placedNow(ctx, t); e == nil && !sameDatabase(now, t.Database) {
			moved := t
			moved.Database = now
			ns, e := db.site(ctx, now)
			if e != nil {
				return e
			}
			db.sites.remember(t.UID, cached, now)
			return fn(ns, moved)
		}
		if err = fn(s, t); sqlState(err) != sqlLockNotAvailable {
			// Done, or it met the fence (the flip is a moment away):
			// routed sends it on.
			if staleRoute(err) {
				return db.routed(ctx, t, fn)
			}
			return err
		}
	}
	return err
}

// routed runs fn, a tenant statement of t that returns the driver's error
// untranslated, on t's database and, when it met a stale route (the tenant
// moved; see staleRoute), once more on the database the registry places
// the tenant in now. Every tenant statement goes through it, so a cached
// placement that a move made stale costs one retry, never an error.
func (db *DB) routed(ctx context.Context, t tenantapi.TenantRef, fn func(*site, tenantapi.TenantRef) error) error {
	cached := t.Database
	t = db.sites.corrected(t)
	s, err := db.site(ctx, t.Database)
	if err == nil {
		err = fn(s, t)
		if t.Moving && sqlState(err) == sqlLockNotAvailable {
			return db.heldWrite(ctx, s, t, cached, fn, err)
		}
		if !staleRoute(err) {
			return err
		}
	}
	// A stale route: the tenant moved, or the database the route names
	// was removed (after every tenant moved out of it).
	moved, ok, moving, rerr := db.relocate(ctx, t)
	switch {
	case rerr != nil:
		return rerr
	case !ok && moving:
		// Fenced, and the flip did not come in time (its mover died?):
		// the tenant is not gone, it is moving.
		return tenantapi.Wrap(tenantapi.CodeUnavailable, err, tenantapi.ErrTenantMoving.Detail)
	case !ok:
		return err
	}
	ns, err := db.site(ctx, moved.Database)
	if err != nil {
		return err
	}
	db.sites.remember(t.UID, cached, moved.Database)
	return fn(ns, moved)
}
