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

// provisionResult says how the data set was made and how long it took.
type provisionResult struct {
	Tenants        int     `json:"tenants"`
	ItemsPerTenant int     `json:"items_per_tenant"`
	Seconds        float64 `json:"seconds"`
	AnalyzeSeconds float64 `json:"analyze_seconds"`
}

// provisionTenants creates n tenants through the product's stores
// (postgres.TenantStore.CreateTenant, KeyStore.CreateKey: the same code as
// the admin API and the CLI), one API key each, and items per tenant with
// COPY, then ANALYZEs the database. Tenant ids are b00001, b00002, …
func provisionTenants(ctx context.Context, ownerURL, runtimeURL string, n, items, workers int) (*benchkit.Dataset, provisionResult, error) {
	res := provisionResult{Tenants: n, ItemsPerTenant: items}
	start := time.Now()
	db, err := postgres.Open(ctx, postgres.Config{URL: ownerURL, RuntimeURL: runtimeURL, TenantRoles: true,
		MaxConns: int32(workers + 2), RuntimeRole: runtimeUser})
	if err != nil {
		return nil, res, err
	}
	defer db.Close()
	raw, err := pgxpool.New(ctx, ownerURL)
	if err != nil {
		return nil, res, err
	}
	defer raw.Close()
	tenants, keys := postgres.NewTenantStore(db, nil), postgres.NewKeyStore(db)

	ds := &benchkit.Dataset{Database: benchDatabase, RolePrefix: rolePrefix(benchDatabase), Tenants: make([]benchkit.Tenant, n)}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				t, err := provisionOne(ctx, tenants, keys, raw, fmt.Sprintf("b%05d", i+1), items)
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

func provisionOne(ctx context.Context, tenants *postgres.TenantStore, keys *postgres.KeyStore, raw *pgxpool.Pool, id string, items int) (benchkit.Tenant, error) {
	tid := tenantapi.TenantID(id)
	if _, err := tenants.CreateTenant(ctx, tid, "Bench "+id); err != nil {
		return benchkit.Tenant{}, fmt.Errorf("creating tenant %s: %w", id, err)
	}
	_, key, err := keys.CreateKey(ctx, tid, "bench", nil)
	if err != nil {
		return benchkit.Tenant{}, fmt.Errorf("creating a key for %s: %w", id, err)
	}
	t := benchkit.Tenant{ID: id, Key: key}
	rows := make([][]any, items)
	base := time.Now().UTC().Truncate(time.Microsecond)
	for i := range rows {
		u, err := uuid.NewV7()
		if err != nil {
			return t, err
		}
		ts := base.Add(time.Duration(i) * time.Microsecond)
		rows[i] = []any{u, fmt.Sprintf("item %d of %s", i+1, id), "a benchmark item with a short description",
			fmt.Sprintf(`{"color":"red","size":%d,"tags":["bench","seed"]}`, i), int64(1), ts, ts}
		t.Items = append(t.Items, u.String())
	}
	slices.Sort(t.Items)
	_, err = raw.CopyFrom(ctx, pgx.Identifier{"tenant_" + id, "items"},
		[]string{"id", "name", "description", "attributes", "version", "created_at", "updated_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return t, fmt.Errorf("loading items of %s: %w", id, err)
	}
	return t, nil
}

// rolePrefix is postgres.rolePrefix: "t" + 8 hex digits of the MD5 of the
// database name + "_".
func rolePrefix(database string) string {
	sum := md5.Sum([]byte(database))
	return "t" + hex.EncodeToString(sum[:4]) + "_"
}
