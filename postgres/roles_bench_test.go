package postgres

import "testing"

// BenchmarkItemRead measures the cost of tenant roles on the hottest path, a
// single-item read, with and without the pipelined role switch, from
// parallel goroutines (throughput, as a server sees it):
//
//	go test -run '^$' -bench ItemRead -benchtime 3s ./postgres
func BenchmarkItemRead(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run("tenant_roles="+mode, func(b *testing.B) {
			db, _ := runtimeSetupB(b, mode == "on")
			tenants, rows := NewTenantStore(db, nil), NewRowStore(db)
			tn, err := tenants.CreateTenant(b.Context(), "bench", "Bench")
			if err != nil {
				b.Fatal(err)
			}
			ref := tenantRef(tn)
			res := itemsAt(b, db, ref)
			c, err := rows.Create(b.Context(), ref, res, item(res, "x", `{"a":1}`), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(8) // 16 clients on 2 cores: the database is the bottleneck
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := rows.Get(b.Context(), ref, res, c.Row.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
