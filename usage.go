package tenantapi

import (
	"context"
	"time"
)

// TenantUsage is what one tenant holds in the database.
type TenantUsage struct {
	Tenant TenantID
	// Items is the exact number of items in the tenant's schema (0 when
	// its application set has no items).
	Items int64
	// Rows is the exact number of rows of each resource at the tenant's
	// version, by resource name.
	Rows map[string]int64
	// StorageBytes is the on-disk size of every relation in the tenant's
	// schema, indexes and TOAST included.
	StorageBytes int64
}

// RequestWindow counts the requests one process served for a tenant in a
// fixed window of time (a UTC hour by default).
type RequestWindow struct {
	Start, End time.Time
	Count      int64
}

// UsageStore measures tenants.
type UsageStore interface {
	// TenantUsage returns the usage of the tenant with id. A tenant that is
	// absent or being deleted gives ErrTenantNotFound.
	TenantUsage(ctx context.Context, id TenantID) (TenantUsage, error)
}
