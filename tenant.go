package tenantapi

import (
	"context"
	"time"
)

// TenantID is a validated tenant id: it matches ^[a-z0-9][a-z0-9_]{0,39}$.
// The only way to get a non-empty TenantID from outside input is ParseTenantID.
type TenantID string

// MaxTenantIDLen is the longest tenant id; "tenant_" plus it stays within
// PostgreSQL's 63-byte identifier limit.
const MaxTenantIDLen = 40

// ParseTenantID returns s as a TenantID if it matches the tenant id grammar
// exactly: no trimming, no case folding. Otherwise it returns an *Error with
// CodeInvalidTenantID.
func ParseTenantID(s string) (TenantID, error) {
	if !ValidTenantID(s) {
		return "", Errorf(CodeInvalidTenantID, "tenant id must match ^[a-z0-9][a-z0-9_]{0,39}$")
	}
	return TenantID(s), nil
}

// ValidTenantID reports whether s matches ^[a-z0-9][a-z0-9_]{0,39}$.
func ValidTenantID(s string) bool {
	if len(s) == 0 || len(s) > MaxTenantIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidDatabaseName reports whether s may name a database tenants live in:
// ^[a-z][a-z0-9_]{0,39}$.
func ValidDatabaseName(s string) bool {
	return s != "" && s[0] >= 'a' && s[0] <= 'z' && ValidTenantID(s)
}

// Schema returns the name of the tenant's PostgreSQL schema, unquoted.
// Callers quote it as an identifier before it reaches SQL.
func (id TenantID) Schema() string { return "tenant_" + string(id) }

// TenantStatus is the lifecycle state of a tenant.
type TenantStatus string

// The tenant statuses.
const (
	TenantActive    TenantStatus = "active"
	TenantSuspended TenantStatus = "suspended"
	TenantDeleting  TenantStatus = "deleting"
)

// Tenant is a row of the registry, public.tenants.
type Tenant struct {
	ID TenantID
	// UID is the tenant's internal identity. It changes when a tenant is
	// deleted and created again with the same ID, so keys and cache entries
	// bound to it never outlive the tenant they were made for.
	UID           int64
	Name          string
	Status        TenantStatus
	SchemaVersion int
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// RateLimit is the tenant's own rate limit; nil means the server's
	// default.
	RateLimit *RateLimit
	// Database names the database the tenant's schema lives in ("main":
	// the control database).
	Database string
}

// TenantRef identifies a tenant for a tenant-scoped store call: the validated
// id whose schema holds the data, and the internal identity it was resolved to.
type TenantRef struct {
	ID  TenantID
	UID int64
	// Version is the version of the application set the tenant's schema is
	// at (its schema_version): the shape its requests are served with.
	Version int
	// Database names the database the tenant's schema lives in, as the
	// registry placed it when the reference was made; "" is "main". A
	// reference that a move made stale still works: the store finds the
	// tenant where it went.
	Database string
	// Moving is true while a move of the tenant to another database is
	// recorded: its statements then wait for locks only briefly, so that
	// the move's write hold does not hold the pool's connections.
	Moving bool
}

// TenantUpdate is a partial update of a tenant; nil fields stay as they are.
type TenantUpdate struct {
	Name   *string
	Status *TenantStatus
	// SetRateLimit replaces the tenant's own rate limit with RateLimit; a
	// nil RateLimit goes back to the server's default.
	SetRateLimit bool
	RateLimit    *RateLimit
}

// Page asks for up to Limit rows after the opaque position After ("" for the
// first page).
type Page struct {
	After string
	Limit int
}

// TenantStore manages the tenant registry and tenant schemas.
type TenantStore interface {
	// CreateTenant creates the registry row, the schema and every tenant
	// migration in one transaction. It returns ErrTenantExists (CodeConflict)
	// when the id is taken, including by a tenant that is being deleted.
	CreateTenant(ctx context.Context, id TenantID, name string) (Tenant, error)
	// CreateTenantIn is CreateTenant in the database named ("" is where
	// CreateTenant puts it: the non-draining database with the fewest
	// tenants). An unknown database is CodeValidationFailed on /database.
	CreateTenantIn(ctx context.Context, id TenantID, name, database string) (Tenant, error)
	// Tenant returns the tenant with id, or ErrTenantNotFound.
	Tenant(ctx context.Context, id TenantID) (Tenant, error)
	// Tenants returns tenants ordered by id after page.After (a tenant id).
	Tenants(ctx context.Context, page Page) ([]Tenant, error)
	// UpdateTenant applies u and returns the tenant. A tenant that is being
	// deleted, or absent, gives ErrTenantNotFound.
	UpdateTenant(ctx context.Context, id TenantID, u TenantUpdate) (Tenant, error)
	// MarkTenantDeleting sets the tenant's status to deleting and revokes its
	// keys. It returns the time the tenant was first marked (earlier calls
	// keep their time) or ErrTenantNotFound.
	MarkTenantDeleting(ctx context.Context, id TenantID) (time.Time, error)
	// DropTenant drops the schema and the registry row of a tenant that is
	// marked deleting, waiting at most lockTimeout for locks. When the locks
	// cannot be had it returns CodeUnavailable and the tenant stays deleting.
	DropTenant(ctx context.Context, id TenantID, lockTimeout time.Duration) error
}

// DeleteTenant deletes a tenant as the contract orders: mark it deleting
// (which revokes its keys), wait until grace has passed since it was first
// marked so that no process still serves it from a cache, then drop its
// schema and registry row, waiting at most lockTimeout for locks. A drop that
// cannot get its locks returns CodeUnavailable and leaves the tenant
// deleting; calling DeleteTenant again finishes it without waiting anew.
// marked, when not nil, is called once the tenant is marked.
func DeleteTenant(ctx context.Context, store TenantStore, id TenantID, grace, lockTimeout time.Duration, marked func()) error {
	since, err := store.MarkTenantDeleting(ctx, id)
	if err != nil {
		return err
	}
	if marked != nil {
		marked()
	}
	if wait := time.Until(since.Add(grace)); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Wrap(CodeUnavailable, ctx.Err(), "the delete did not finish; repeat it")
		}
	}
	return store.DropTenant(ctx, id, lockTimeout)
}
