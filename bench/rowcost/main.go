// Command rowcost measures what one GET of a row costs in the database
// layer, with no HTTP in between: postgres.RowStore.Get (the generic path
// every resource takes, one pipelined batch: the role switch and the row's
// statement) on items and on projects of examples/projects, with the
// pools' defaults (statements prepared within the budget) and with
// DB_PREPARED_STATEMENTS=0 (pgx's exec mode: parsed and planned every
// time), next to what PostgreSQL needs at least: the same row's columns
// by a prepared statement alone (no tenant role), and in one batch after
// each way of switching to the tenant's role (set_config of the role and
// the statement_timeout, as tenantapi sends it; the role alone; SET LOCAL
// ROLE). One tenant, one connection each, requests one after another, the
// variants alternating in blocks.
//
//	go run ./bench/rowcost [--n 3000] [--blocks 8]
//
// It starts its own PostgreSQL (internal/pgcluster, ephemeral) in a
// temporary folder and prints a markdown table: median wall time and
// PostgreSQL CPU (the postmaster's process tree, /proc) per GET.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
	"github.com/tenantapi/tenantapi/internal/pgcluster"
	"github.com/tenantapi/tenantapi/postgres"
)

func main() {
	n := flag.Int("n", 3000, "GETs per block")
	blocks := flag.Int("blocks", 8, "blocks of each variant, alternating")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, *n, *blocks); err != nil {
		fmt.Fprintln(os.Stderr, "rowcost:", err)
		os.Exit(1)
	}
}

// Plain column lists of the two tables, and the role switch tenantapi
// pipelines before each statement (postgres/scoped.go).
var plainSQL = map[string]string{
	"items":    `SELECT id, name, description, attributes, version, created_at, updated_at FROM tenant_r1.items WHERE id = $1`,
	"projects": `SELECT id, code, title, budget, starts_on, tags, settings, archived, version, created_at, updated_at FROM tenant_r1.projects WHERE id = $1`,
}

// The role switches: tenantapi's (postgres/scoped.go), the role alone,
// and SET LOCAL ROLE (which takes no parameter: the role is quoted in).
const (
	setRoleSQL     = `SELECT set_config('role', $1, true), set_config('statement_timeout', '10000', true)`
	setRoleOnlySQL = `SELECT set_config('role', $1, true)`
)

func run(ctx context.Context, n, blocks int) error {
	dir, err := os.MkdirTemp("", "tenantapi-rowcost-")
	if err != nil {
		return err
	}
	os.Chmod(dir, 0o755) // PostgreSQL runs as its own user when we are root
	defer os.RemoveAll(dir)
	c, err := pgcluster.Open(pgcluster.Options{Dir: filepath.Join(dir, "pg"), Ephemeral: true, Log: os.Stderr})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer c.Stop(context.Background())
	set, err := postgres.LoadMigrations(filepath.Join("examples", "projects"))
	if err != nil {
		return err
	}
	open := func(prepared int) (*postgres.DB, error) {
		return postgres.Open(ctx, postgres.Config{URL: c.URL(), MaxConns: 1, TenantRoles: true, ApplicationSet: set, ExecMode: "exec", PreparedStatements: prepared})
	}
	db, err := open(0)
	if err != nil {
		return err
	}
	defer db.Close()
	m := postgres.NewMigrator(db)
	if _, err := m.MigratePublic(ctx); err != nil {
		return err
	}
	if _, err := m.MigrateTenants(ctx, postgres.MigrateOptions{}); err != nil { // records the set's shapes
		return err
	}
	tn, err := postgres.NewTenantStore(db, m).CreateTenant(ctx, "r1", "rowcost")
	if err != nil {
		return err
	}
	cc, err := pgx.ParseConfig(c.URL())
	if err != nil {
		return err
	}
	cc.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement // every statement prepared once
	raw, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer raw.Close(ctx)
	ids, err := load(ctx, raw)
	if err != nil {
		return err
	}
	var role string
	if err := raw.QueryRow(ctx, `SELECT rolname FROM pg_roles WHERE rolname LIKE '%\_r1'`).Scan(&role); err != nil {
		return err
	}
	schema, err := postgres.NewSchemaStore(db).Schema(ctx, tn.SchemaVersion)
	if err != nil {
		return err
	}
	prepared, err := open(1000) // DB_PREPARED_STATEMENTS' default
	if err != nil {
		return err
	}
	defer prepared.Close()
	ref := tenantapi.TenantRef{ID: tn.ID, UID: tn.UID, Version: tn.SchemaVersion}
	stores := []*postgres.RowStore{postgres.NewRowStore(prepared), postgres.NewRowStore(db)}
	setLocalRole := `SET LOCAL ROLE ` + pgx.Identifier{role}.Sanitize()
	type variant struct {
		name string
		get  func(res *tenantapi.Resource, id uuid.UUID) error
	}
	variants := []variant{
		{"RowStore.Get, the defaults (prepared within the budget)", func(res *tenantapi.Resource, id uuid.UUID) error {
			_, err := stores[0].Get(ctx, ref, res, id)
			return err
		}},
		{"RowStore.Get, DB_PREPARED_STATEMENTS=0 (exec mode)", func(res *tenantapi.Resource, id uuid.UUID) error {
			_, err := stores[1].Get(ctx, ref, res, id)
			return err
		}},
		{"the columns by a prepared statement alone, no tenant role", func(res *tenantapi.Resource, id uuid.UUID) error {
			_, err := raw.Exec(ctx, plainSQL[res.Name], id)
			return err
		}},
		{"the same after set_config of the role and statement_timeout, one batch", func(res *tenantapi.Resource, id uuid.UUID) error {
			return batch(ctx, raw, plainSQL[res.Name], id, setRoleSQL, role)
		}},
		{"the same after set_config of the role alone, one batch", func(res *tenantapi.Resource, id uuid.UUID) error {
			return batch(ctx, raw, plainSQL[res.Name], id, setRoleOnlySQL, role)
		}},
		{"the same after SET LOCAL ROLE, one batch", func(res *tenantapi.Resource, id uuid.UUID) error {
			return batch(ctx, raw, plainSQL[res.Name], id, setLocalRole)
		}},
	}
	pm, err := postmasterPID(c.DataDir())
	if err != nil {
		return err
	}
	type key struct{ variant, res string }
	wall, cpu := map[key][]float64{}, map[key][]float64{}
	tables := []string{"items", "projects"}
	for range blocks {
		for _, table := range tables {
			res, ok := schema.Resource(table)
			if !ok {
				return fmt.Errorf("no resource %s in the recorded schema", table)
			}
			for _, v := range variants {
				k := key{v.name, table}
				cpu0, t0 := benchkit.TreeCPU(pm), time.Now()
				for i := range n {
					if err := v.get(res, ids[table][i%len(ids[table])]); err != nil {
						return fmt.Errorf("%s, %s: %w", v.name, table, err)
					}
				}
				wall[k] = append(wall[k], float64(time.Since(t0).Microseconds())/float64(n))
				cpu[k] = append(cpu[k], (benchkit.TreeCPU(pm)-cpu0)*1e6/float64(n))
			}
		}
	}
	fmt.Printf("%d GETs per block, %d blocks per variant and table, alternating; medians over the blocks.\n\n", n, blocks)
	fmt.Println("| variant | table | wall µs/GET | PostgreSQL CPU µs/GET | projects ÷ items, PostgreSQL CPU |")
	fmt.Println("|---|---|---:|---:|---:|")
	for _, v := range variants {
		for _, table := range tables {
			ratio := ""
			if table == "projects" {
				ratio = fmt.Sprintf("%.2f", median(cpu[key{v.name, table}])/median(cpu[key{v.name, "items"}]))
			}
			fmt.Printf("| %s | %s | %.0f | %.0f | %s |\n", v.name, table, median(wall[key{v.name, table}]), median(cpu[key{v.name, table}]), ratio)
		}
	}
	return nil
}

// batch sends the role switch pre (with its arguments) and sql in one
// pipelined batch, as tenantapi does.
func batch(ctx context.Context, conn *pgx.Conn, sql string, id uuid.UUID, pre string, preArgs ...any) error {
	b := &pgx.Batch{}
	b.Queue(pre, preArgs...)
	b.Queue(sql, id)
	return conn.SendBatch(ctx, b).Close()
}

// load inserts 100 items and 100 projects like the harness's (bench/run)
// and returns their ids.
func load(ctx context.Context, raw *pgx.Conn) (map[string][]uuid.UUID, error) {
	ids := map[string][]uuid.UUID{}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 100 {
		item, project := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
		if _, err := raw.Exec(ctx, `INSERT INTO tenant_r1.items (id, name, description, attributes, version, created_at, updated_at)
			VALUES ($1, $2, 'a benchmark item with a short description', $3, 1, $4, $4)`,
			item, fmt.Sprintf("item %d of r1", i+1), fmt.Sprintf(`{"color":"red","size":%d,"tags":["bench","seed"]}`, i), now); err != nil {
			return nil, err
		}
		if _, err := raw.Exec(ctx, `INSERT INTO tenant_r1.projects (id, code, title, budget, starts_on, tags, settings, archived, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, false, 1, $8, $8)`,
			project, fmt.Sprintf("P%d", i+1), fmt.Sprintf("project %d of r1", i+1), 1000.5+float64(i), now.Truncate(24*time.Hour),
			[]string{"bench", "seed"}, fmt.Sprintf(`{"color":"red","size":%d}`, i), now); err != nil {
			return nil, err
		}
		ids["items"], ids["projects"] = append(ids["items"], item), append(ids["projects"], project)
	}
	_, err := raw.Exec(ctx, `ANALYZE`)
	return ids, err
}

func postmasterPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
