// Package pgcluster runs a PostgreSQL cluster of its own from the machine's
// PostgreSQL programs, for `tenantapi dev`, for the CLI when no database is
// configured, and for tests.
//
// Under Options.Dir it keeps:
//
//	password      the superuser's password (0600), reused by every later run and by other processes
//	postgres.log  the server's output, appended to at each start
//	pgdata/       the cluster itself, unless the server's user cannot reach Dir (see Open)
//
// The server listens on 127.0.0.1 only, with superuser and database both
// named tenantapi and scram-sha-256 password authentication.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// superuser is the role initdb creates; it owns everything.
	superuser = "tenantapi"
	// database is the database Start creates and URL points at.
	database = "tenantapi"
)

// Options configures a Cluster. The zero value of every field but Dir is a
// usable default.
type Options struct {
	// Dir is the data folder root, for example ./.tenantapi. Required;
	// created by Start if missing.
	Dir string
	// Port is the TCP port on 127.0.0.1. 0 picks a free port at each start,
	// and picks another if a concurrent process takes it first.
	Port int
	// Log receives progress messages meant for a person (initialising,
	// which user runs the server, where the data lives). nil discards them.
	Log io.Writer
	// Ephemeral turns off fsync, synchronous_commit and full_page_writes:
	// much faster, but a crash of the machine may corrupt the cluster. For
	// test clusters only, never for data that is kept.
	Ephemeral bool
	// BinDir holds pg_ctl, initdb and postgres. Empty means FindBinDir.
	BinDir string
}

// Cluster is a local PostgreSQL cluster. Several Cluster values, in one
// process or several, may point at the same Options.Dir: each sees the
// server that another started. Its methods are safe for concurrent use.
type Cluster struct {
	opts    Options
	dir     string // Options.Dir, absolute
	dataDir string
	binDir  string
	account account

	mu       sync.Mutex
	port     int
	password string
	started  bool // the last Start started the server; see StartedServer
}

// Open finds PostgreSQL's programs and decides where the cluster lives. It
// creates nothing and starts nothing; an existing cluster, running or not,
// is picked up as it is.
//
// The cluster lives in Dir/pgdata, except when this process is root: the
// server then runs as an unprivileged user (see serverAccount), and if that
// user cannot reach Dir (a folder on the way, such as /root, denies it), the
// cluster lives in a folder of the temporary directory named after Dir's
// absolute path instead, while the password and the log stay in Dir. Start
// says so through Options.Log, and Remove deletes that folder too. Note
// that t.TempDir and os.MkdirTemp make 0700 folders, which that user cannot
// enter.
func Open(opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is empty")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if missing := missingPrograms(binDir); len(missing) > 0 {
		return nil, fmt.Errorf("pgcluster: %s lacks %s", binDir, strings.Join(missing, ", "))
	}

	acct, dataDir, err := placeCluster(dir)
	if err != nil {
		return nil, err
	}
	if !acct.canReach(binDir) {
		return nil, fmt.Errorf("pgcluster: user %s cannot reach the PostgreSQL programs in %s", acct, binDir)
	}
	c := &Cluster{opts: opts, dir: dir, dataDir: dataDir, binDir: binDir, account: acct}
	c.password, err = readPassword(c.passwordFile())
	if err != nil {
		return nil, err
	}
	c.port = postmasterPort(dataDir)
	return c, nil
}

// placeCluster chooses who runs the server and where its data directory is,
// as Open documents. An existing Dir/pgdata owned by an ordinary user keeps
// that owner, so running once as root does not take a developer's cluster
// away from them.
func placeCluster(dir string) (account, string, error) {
	dataDir := filepath.Join(dir, "pgdata")
	acct, err := serverAccount()
	if err != nil || !acct.dropRoot {
		return acct, dataDir, err
	}
	if owner, ok := ownerAccount(dataDir); ok && owner.canReach(dataDir) {
		return owner, dataDir, nil
	}
	if acct.canReach(dir) {
		return acct, dataDir, nil
	}
	return acct, filepath.Join(fallbackRoot(dir, acct), "pgdata"), nil
}

// DataDir returns the cluster's data directory (PGDATA).
func (c *Cluster) DataDir() string { return c.dataDir }

// LogFile returns the file the server writes its log to.
func (c *Cluster) LogFile() string { return filepath.Join(c.dir, "postgres.log") }

// passwordFile returns where the superuser's password is kept.
func (c *Cluster) passwordFile() string { return filepath.Join(c.dir, "password") }

// URL returns the connection string of the tenantapi database as the
// tenantapi superuser:
// postgres://tenantapi:<password>@127.0.0.1:<port>/tenantapi?sslmode=disable.
// It is meaningful once Start has returned, or Running has reported true.
func (c *Cluster) URL() string { return c.DatabaseURL(database) }

// DatabaseURL is URL for another database of the cluster, such as the
// maintenance database "postgres".
func (c *Cluster) DatabaseURL(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + name,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on, meaningful as URL is.
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// StartedServer reports whether the most recent Start of this Cluster
// started the server itself, rather than finding it running (started by
// another process, another Cluster value or an earlier Start). It is false
// before any Start, and true when Start started the server but failed at a
// later step (creating the database). Whoever started the server is the one
// to Stop it: the others rely on it.
func (c *Cluster) StartedServer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

// Running reports whether a server is up for this data directory, whoever
// started it, according to pg_ctl status. When it is, URL uses the port that
// server listens on.
func (c *Cluster) Running() bool {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.command(ctx, "pg_ctl", "status", "-D", c.dataDir).Run(); err != nil {
		return false
	}
	if port := postmasterPort(c.dataDir); port != 0 {
		c.mu.Lock()
		c.port = port
		c.mu.Unlock()
	}
	return true
}
