// Package pgbouncer runs a PgBouncer of its own in front of a PostgreSQL
// server, for tests that must show the service stays correct behind a
// transaction pooler.
//
//	b := pgbouncer.New(t, pgbouncer.Options{
//		Host: "127.0.0.1", Port: 5432,
//		Users: map[string]string{"tenantapi": password},
//	})
//	url := b.URL("tenantapi", password, "tenantapi")
//
// It writes a configuration and an auth file into a temporary folder,
// starts the machine's pgbouncer on a free port of 127.0.0.1 and waits until
// it accepts connections. PgBouncer refuses to run as root, so when this
// process is root it runs as the postgres user (or nobody), like pgcluster
// runs PostgreSQL. The scripts/ensure-pgbouncer.sh script (make tools)
// installs it.
package pgbouncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// Options describes the server PgBouncer sits in front of and its pool. The
// zero value of every field but Host, Port and Users is a usable default.
type Options struct {
	// Host and Port are the PostgreSQL server's; every database name a
	// client asks for is passed on to it (a "*" entry).
	Host string
	Port int
	// Users maps every role that may log in through PgBouncer to its
	// password. PgBouncer checks clients against it (SCRAM-SHA-256) and logs
	// in to the server with the same password.
	Users map[string]string
	// PoolMode is "transaction" when empty.
	PoolMode string
	// PoolSize is default_pool_size, the number of server connections per
	// database and user: 3 when 0, so that many clients share few of them.
	PoolSize int
	// MaxClientConn is max_client_conn: 200 when 0.
	MaxClientConn int
	// Settings are more [pgbouncer] settings, overriding the ones Start
	// writes (see Config).
	Settings map[string]string
}

// Bouncer is a running PgBouncer. Stop ends it.
type Bouncer struct {
	port    int
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // cmd.Wait's result, set before exited closes
	out     *tailBuffer

	stopOnce sync.Once
	stopErr  error
}

// startAttempts bounds how often Start picks another free port after losing
// one to another process.
const startAttempts = 5

// Find returns the path of the pgbouncer program: on $PATH or in /usr/sbin
// (Debian's package puts it there, off an ordinary user's $PATH).
func Find() (string, error) {
	if path, err := exec.LookPath("pgbouncer"); err == nil {
		return path, nil
	}
	for _, path := range []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer", "/opt/homebrew/bin/pgbouncer"} {
		if fi, err := os.Stat(path); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
			return path, nil
		}
	}
	return "", errors.New("pgbouncer: the pgbouncer program is not on $PATH nor in /usr/sbin; install it (make tools, or apt-get install pgbouncer, or brew install pgbouncer)")
}

// Version returns the first line of `pgbouncer --version`, such as
// "PgBouncer 1.18.0".
func Version() (string, error) {
	path, err := Find()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("pgbouncer: %s --version: %w", path, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}

// New starts a PgBouncer for the test and stops it when the test ends. It
// fails the test when PgBouncer is missing or does not start.
func New(t testing.TB, opts Options) *Bouncer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return b
}

// Start writes PgBouncer's files into a new temporary folder, starts it on
// a free port of 127.0.0.1 and waits until it accepts connections. The
// process gets SIGKILL if this one dies first (on Linux).
func Start(ctx context.Context, opts Options) (*Bouncer, error) {
	if opts.Host == "" || opts.Port == 0 {
		return nil, errors.New("pgbouncer: Options.Host and Options.Port name the PostgreSQL server; both are required")
	}
	if len(opts.Users) == 0 {
		return nil, errors.New("pgbouncer: Options.Users is empty; nobody could log in")
	}
	path, err := Find()
	if err != nil {
		return nil, err
	}
	acct, err := runAccount()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(acct.tempRoot(), "tenantapi-pgbouncer-")
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: %w", err)
	}
	authFile := filepath.Join(dir, "userlist.txt")
	if err := writeFile(authFile, authFileContent(opts.Users), acct); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := acct.give(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}

	var lastErr error
	for range startAttempts {
		port, err := pgcluster.FreePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgbouncer: finding a free port: %w", err)
		}
		b, err := start(ctx, path, dir, port, Config(opts, port, authFile), acct)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

// start runs pgbouncer once with ini on port and waits for it to listen.
func start(ctx context.Context, path, dir string, port int, ini string, acct account) (*Bouncer, error) {
	iniFile := filepath.Join(dir, "pgbouncer.ini")
	if err := writeFile(iniFile, ini, acct); err != nil {
		return nil, err
	}
	b := &Bouncer{port: port, dir: dir, exited: make(chan struct{}), out: &tailBuffer{max: 64 << 10}}
	// Not exec.CommandContext: the process must outlive ctx, which only
	// bounds the wait for it to start.
	b.cmd = exec.Command(path, iniFile)
	b.cmd.Dir = dir
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	b.cmd.SysProcAttr = acct.sysProcAttr()
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgbouncer: starting %s: %w", path, err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		select {
		case <-b.exited:
			out := b.out.String()
			err := fmt.Errorf("pgbouncer: %s exited before accepting connections (%v); its output:\n%s", path, b.waitErr, lastLines(out, 20))
			if strings.Contains(out, "Address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return nil, err
		default:
		}
		d := net.Dialer{Timeout: time.Second}
		if conn, err := d.DialContext(ctx, "tcp", addr); err == nil {
			conn.Close()
			return b, nil
		}
		select {
		case <-ctx.Done():
			b.kill()
			return nil, fmt.Errorf("pgbouncer: not accepting connections on %s: %w; its output:\n%s", addr, ctx.Err(), lastLines(b.out.String(), 20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Config returns the pgbouncer.ini that Start writes for opts, PgBouncer
// listening on port and reading its users from authFile. Its [pgbouncer]
// section holds what a deployment of tenantapi behind PgBouncer needs:
//
//	pool_mode = transaction
//	ignore_startup_parameters = extra_float_digits,search_path
//
// tenantapi sends search_path (empty) as a start-up parameter, which
// PgBouncer refuses unless told to ignore it; it then does not pass it on
// (PgBouncer 1.20+ can, with track_extra_parameters = search_path), so the
// server's default applies. Set the empty search_path on the runtime role
// instead:
//
//	ALTER ROLE <runtime role> SET search_path = '';
//
// application_name is one PgBouncer tracks itself. extra_float_digits is
// what other drivers (lib/pq, JDBC) send.
func Config(opts Options, port int, authFile string) string {
	mode := opts.PoolMode
	if mode == "" {
		mode = "transaction"
	}
	poolSize := opts.PoolSize
	if poolSize == 0 {
		poolSize = 3
	}
	maxClients := opts.MaxClientConn
	if maxClients == 0 {
		maxClients = 200
	}
	settings := map[string]string{
		"listen_addr":               "127.0.0.1",
		"listen_port":               strconv.Itoa(port),
		"unix_socket_dir":           "", // none: nothing here needs one
		"auth_type":                 "scram-sha-256",
		"auth_file":                 authFile,
		"pool_mode":                 mode,
		"default_pool_size":         strconv.Itoa(poolSize),
		"max_client_conn":           strconv.Itoa(maxClients),
		"ignore_startup_parameters": "extra_float_digits,search_path",
		// A refused server login is retried after this many seconds (15 by
		// default): too long for a test.
		"server_login_retry": "1",
		"log_connections":    "0",
		"log_disconnections": "0",
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var b strings.Builder
	b.WriteString("[databases]\n")
	fmt.Fprintf(&b, "* = host=%s port=%d\n\n[pgbouncer]\n", opts.Host, opts.Port)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	return b.String()
}

// authFileContent returns the auth_file lines, "user" "password", with
// double quotes doubled as PgBouncer expects.
func authFileContent(users map[string]string) string {
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	sort.Strings(names)
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s %s\n", q(name), q(users[name]))
	}
	return b.String()
}

// Port returns the port PgBouncer listens on, on 127.0.0.1.
func (b *Bouncer) Port() int { return b.port }

// URL returns a connection string for database through PgBouncer.
func (b *Bouncer) URL(user, password, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Output returns the end of what PgBouncer has logged.
func (b *Bouncer) Output() string { return b.out.String() }

// Stop ends PgBouncer (SIGTERM, then SIGKILL if it lingers), waits for it
// and removes its folder. Calling it again does nothing.
func (b *Bouncer) Stop() error {
	b.stopOnce.Do(func() {
		select {
		case <-b.exited:
			b.stopErr = fmt.Errorf("pgbouncer: exited on its own (%v); its output:\n%s", b.waitErr, lastLines(b.out.String(), 20))
		default:
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-b.exited:
			case <-time.After(5 * time.Second):
				b.kill()
			}
		}
		if err := os.RemoveAll(b.dir); err != nil && b.stopErr == nil {
			b.stopErr = fmt.Errorf("pgbouncer: %w", err)
		}
	})
	return b.stopErr
}

// kill ends the process at once and waits for it.
func (b *Bouncer) kill() {
	_ = b.cmd.Process.Kill()
	<-b.exited
}

// writeFile writes a file only PgBouncer's account (and root) may read: the
// auth file holds passwords.
func writeFile(path, content string, acct account) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	return acct.give(path)
}

// lastLines returns at most n trailing lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// use, since the process writes while tests read.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
