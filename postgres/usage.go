package postgres

import (
	"context"

	"github.com/tenantapi/tenantapi"
)

var _ tenantapi.UsageStore = (*TenantStore)(nil)

// tenantUsageSQL counts the tenant's items and sums the size of its
// schema's relations. The relations are found through pg_depend's index on
// the referenced object (every table, sequence and view depends on its
// namespace), keyed by the schema's oid, so the cost does not grow with the
// number of tenants: a filter on pg_class.relnamespace alone has no index
// before PostgreSQL 18 and would scan the whole catalog. Indexes and TOAST
// tables depend on their table, not the namespace, and pg_total_relation_size
// of the table counts them.
const tenantUsageSQL = `
	SELECT t.status,
		(SELECT count(*) FROM {{schema}}.items),
		coalesce((
			SELECT sum(pg_total_relation_size(c.oid))::bigint
			FROM pg_catalog.pg_depend d
			JOIN pg_catalog.pg_class c ON c.oid = d.objid
			WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass
			  AND d.refobjid = to_regnamespace($2)
			  AND d.classid = 'pg_catalog.pg_class'::regclass
			  AND d.deptype = 'n'
			  AND c.relnamespace = to_regnamespace($2)
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
