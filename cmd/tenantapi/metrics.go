package main

import (
	"context"
	"time"

	"github.com/tenantapi/tenantapi/httpapi"
	"github.com/tenantapi/tenantapi/metrics/emf"
	"github.com/tenantapi/tenantapi/metrics/prom"
	"github.com/tenantapi/tenantapi/postgres"
)

// The metrics adapters satisfy the HTTP layer's interface.
var (
	_ httpapi.Observer = (*prom.Metrics)(nil)
	_ httpapi.Observer = (*emf.Writer)(nil)
)

// newPromMetrics returns server mode's Prometheus metrics over db: requests,
// the pools, and the fleet's schema versions read from the registry at most
// every 30 s.
func newPromMetrics(cfg serverConfig, db *postgres.DB) *prom.Metrics {
	m := prom.New(prom.Options{TenantLabel: cfg.MetricsTenantLabel, Runtime: true})
	m.AddPools(func() []prom.PoolStat {
		var out []prom.PoolStat
		for _, s := range db.PoolStats() {
			out = append(out, prom.PoolStat(s))
		}
		return out
	})
	mig := postgres.NewMigrator(db)
	m.AddFleet(func(ctx context.Context) (prom.Fleet, error) {
		vs, err := mig.TenantVersions(ctx)
		if err != nil {
			return prom.Fleet{}, err
		}
		f := prom.Fleet{Versions: map[int]int{}}
		for _, v := range vs {
			f.Versions[v.Version] = v.Tenants
			f.Failed += v.Failed
		}
		return f, nil
	}, 30*time.Second, 2*time.Second)
	return m
}
