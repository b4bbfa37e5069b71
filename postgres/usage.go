package postgres

import (
	"context"
	"strings"

	"github.com/tenantapi/tenantapi"
)

var _ tenantapi.UsageStore = (*TenantStore)(nil)

// schemaSizeSQL sums the size of the schema $1's relations (found as
// schemaRelations says, without a catalog scan). Indexes and TOAST tables
// depend on their table, not the namespace, and pg_total_relation_size of
// the table counts them.
var schemaSizeSQL = `SELECT coalesce((SELECT sum(pg_total_relation_size(c.oid))::bigint ` + schemaRelations("$1") + `), 0)`

// TenantUsage returns the tenant's row count of every resource at its
// version and its storage bytes, in three round trips: the registry, the
// sizes, then one statement counting each resource's table. A tenant
// that is absent, being deleted or dropped while the call runs gives
// ErrTenantNotFound.
func (s *TenantStore) TenantUsage(ctx context.Context, id tenantapi.TenantID) (tenantapi.TenantUsage, error) {
	// id becomes part of the SQL; TenantID may have been made by a conversion.
	if _, err := tenantapi.ParseTenantID(string(id)); err != nil {
		return tenantapi.TenantUsage{}, tenantapi.ErrTenantNotFound
	}
	gone := scope{notFound: tenantapi.ErrTenantNotFound, tenant: true}
	u := tenantapi.TenantUsage{Tenant: id, Rows: map[string]int64{}}
	var (
		status   tenantapi.TenantStatus
		version  int
		database string
	)
	err := s.db.owner.QueryRow(ctx, `SELECT status, schema_version, database FROM public.tenants WHERE id = $1`, string(id)).Scan(&status, &version, &database)
	if err != nil {
		return tenantapi.TenantUsage{}, translate(err, gone)
	}
	if status == tenantapi.TenantDeleting {
		return tenantapi.TenantUsage{}, tenantapi.ErrTenantNotFound
	}
	st, err := s.db.site(ctx, database)
	if err != nil {
		return tenantapi.TenantUsage{}, err
	}
	if err := st.owner.QueryRow(ctx, schemaSizeSQL, id.Schema()).Scan(&u.StorageBytes); err != nil {
		return tenantapi.TenantUsage{}, translate(err, gone)
	}
	schema, err := s.schemas.Schema(ctx, version)
	if err != nil || len(schema.Resources) == 0 {
		return u, err
	}
	counts := make([]string, len(schema.Resources))
	dest := make([]any, len(schema.Resources))
	n := make([]int64, len(schema.Resources))
	for i, r := range schema.Resources {
		counts[i] = `(SELECT count(*) FROM ` + quotedSchema(id) + `.` + ident(r.Name) + `)`
		dest[i] = &n[i]
	}
	if err := st.owner.QueryRow(ctx, `SELECT `+strings.Join(counts, ", ")).Scan(dest...); err != nil {
		return tenantapi.TenantUsage{}, translate(err, gone)
	}
	for i, r := range schema.Resources {
		u.Rows[r.Name] = n[i]
	}
	u.Items = u.Rows["items"]
	return u, nil
}
