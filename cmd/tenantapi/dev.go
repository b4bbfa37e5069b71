package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/httpapi"
	"github.com/tenantapi/tenantapi/postgres"
)

// demoTenant is the tenant dev makes sure exists, and devKeyName the name of
// the key it issues anew at every start.
const (
	demoTenant = tenantapi.TenantID("demo")
	devKeyName = "dev"
)

func cmdDev(ctx context.Context, env *env, args []string, stdout, stderr io.Writer) error {
	cfg := env.server()
	dbc := env.db()
	cfg.Host = "127.0.0.1"
	fs := newFlagSet("dev", "tenantapi dev [flags]\n\nRuns the service on 127.0.0.1 with its own PostgreSQL (kept under --dir),\na demo tenant, a fresh demo API key and an admin token, and prints curl\ncommands to try it. Ctrl-C stops both (PostgreSQL only if this dev started\nit). One dev at a time per --dir.\n\nWith --databases N it runs N-1 more PostgreSQL servers, in --dir/db2 …\n--dir/dbN, and adds them as the databases db2 … dbN that tenants can be\nplaced in (tenants create ID --database db2) and moved between. Each keeps\nthe port of its first start, since the registry records its address.\n")
	fs.IntVar(&cfg.Port, "port", cfg.Port, "port to listen on ($PORT)")
	fs.StringVar(&dbc.DataDir, "dir", dbc.DataDir, "data folder of the embedded PostgreSQL ($TENANTAPI_DIR)")
	databases := fs.Int("databases", 1, fmt.Sprintf("run `N` databases, 1 to %d: main in --dir, and db2 … dbN, each a PostgreSQL of its own in --dir/dbN", maxDevDatabases))
	fs.StringVar(&cfg.AuthMode, "auth-mode", cfg.AuthMode, "apikey, jwt or none ($AUTH_MODE)")
	migrationsFlag(fs, &dbc)
	if _, done, err := parseFlags(fs, args, stdout, stderr); done || err != nil {
		return err
	}
	if *databases < 1 || *databases > maxDevDatabases {
		return usagef("--databases takes 1 to %d, not %d", maxDevDatabases, *databases)
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
	if cfg.AuthMode == httpapi.AuthGateway {
		return usagef("AUTH_MODE=gateway trusts API Gateway's authorizer and works only on AWS Lambda")
	}
	if _, err := newVerifier(cfg, log); err != nil {
		return err
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = randomToken()
	}

	set, err := dbc.applicationSet()
	if err != nil {
		return err
	}
	// The folder first, then the port, then PostgreSQL and the keys: a dev
	// that cannot serve gives up before it changes anything.
	lock, err := lockDevFolder(ctx, dbc.DataDir, stderr)
	if err != nil || lock == nil {
		return err
	}
	defer lock.unlock()
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is already in use; stop what listens there, or pick another port with --port", addr)
	} else if err != nil {
		return err
	}
	defer ln.Close()
	holder := lockHolder{role: "dev", url: "http://" + ln.Addr().String()}
	lock.record(holder)

	// The other databases' folders are locked as the data folder is, and
	// their servers start first: each keeps its port, which main's, taking
	// any free one, then cannot take from it.
	servers := []*devServer{{name: postgres.MainDatabase, dir: dbc.DataDir, lock: lock}}
	for i := 2; i <= *databases; i++ {
		s := &devServer{name: devDatabaseName(i), dir: filepath.Join(dbc.DataDir, devDatabaseName(i))}
		if s.lock, err = lockDevFolder(ctx, s.dir, stderr); err != nil || s.lock == nil {
			return err
		}
		defer s.lock.unlock()
		s.lock.record(holder)
		servers = append(servers, s)
	}
	for _, s := range append(slices.Clone(servers[1:]), servers[0]) {
		stop, err := s.start(ctx, holder, stderr)
		defer stop()
		if err != nil {
			return err
		}
	}
	cluster := servers[0].cluster
	ownsPostgres := servers[0].owns
	dbc.URL = cluster.URL()
	db, err := postgres.Open(ctx, dbc.pools(postgres.Config{URL: dbc.URL, RuntimeURL: dbc.RuntimeURL, ApplicationSet: set}))
	if err != nil {
		return err
	}
	defer db.Close()

	m := postgres.NewMigrator(db)
	if _, err := m.MigratePublic(ctx); err != nil {
		return fmt.Errorf("migrating public: %w", err)
	}
	report, err := m.MigrateTenants(ctx, postgres.MigrateOptions{})
	if err != nil {
		return fmt.Errorf("migrating tenants: %w", err)
	}
	for _, f := range report.Failed {
		fmt.Fprintf(stderr, "tenantapi: tenant %s failed to migrate: %v\n", f.Tenant, f.Err)
	}
	databaseLines, err := addDevDatabases(ctx, db, servers, stderr)
	if err != nil {
		return err
	}
	key, err := ensureDemo(ctx, db)
	if err != nil {
		return err
	}
	cfg.startupMigration = &report
	return serveListener(ctx, cfg, db, log, ln, func(addr string) {
		printBanner(stderr, addr, cfg.AuthMode, key, cfg.AdminToken, ownsPostgres, databaseLines)
	})
}

// lockDevFolder takes the data folder's lock for a dev (see folderLock).
// When another dev holds it, the error names that dev. A process stopping
// the PostgreSQL it started, or a holder that has not said who it is yet,
// is waited for, up to a minute. It returns nil, nil when ctx ends while it
// waits.
func lockDevFolder(ctx context.Context, dir string, stderr io.Writer) (*folderLock, error) {
	deadline := time.Now().Add(time.Minute)
	waiting := false
	for {
		lock, err := lockFolder(dir, "dev")
		var locked *folderLockedError
		if !errors.As(err, &locked) {
			return lock, err
		}
		if h := locked.holder; (h.role == "dev" && processAlive(h.pid)) || time.Now().After(deadline) {
			return nil, err
		}
		if !waiting {
			fmt.Fprintf(stderr, "tenantapi: waiting for another tenantapi process to let go of %s\n", displayDir(dir))
			waiting = true
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureDemo makes sure the demo tenant exists and returns a new key for it,
// revoking the key the previous start issued.
func ensureDemo(ctx context.Context, db *postgres.DB) (string, error) {
	tenants := postgres.NewTenantStore(db, postgres.NewMigrator(db))
	if _, err := tenants.Tenant(ctx, demoTenant); errors.Is(err, tenantapi.ErrTenantNotFound) {
		if _, err := tenants.CreateTenant(ctx, demoTenant, "Demo"); err != nil && !errors.Is(err, tenantapi.ErrTenantExists) {
			return "", fmt.Errorf("creating the demo tenant: %w", err)
		}
	} else if err != nil {
		return "", err
	}
	keys := postgres.NewKeyStore(db)
	if _, err := keys.RevokeKeysNamed(ctx, demoTenant, devKeyName); err != nil {
		return "", err
	}
	_, key, err := keys.CreateKey(ctx, demoTenant, devKeyName, nil)
	return key, err
}

// randomToken returns a fresh 43-character admin token.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// printBanner shows how to call the running service, the databases (one
// line each, as addDevDatabases makes them), and what Ctrl-C stops:
// PostgreSQL too when ownsPostgres.
func printBanner(w io.Writer, addr, authMode, key, adminToken string, ownsPostgres bool, databases []string) {
	base := "http://" + addr
	auth := fmt.Sprintf(" -H 'Authorization: Bearer %s'", key)
	switch authMode {
	case httpapi.AuthNone:
		auth = ""
	case httpapi.AuthJWT:
		// The demo key opens nothing in this mode: tenant requests carry a
		// token from the configured issuer.
		auth = " -H 'Authorization: Bearer <a JWT from JWT_ISSUER for tenant demo>'"
	}
	var dbs strings.Builder
	for _, line := range databases {
		dbs.WriteString("  " + line + "\n")
	}
	stops := "Ctrl-C stops the service and PostgreSQL."
	if !ownsPostgres {
		stops = "Ctrl-C stops the service; PostgreSQL, which was already running, keeps running."
	}
	fmt.Fprintf(w, `
tenantapi dev is running on %[1]s (auth mode %[2]s)

  demo tenant:   demo
  demo API key:  %[3]s   (a new one at every start)
  admin token:   %[4]s
%[7]s
Try it:

  curl -s -X POST %[1]s/items -H 'X-Tenant-ID: demo'%[5]s \
       -H 'Content-Type: application/json' -d '{"name":"Widget","attributes":{"color":"red"}}'
  curl -s %[1]s/items -H 'X-Tenant-ID: demo'%[5]s
  curl -s %[1]s/admin/tenants -H 'Authorization: Bearer %[4]s'
  open %[1]s/docs for the API reference

%[6]s

`, base, authMode, key, adminToken, auth, stops, dbs.String())
}
