package main

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// Roles of the benchmark's database. The cluster's superuser (tenantapi)
// owns everything and is tenantapi's owner role; the runtime role serves
// tenant requests for tenantapi and the peers alike; the monitor role reads
// the statistics, so its own queries can be left out of them.
const (
	runtimeUser     = "bench_runtime"
	runtimePassword = "bench-runtime-password"
	monitorUser     = "bench_monitor"
	monitorPassword = "bench-monitor-password"
	benchDatabase   = "tenantapi"
)

// serverSettings are the cluster's settings for the benchmark, on top of
// pgcluster's Ephemeral ones (fsync, synchronous_commit and
// full_page_writes off): statement statistics, buffers that hold the whole
// data set, and no autovacuum storm over thousands of freshly loaded tables
// in the middle of a measurement (the harness runs ANALYZE itself).
var serverSettings = map[string]string{
	"shared_preload_libraries":   "pg_stat_statements",
	"pg_stat_statements.max":     "60000",
	"pg_stat_statements.track":   "top",
	"shared_buffers":             "1GB",
	"autovacuum":                 "off",
	"log_min_messages":           "warning",
	"log_min_duration_statement": "-1",
}

// cluster is the benchmark's PostgreSQL and a monitor connection to it.
type cluster struct {
	pg      *pgcluster.Cluster
	mon     *pgx.Conn
	monPort int // the monitor connection's local port, left out of socket counts
	port    int
	version string
}

// startCluster creates and starts a throwaway cluster under dir with the
// benchmark's settings, and creates the runtime and monitor roles.
func startCluster(ctx context.Context, dir string) (*cluster, error) {
	pg, err := pgcluster.Open(pgcluster.Options{Dir: dir, Ephemeral: true, Log: os.Stderr})
	if err != nil {
		return nil, err
	}
	if err := pg.Start(ctx); err != nil {
		return nil, err
	}
	// shared_preload_libraries needs a restart, and the extension's
	// settings are unknown until it is loaded: append them all to
	// postgresql.conf while the server is down (pgcluster's own settings
	// come on the command line and win over these).
	if err := pg.Stop(ctx); err != nil {
		return nil, err
	}
	var conf strings.Builder
	conf.WriteString("\n# tenantapi benchmark\n")
	for _, k := range slices.Sorted(maps.Keys(serverSettings)) {
		fmt.Fprintf(&conf, "%s = '%s'\n", k, serverSettings[k])
	}
	f, err := os.OpenFile(filepath.Join(pg.DataDir(), "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := pg.Start(ctx); err != nil {
		return nil, err
	}
	c := &cluster{pg: pg}
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`,
		fmt.Sprintf(`CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'`, monitorUser, monitorPassword),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return nil, fmt.Errorf("%s: %w", sql, err)
		}
	}
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&c.version); err != nil {
		return nil, err
	}
	u, _ := url.Parse(pg.URL())
	c.port, _ = strconv.Atoi(u.Port())
	if c.mon, err = pgx.Connect(ctx, c.urlAs(monitorUser, monitorPassword, benchDatabase)); err != nil {
		return nil, err
	}
	_, p, _ := strings.Cut(c.mon.PgConn().Conn().LocalAddr().String(), ":")
	c.monPort, _ = strconv.Atoi(p)
	return c, nil
}

// ownerURL is the superuser's connection string to database name.
func (c *cluster) ownerURL(name string) string { return c.pg.DatabaseURL(name) }

// urlAs is the connection string of user to database name.
func (c *cluster) urlAs(user, password, name string) string {
	u, _ := url.Parse(c.pg.DatabaseURL(name))
	u.User = url.UserPassword(user, password)
	return u.String()
}

func (c *cluster) runtimeURL(name string) string { return c.urlAs(runtimeUser, runtimePassword, name) }

// postmasterPID reads the server's pid from postmaster.pid.
func (c *cluster) postmasterPID() int {
	b, err := os.ReadFile(c.pg.DataDir() + "/postmaster.pid")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

func (c *cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c.mon != nil {
		c.mon.Close(ctx)
	}
	c.pg.Stop(ctx)
	c.pg.Remove()
}

// dbCounters are the database's cumulative counters at one moment.
type dbCounters struct {
	// segsIn counts, per client connection (by the client's address), the
	// TCP segments carrying data that the server received: one per
	// message flush of the client, so one per round trip. The monitor's
	// connection is left out.
	segsIn map[string]int64
	// commits is pg_stat_database.xact_commit of the database.
	commits int64
	// calls are pg_stat_statements calls by kind of statement (item,
	// project, role, auth, registry, other), the monitor's left out.
	calls map[string]int64
}

// segmentsSince returns the segments received since base: connections
// opened since count whole, closed ones as far as the last reading saw
// them.
func segmentsSince(base, last map[string]int64) int64 {
	var n int64
	for k, v := range last {
		n += v - base[k]
	}
	return n
}

// counters reads dbCounters of database db now.
func (c *cluster) counters(ctx context.Context, db string) (dbCounters, error) {
	d := dbCounters{calls: map[string]int64{}}
	var err error
	if d.segsIn, err = c.segments(); err != nil {
		return d, err
	}
	if err := c.mon.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, db).Scan(&d.commits); err != nil {
		return d, err
	}
	rows, err := c.mon.Query(ctx, `
		SELECT CASE
		         WHEN query LIKE '%set_config(%role%' OR query ILIKE 'SET LOCAL ROLE %'
		           OR query ILIKE 'SET LOCAL statement_timeout%' THEN 'role'
		         WHEN query LIKE '%public.api_keys%' THEN 'auth'
		         WHEN query LIKE '%public.tenants%' THEN 'registry'
		         WHEN query LIKE '%.items%' OR query LIKE '%."items"%' THEN 'item'
		         WHEN query LIKE '%."projects"%' THEN 'project'
		         ELSE 'other' END,
		       sum(calls)::bigint
		FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND r.rolname <> $2
		GROUP BY 1`, db, monitorUser)
	if err != nil {
		return d, err
	}
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return d, err
		}
		d.calls[kind] = n
	}
	return d, rows.Err()
}

// statements returns what pg_stat_statements counted in database db since
// the last reset, the monitor's left out: each statement's text (white
// space folded, cut at 120 characters), calls and rows.
func (c *cluster) statements(ctx context.Context, db string) ([]statementCount, error) {
	rows, err := c.mon.Query(ctx, `
		SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 120), calls, rows
		FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND r.rolname <> $2
		ORDER BY calls DESC, 1`, db, monitorUser)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[statementCount])
}

// resetStatements empties pg_stat_statements, so each run's counts start
// from nothing and stay few.
func (c *cluster) resetStatements(ctx context.Context) error {
	_, err := c.mon.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	return err
}

// segments reads data_segs_in of the server's established client
// sockets from ss(8)'s TCP info, by client address.
func (c *cluster) segments() (map[string]int64, error) {
	out, err := exec.Command("ss", "-tinH", "state", "established", "sport", "=", fmt.Sprintf(":%d", c.port)).Output()
	if err != nil {
		return nil, fmt.Errorf("ss: %w", err)
	}
	m := map[string]int64{}
	peer := ""
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			// Recv-Q Send-Q Local:Port Peer:Port
			peer = ""
			if f := strings.Fields(line); len(f) >= 4 && !strings.HasSuffix(f[3], ":"+strconv.Itoa(c.monPort)) {
				peer = f[3]
			}
			continue
		}
		if peer == "" {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "data_segs_in:"); ok {
				m[peer], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return m, nil
}

// backendMemory sums the memory of the backends whose application_name
// starts with app.
func (c *cluster) backendMemory(ctx context.Context, app string) (benchkit.Memory, int, error) {
	rows, err := c.mon.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1 || '%' AND backend_type = 'client backend'`, app)
	if err != nil {
		return benchkit.Memory{}, 0, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return benchkit.Memory{}, 0, err
	}
	var sum benchkit.Memory
	for _, pid := range pids {
		m, err := benchkit.ReadMemory(int(pid))
		if err != nil {
			continue
		}
		sum = sum.Add(m)
	}
	return sum, len(pids), nil
}
