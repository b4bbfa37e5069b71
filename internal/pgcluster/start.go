package pgcluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// startAttempts bounds how often Start picks another free port after losing
// a race for one to a concurrent process.
const startAttempts = 8

// Start makes the server run: on first use it creates the cluster (initdb)
// and its password, then starts the server with pg_ctl and waits until it
// accepts connections, and finally creates the tenantapi database if it is
// missing. When the server already runs, started by this or another
// process, Start only learns its port. Errors say which step failed and
// include the end of initdb's output or of the server log.
//
// The server outlives this process; Stop ends it. If ctx ends while pg_ctl
// waits, the server may still come up. StartedServer tells afterwards
// whether this call started it.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	c.started = false
	c.mu.Unlock()
	if err := c.loadOrCreatePassword(); err != nil {
		return err
	}
	if c.Running() {
		return c.ensureDatabase(ctx)
	}
	initialised, err := c.prepareFolders()
	if err != nil {
		return err
	}
	if filepath.Dir(c.dataDir) != c.dir {
		c.logf("user %s cannot reach %s; keeping the cluster in %s", c.account, c.dir, c.dataDir)
	}
	if !initialised {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}
	if err := c.startServer(ctx); err != nil {
		// Losing a race with another process starting the same cluster is fine.
		if c.Running() {
			return c.ensureDatabase(ctx)
		}
		return err
	}
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	return c.ensureDatabase(ctx)
}

// loadOrCreatePassword makes sure the superuser's password is known: read
// from the password file, or newly made when there is no cluster yet. A
// cluster without its password file cannot be logged into, so that is an
// error that says how to start over.
func (c *Cluster) loadOrCreatePassword() error {
	password, err := readPassword(c.passwordFile())
	if err != nil {
		return err
	}
	if password == "" {
		if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
			return fmt.Errorf("pgcluster: the cluster in %s exists but its password file %s is missing; remove %s to start over", c.dataDir, c.passwordFile(), c.dataDir)
		}
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if password, err = createPassword(c.passwordFile()); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.password = password
	c.mu.Unlock()
	return nil
}

// initdb creates the cluster in the (empty) data directory. The password
// reaches initdb through a file the account can read, removed right after;
// the kept password file stays ours alone.
func (c *Cluster) initdb(ctx context.Context) error {
	c.logf("initialising PostgreSQL cluster in %s", c.dataDir)
	pwfile, err := os.CreateTemp(filepath.Dir(c.dataDir), ".pwfile-*")
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer os.Remove(pwfile.Name())
	c.mu.Lock()
	_, err = io.WriteString(pwfile, c.password+"\n")
	c.mu.Unlock()
	if cerr := pwfile.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.account.give(pwfile.Name(), false)
	}
	if err != nil {
		return fmt.Errorf("pgcluster: writing initdb's password file: %w", err)
	}

	args := []string{
		"-D", c.dataDir,
		"-U", superuser,
		"--auth=scram-sha-256",
		"--pwfile=" + pwfile.Name(),
		"-E", "UTF8",
		"--locale=C",
	}
	if c.opts.Ephemeral {
		args = append(args, "--no-sync")
	}
	out, err := c.command(ctx, "initdb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: initdb in %s failed: %w\n%s", c.dataDir, err, lastLines(out, 20))
	}
	return nil
}

// startServer runs pg_ctl start and waits for the server to accept
// connections. The server's output goes to the log file, opened here and
// inherited, so the account needs no right to write in Dir.
func (c *Cluster) startServer(ctx context.Context) error {
	if c.account.dropRoot {
		c.logf("running PostgreSQL as user %s (it refuses to run as root)", c.account)
	}
	log, err := os.OpenFile(c.LogFile(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer log.Close()

	for attempt := 1; ; attempt++ {
		port := c.opts.Port
		if port == 0 {
			if port, err = FreePort(); err != nil {
				return fmt.Errorf("pgcluster: finding a free port: %w", err)
			}
		}
		fi, err := log.Stat()
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		cmd := c.command(ctx, "pg_ctl", "start", "-w", "-t", "120", "-D", c.dataDir, "-o", c.serverOptions(port))
		cmd.Stdout, cmd.Stderr = log, log
		err = cmd.Run()
		if err == nil {
			c.mu.Lock()
			c.port = port
			c.mu.Unlock()
			c.logf("PostgreSQL listens on 127.0.0.1:%d (log: %s)", port, c.LogFile())
			return nil
		}
		output := c.logSince(fi.Size())
		if c.opts.Port == 0 && attempt < startAttempts && portTaken(output) {
			continue
		}
		return fmt.Errorf("pgcluster: starting PostgreSQL failed: %w; end of %s:\n%s", err, c.LogFile(), output)
	}
}

// serverOptions returns the postgres command line for pg_ctl -o, which
// passes it through a shell: hence the quoted empty socket list. No Unix
// socket at all, because a path inside a deep temporary folder can exceed
// the kernel's limit and nothing here needs one.
//
// Every server is ready to be the source or the target of a tenant move
// (logical replication): wal_level=logical, with slots, WAL senders and
// workers for several moves at once.
func (c *Cluster) serverOptions(port int) string {
	settings := []string{
		"listen_addresses=127.0.0.1",
		fmt.Sprintf("port=%d", port),
		"unix_socket_directories=''",
		"max_connections=200",
		"wal_level=logical",
		"max_replication_slots=20",
		"max_wal_senders=20",
		"max_logical_replication_workers=8",
		"max_worker_processes=16",
		"max_sync_workers_per_subscription=2",
		// A move's write hold is a prepared transaction.
		"max_prepared_transactions=20",
	}
	if c.opts.Ephemeral {
		settings = append(settings, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	}
	return "-c " + strings.Join(settings, " -c ")
}

// logSince returns the end of what the server log gained past offset: the
// output of one start attempt, not of earlier runs.
func (c *Cluster) logSince(offset int64) string {
	f, err := os.Open(c.LogFile())
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, offset, 1<<20))
	if err != nil {
		return ""
	}
	return lastLines(b, 20)
}
