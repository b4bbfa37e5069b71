package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// VersionCount is how many tenants are at one schema version, and how many
// of them failed their last migration.
type VersionCount struct {
	Version int `json:"version"`
	Tenants int `json:"tenants"`
	Failed  int `json:"failed"`
}

// TenantVersion is one tenant's schema version as the registry mirrors it,
// with the error of its last failed migration ("" when it did not fail).
type TenantVersion struct {
	Tenant  tenantapi.TenantID `json:"tenant"`
	Version int                `json:"version"`
	Error   string             `json:"error,omitempty"`
}

// FleetStatus is where the tenant schemas stand against a Migrator.
type FleetStatus struct {
	// Latest is the Migrator's newest tenant version.
	Latest int `json:"latest_version"`
	// Versions counts tenants by schema version, ascending.
	Versions []VersionCount `json:"versions"`
	// Behind lists, by id, the tenants below Latest (or behind on the
	// product's own track) whose last migration did not fail: the next
	// migrate run brings them up.
	Behind []TenantVersion `json:"behind"`
	// Failed lists, by id, the tenants whose last migration failed; they
	// stay at their previous version until a run succeeds.
	Failed []TenantVersion `json:"failed"`
}

// TenantVersions counts tenants by schema version (ascending) from the
// registry's mirror, one grouped scan of public.tenants; tenants being
// deleted are left out. Cheap enough for a metrics scrape.
func (m *Migrator) TenantVersions(ctx context.Context) ([]VersionCount, error) {
	rows, err := m.db.owner.Query(ctx, `SELECT schema_version, count(*)::int, (count(*) FILTER (WHERE migration_error IS NOT NULL))::int
		FROM public.tenants
		WHERE status <> 'deleting' GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return nil, translate(err, publicScope)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[VersionCount])
	if vs == nil {
		vs = []VersionCount{}
	}
	return vs, translate(err, publicScope)
}

// Status reports how many tenants are at each schema version and lists the
// ones behind m's latest version or whose last migration failed. It reads
// only the registry (never the tenant schemas), so it answers quickly for
// any number of tenants. Tenants being deleted are left out.
func (m *Migrator) Status(ctx context.Context) (FleetStatus, error) {
	st := FleetStatus{Latest: m.LatestTenantVersion(), Behind: []TenantVersion{}, Failed: []TenantVersion{}}
	var err error
	if st.Versions, err = m.TenantVersions(ctx); err != nil {
		return FleetStatus{}, err
	}
	rows, err := m.db.owner.Query(ctx, `SELECT id, schema_version, coalesce(migration_error, '')
		FROM public.tenants
		WHERE status <> 'deleting' AND (schema_version < $1 OR product_version < $2 OR migration_error IS NOT NULL)
		ORDER BY id`, st.Latest, LatestProductVersion())
	if err != nil {
		return FleetStatus{}, translate(err, publicScope)
	}
	tvs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TenantVersion])
	if err != nil {
		return FleetStatus{}, translate(err, publicScope)
	}
	for _, tv := range tvs {
		if tv.Error != "" {
			st.Failed = append(st.Failed, tv)
		} else {
			st.Behind = append(st.Behind, tv)
		}
	}
	return st, nil
}
