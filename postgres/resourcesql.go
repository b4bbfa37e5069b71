package postgres

import "github.com/tenantapi/tenantapi"

// ResourceSQL returns three of the statements RowStore sends for res in
// tenant id with the pgx driver, as it sends them: get reads one row ($1
// the id; it returns the id, the version and the texts of the row's
// members), list a page of the rows ($1 the id the page starts after, $2
// the limit; id and texts), and insert creates a row that sets every
// writable field, without an Idempotency-Key ($1 the new id, $2 the time
// when res has created_at or updated_at, then each field's PostgreSQL
// input text in the order of res.Fields; id, version and texts). texts
// is how many member texts each answers. It exists for the load
// generator's database ceiling (bench/loadgen), which sends tenantapi's
// statements without tenantapi.
func ResourceSQL(res *tenantapi.Resource, id tenantapi.TenantID) (get, list, insert string, texts int) {
	p := newRowPlan(res, 0)
	var vals []tenantapi.Value
	for i, f := range res.Fields {
		if !f.Generated {
			vals = append(vals, tenantapi.Value{Field: i})
		}
	}
	return forTenant(p.getSQL(), id), forTenant(p.listSQL(nil), id), forTenant(p.insertSQL(vals), id), len(p.members)
}
