package postgres

import (
	"fmt"
	"testing"

	"github.com/tenantapi/tenantapi"
)

// BenchmarkItemRead measures the cost of tenant roles on the hottest path, a
// single-item read, with and without the pipelined role switch, from
// parallel goroutines (throughput, as a server sees it):
//
//	go test -run '^$' -bench ItemRead -benchtime 3s ./postgres
func BenchmarkItemRead(b *testing.B) {
	for _, tenantRoles := range []bool{false, true} {
		b.Run(fmt.Sprintf("tenant_roles=%v", tenantRoles), func(b *testing.B) {
			db, _ := runtimeSetupB(b, tenantRoles)
			tenants, items := NewTenantStore(db, nil), NewItemStore(db)
			tn, err := tenants.CreateTenant(b.Context(), "bench", "Bench")
			if err != nil {
				b.Fatal(err)
			}
			ref := tenantapi.TenantRef{ID: tn.ID, UID: tn.UID}
			c, err := items.CreateItem(b.Context(), ref, input("x", `{"a":1}`), nil, renderItem)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := items.Item(b.Context(), ref, c.Item.ID); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
