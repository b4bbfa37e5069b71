package postgres

import (
	"context"

	"github.com/tenantapi/tenantapi"
)

var _ tenantapi.UsageStore = (*TenantStore)(nil)

// tenantUsageSQL counts the tenant's items and sums the size of its
// schema's relations (found as schemaRelations says, without a catalog
// scan). Indexes and TOAST
// tables depend on their table, not the namespace, and pg_total_relation_size
// of the table counts them.
var tenantUsageSQL = `
	SELECT t.status,
		(SELECT count(*) FROM {{schema}}.items),
		coalesce((
			SELECT sum(pg_total_relation_size(c.oid))::bigint ` + schemaRelations("$2") + `
		), 0)
	FROM public.tenants t
	WHERE t.id = $1`

// TenantUsage returns the tenant's item count and storage bytes in one round
// trip. A tenant that is absent, being deleted or dropped while the call
// runs gives ErrTenantNotFound.
func (s *TenantStore) TenantUsage(ctx context.Context, id tenantapi.TenantID) (tenantapi.TenantUsage, error) {
	// id becomes part of the SQL; TenantID may have been made by a conversion.
	if _, err := tenantapi.ParseTenantID(string(id)); err != nil {
		return tenantapi.TenantUsage{}, tenantapi.ErrTenantNotFound
	}
	u := tenantapi.TenantUsage{Tenant: id}
	var status tenantapi.TenantStatus
	err := s.db.owner.QueryRow(ctx, forTenant(tenantUsageSQL, id), string(id), id.Schema()).
		Scan(&status, &u.Items, &u.StorageBytes)
	if err != nil {
		return tenantapi.TenantUsage{}, translate(err, scope{notFound: tenantapi.ErrTenantNotFound, tenant: true})
	}
	if status == tenantapi.TenantDeleting {
		return tenantapi.TenantUsage{}, tenantapi.ErrTenantNotFound
	}
	return u, nil
}
