package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// connectProbe times what a cold start pays in the database: connecting,
// a first trivial query, and the first and second tenant statements with
// the role switch, on fresh connections of the runtime role and of the
// owner. At thousands of tenants the runtime role is a member of thousands
// of tenant roles, which PostgreSQL works through once per backend.
func (h *harness) connectProbe(ctx context.Context) map[string]any {
	t := h.ds.Tenants[0]
	out := map[string]any{"tenant": t.ID}
	for _, who := range []struct{ name, url string }{
		{"runtime", h.c.runtimeURL(benchDatabase)},
		{"owner", h.c.ownerURL(benchDatabase)},
	} {
		var ms []float64
		for range 3 {
			m, err := probeOnce(ctx, who.url, h.ds.RolePrefix+t.ID, pgx.Identifier{"tenant_" + t.ID}.Sanitize(), t.Items[0])
			if err != nil {
				out[who.name] = map[string]any{"error": err.Error()}
				break
			}
			ms = m
		}
		if ms != nil {
			out[who.name] = map[string]any{"connect_ms": ms[0], "select_1_ms": ms[1], "first_tenant_statement_ms": ms[2],
				"second_tenant_statement_ms": ms[3]}
		}
	}
	return out
}

func probeOnce(ctx context.Context, url, role, schema, item string) ([]float64, error) {
	since := func(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
	var ms []float64
	start := time.Now()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	ms = append(ms, since(start))
	start = time.Now()
	if _, err := conn.Exec(ctx, "SELECT 1", pgx.QueryExecModeExec); err != nil {
		return nil, err
	}
	ms = append(ms, since(start))
	for range 2 {
		start = time.Now()
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('role', $1, true), set_config('statement_timeout', '10000', true)`, role)
		b.Queue(`SELECT name FROM `+schema+`.items WHERE id = $1::uuid`, item)
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
		ms = append(ms, since(start))
	}
	return ms, nil
}
