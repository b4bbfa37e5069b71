package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
	"github.com/tenantapi/tenantapi/postgres"
)

// provisionResult says how a data set was made and how long it took.
type provisionResult struct {
	Database          string  `json:"database"`
	Set               string  `json:"application_set"` // the folder of TENANT_MIGRATIONS; "" for the built-in set
	Tenants           int     `json:"tenants"`
	ItemsPerTenant    int     `json:"items_per_tenant"`
	ProjectsPerTenant int     `json:"projects_per_tenant,omitempty"`
	Seconds           float64 `json:"seconds"`
	AnalyzeSeconds    float64 `json:"analyze_seconds"`
}

// dataSpec is a data set to provision.
type dataSpec struct {
	database string
	// set is the application set new tenants get (nil: the built-in
	// items) and setDir the folder it came from.
	set            []postgres.Migration
	setDir         string
	tenants, items int
	// projects is the rows per tenant of the example set's projects table
	// (examples/projects), 0 for none.
	projects int
	workers  int
	// place, when set, is the tenantapi database the tenants are created
	// in (database is then the control database), and copyURL the owner's
	// connection string of where their schemas are, for COPY and ANALYZE;
	// prefix replaces the ids' "b".
	place, copyURL, prefix string
}

// provisionTenants creates spec's tenants through the product's stores
// (postgres.TenantStore.CreateTenant, KeyStore.CreateKey: the same code as
// the admin API and the CLI, which applies the application set), one API
// key each, and their items (and projects) with COPY, then ANALYZEs the
// database. Tenant ids are b00001, b00002, …
func provisionTenants(ctx context.Context, c *cluster, spec dataSpec) (*benchkit.Dataset, provisionResult, error) {
	res := provisionResult{Database: spec.database, Set: spec.setDir, Tenants: spec.tenants, ItemsPerTenant: spec.items,
		ProjectsPerTenant: spec.projects}
	start := time.Now()
	ownerURL := c.ownerURL(spec.database)
	db, err := postgres.Open(ctx, postgres.Config{URL: ownerURL, RuntimeURL: c.runtimeURL(spec.database), TenantRoles: true,
		MaxConns: int32(spec.workers + 2), RuntimeRole: runtimeUser, ApplicationSet: spec.set})
	if err != nil {
		return nil, res, err
	}
	defer db.Close()
	if spec.copyURL != "" {
		ownerURL = spec.copyURL
	}
	raw, err := pgxpool.New(ctx, ownerURL)
	if err != nil {
		return nil, res, err
	}
	defer raw.Close()
	tenants, keys := postgres.NewTenantStore(db, nil), postgres.NewKeyStore(db)

	n := spec.tenants
	prefix := spec.prefix
	if prefix == "" {
		prefix = "b"
	}
	ds := &benchkit.Dataset{Database: spec.database, RolePrefix: rolePrefix(spec.database), Tenants: make([]benchkit.Tenant, n)}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range spec.workers {
		wg.Go(func() {
			for i := range next {
				t, err := provisionOne(ctx, tenants, keys, raw, fmt.Sprintf("%s%05d", prefix, i+1), spec)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				ds.Tenants[i] = t
				mu.Unlock()
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, res, first
	}
	res.Seconds = time.Since(start).Seconds()
	start = time.Now()
	if _, err := raw.Exec(ctx, `ANALYZE`); err != nil {
		return nil, res, err
	}
	res.AnalyzeSeconds = time.Since(start).Seconds()
	return ds, res, nil
}

func provisionOne(ctx context.Context, tenants *postgres.TenantStore, keys *postgres.KeyStore, raw *pgxpool.Pool, id string, spec dataSpec) (benchkit.Tenant, error) {
	tid := tenantapi.TenantID(id)
	if _, err := tenants.CreateTenantIn(ctx, tid, "Bench "+id, spec.place); err != nil {
		return benchkit.Tenant{}, fmt.Errorf("creating tenant %s: %w", id, err)
	}
	_, key, err := keys.CreateKey(ctx, tid, "bench", nil)
	if err != nil {
		return benchkit.Tenant{}, fmt.Errorf("creating a key for %s: %w", id, err)
	}
	t := benchkit.Tenant{ID: id, Key: key}
	t.Items, err = copyRows(ctx, raw, id, "items", spec.items,
		[]string{"id", "name", "description", "attributes", "version", "created_at", "updated_at"},
		func(i int, u uuid.UUID, ts time.Time) []any {
			return []any{u, fmt.Sprintf("item %d of %s", i+1, id), "a benchmark item with a short description",
				fmt.Sprintf(`{"color":"red","size":%d,"tags":["bench","seed"]}`, i), int64(1), ts, ts}
		})
	if err != nil || spec.projects == 0 {
		return t, err
	}
	// A project has about the items' size, and a member of every kind of
	// the example's columns: varchar, text, numeric, date, text[], jsonb,
	// boolean.
	projects, err := copyRows(ctx, raw, id, "projects", spec.projects,
		[]string{"id", "code", "title", "budget", "starts_on", "tags", "settings", "archived", "version", "created_at", "updated_at"},
		func(i int, u uuid.UUID, ts time.Time) []any {
			return []any{u, fmt.Sprintf("P%d", i+1), fmt.Sprintf("project %d of %s", i+1, id), 1000.5 + float64(i),
				ts.Truncate(24 * time.Hour), []string{"bench", "seed"}, fmt.Sprintf(`{"color":"red","size":%d}`, i), false, int64(1), ts, ts}
		})
	t.Rows = map[string][]string{"projects": projects}
	return t, err
}

// copyRows loads n rows made by row into the tenant's table with COPY and
// returns their ids, sorted. Each row gets a fresh UUIDv7 and a timestamp
// one microsecond after the previous one.
func copyRows(ctx context.Context, raw *pgxpool.Pool, tenant, table string, n int, cols []string, row func(i int, id uuid.UUID, ts time.Time) []any) ([]string, error) {
	rows := make([][]any, n)
	ids := make([]string, n)
	base := time.Now().UTC().Truncate(time.Microsecond)
	for i := range rows {
		u, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		rows[i], ids[i] = row(i, u, base.Add(time.Duration(i)*time.Microsecond)), u.String()
	}
	slices.Sort(ids)
	if _, err := raw.CopyFrom(ctx, pgx.Identifier{"tenant_" + tenant, table}, cols, pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("loading %s of %s: %w", table, tenant, err)
	}
	return ids, nil
}

// rolePrefix is postgres.rolePrefix: "t" + 8 hex digits of the MD5 of the
// database name + "_".
func rolePrefix(database string) string {
	sum := md5.Sum([]byte(database))
	return "t" + hex.EncodeToString(sum[:4]) + "_"
}
