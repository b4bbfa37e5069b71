package postgres

import (
	"context"
	"time"

	"github.com/tenantapi/tenantapi"
)

// KeyStore manages API keys in public.api_keys, where only their SHA-256 is
// kept. Keys belong to the tenant's internal identity (uid), so they die with
// the tenant and never pass to a new tenant of the same id. It implements
// tenantapi.KeyStore.
type KeyStore struct {
	db *DB
}

var _ tenantapi.KeyStore = (*KeyStore)(nil)

// NewKeyStore returns a KeyStore on db.
func NewKeyStore(db *DB) *KeyStore { return &KeyStore{db: db} }

// CreateKey stores a new key for the tenant and returns it with the key
// string, which is never stored. It returns ErrTenantNotFound for an absent
// or deleting tenant.
func (s *KeyStore) CreateKey(ctx context.Context, tenant tenantapi.TenantID, name string, expiresAt *time.Time) (tenantapi.APIKey, string, error) {
	key, keyID := tenantapi.NewAPIKeySecret()
	hash := tenantapi.HashAPIKey(key)
	k := tenantapi.APIKey{ID: keyID, TenantID: tenant, Name: name}
	// FOR SHARE makes a concurrent MarkTenantDeleting wait for this insert
	// (and then revoke the key) or this insert wait for it (and then find
	// the tenant deleting): no key outlives the mark unrevoked.
	err := s.db.owner.QueryRow(ctx, `
		WITH t AS (
			SELECT uid FROM public.tenants WHERE id = $1 AND status <> 'deleting' FOR SHARE
		)
		INSERT INTO public.api_keys (id, tenant_uid, hash, name, expires_at)
		SELECT $2, t.uid, $3, $4, $5 FROM t
		RETURNING tenant_uid, created_at, expires_at`,
		string(tenant), keyID, hash[:], name, expiresAt).Scan(&k.TenantUID, &k.CreatedAt, &k.ExpiresAt)
	if err != nil {
		return tenantapi.APIKey{}, "", translate(err, registryScope)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt = utcPtr(k.ExpiresAt)
	return k, key, nil
}

// Keys lists the tenant's keys, revoked ones included, newest first. It
// returns ErrTenantNotFound for an absent or deleting tenant.
func (s *KeyStore) Keys(ctx context.Context, tenant tenantapi.TenantID) ([]tenantapi.APIKey, error) {
	// The outer join tells "no keys" (one row of NULLs) from "no tenant"
	// (no row) in one query.
	rows, err := s.db.owner.Query(ctx, `
		SELECT t.uid, k.id, k.name, k.created_at, k.expires_at, k.revoked_at
		FROM public.tenants t LEFT JOIN public.api_keys k ON k.tenant_uid = t.uid
		WHERE t.id = $1 AND t.status <> 'deleting'
		ORDER BY k.created_at DESC, k.id DESC`, string(tenant))
	if err != nil {
		return nil, translate(err, publicScope)
	}
	defer rows.Close()
	keys := []tenantapi.APIKey{}
	found := false
	for rows.Next() {
		found = true
		var (
			k         = tenantapi.APIKey{TenantID: tenant}
			id, name  *string
			createdAt *time.Time
		)
		if err := rows.Scan(&k.TenantUID, &id, &name, &createdAt, &k.ExpiresAt, &k.RevokedAt); err != nil {
			return nil, translate(err, publicScope)
		}
		if id == nil {
			continue
		}
		k.ID, k.Name, k.CreatedAt = *id, *name, createdAt.UTC()
		k.ExpiresAt, k.RevokedAt = utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err, publicScope)
	}
	if !found {
		return nil, tenantapi.ErrTenantNotFound
	}
	return keys, nil
}

// RevokeKey revokes a key; with tenant set, only a key of that tenant. It
// returns ErrNotFound for an unknown or already revoked key.
func (s *KeyStore) RevokeKey(ctx context.Context, tenant tenantapi.TenantID, keyID string) error {
	tag, err := s.db.owner.Exec(ctx, `
		UPDATE public.api_keys SET revoked_at = now()
		WHERE id = $1 AND revoked_at IS NULL
		  AND ($2 = '' OR tenant_uid = (SELECT uid FROM public.tenants WHERE id = $2))`,
		keyID, string(tenant))
	if err != nil {
		return translate(err, publicScope)
	}
	if tag.RowsAffected() == 0 {
		return tenantapi.ErrNotFound
	}
	return nil
}

// RevokeKeysNamed revokes every active key of the tenant with that name and
// returns how many it revoked, or ErrTenantNotFound.
func (s *KeyStore) RevokeKeysNamed(ctx context.Context, tenant tenantapi.TenantID, name string) (int, error) {
	var n int
	err := s.db.owner.QueryRow(ctx, `
		WITH t AS (SELECT uid FROM public.tenants WHERE id = $1),
		r AS (
			UPDATE public.api_keys k SET revoked_at = now()
			FROM t WHERE k.tenant_uid = t.uid AND k.name = $2 AND k.revoked_at IS NULL
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM r) FROM t`, string(tenant), name).Scan(&n)
	return n, translate(err, registryScope)
}

// Authenticate returns the principal of the unrevoked key with that hash,
// with its tenant's status and rate limit now, or ErrUnauthorized. It does not check
// expiry: the caller does, against Principal.ExpiresAt, so a cached
// principal expires on time. One query on the runtime pool.
func (s *KeyStore) Authenticate(ctx context.Context, hash [32]byte) (tenantapi.Principal, error) {
	var (
		p     tenantapi.Principal
		rps   *float64
		burst *int
	)
	err := s.db.runtime.QueryRow(ctx, `
		SELECT k.id, t.id, t.uid, t.schema_version, t.status, k.expires_at, t.rate_limit_rps, t.rate_limit_burst, t.database,
			EXISTS (SELECT 1 FROM public.tenant_moves m WHERE m.tenant_uid = t.uid)
		FROM public.api_keys k JOIN public.tenants t ON t.uid = k.tenant_uid
		WHERE k.hash = $1 AND k.revoked_at IS NULL`, hash[:]).
		Scan(&p.KeyID, &p.Tenant.ID, &p.Tenant.UID, &p.Tenant.Version, &p.TenantStatus, &p.ExpiresAt, &rps, &burst, &p.Tenant.Database, &p.Tenant.Moving)
	if err != nil {
		return tenantapi.Principal{}, translate(err, credentialScope)
	}
	p.ExpiresAt = utcPtr(p.ExpiresAt)
	p.RateLimit = rateLimitOf(rps, burst)
	return p, nil
}

// utcPtr returns t in UTC, keeping nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
