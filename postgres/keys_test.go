package postgres

import (
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	s.createTenant(t, "other")
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)

	k1, secret1, err := s.keys.CreateKey(t.Context(), "acme", "ci", &expires)
	if err != nil {
		t.Fatal(err)
	}
	keyID, hash, ok := tenantapi.ParseAPIKey(secret1)
	if !ok || keyID != k1.ID || k1.TenantID != "acme" || k1.TenantUID != ref.UID || k1.Name != "ci" ||
		k1.ExpiresAt == nil || !k1.ExpiresAt.Equal(expires) || k1.CreatedAt.IsZero() || k1.RevokedAt != nil {
		t.Fatalf("CreateKey = %+v, %q", k1, secret1)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.api_keys WHERE hash = $1`, hash[:]); n != 1 {
		t.Error("key not stored by its hash")
	}

	p, err := s.keys.Authenticate(t.Context(), hash)
	if err != nil || p.KeyID != k1.ID || p.Tenant != ref || p.TenantStatus != tenantapi.TenantActive ||
		p.ExpiresAt == nil || !p.ExpiresAt.Equal(expires) {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	_, err = s.keys.Authenticate(t.Context(), tenantapi.HashAPIKey("tak_unknown"))
	wantErr(t, err, tenantapi.ErrUnauthorized)

	// An expired key still authenticates here: the caller checks expiry.
	past := time.Now().Add(-time.Hour)
	_, secret2, err := s.keys.CreateKey(t.Context(), "acme", "old", &past)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.keys.Authenticate(t.Context(), tenantapi.HashAPIKey(secret2)); err != nil || !p.ExpiresAt.Before(time.Now()) {
		t.Errorf("Authenticate(expired) = %+v, %v; want the principal with its expiry", p, err)
	}

	keys, err := s.keys.Keys(t.Context(), "acme")
	if err != nil || len(keys) != 2 || keys[1].ID != k1.ID {
		t.Fatalf("Keys = %+v, %v; want 2, newest first", keys, err)
	}
	if keys, err := s.keys.Keys(t.Context(), "other"); err != nil || keys == nil || len(keys) != 0 {
		t.Errorf("Keys(no keys) = %#v, %v; want empty", keys, err)
	}
	_, err = s.keys.Keys(t.Context(), "nobody")
	wantErr(t, err, tenantapi.ErrTenantNotFound)
	_, _, err = s.keys.CreateKey(t.Context(), "nobody", "", nil)
	wantErr(t, err, tenantapi.ErrTenantNotFound)

	// Revocation: only through the owning tenant, once.
	wantErr(t, s.keys.RevokeKey(t.Context(), "other", k1.ID), tenantapi.ErrNotFound)
	if err := s.keys.RevokeKey(t.Context(), "acme", k1.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.keys.RevokeKey(t.Context(), "acme", k1.ID), tenantapi.ErrNotFound)
	wantErr(t, s.keys.RevokeKey(t.Context(), "", "nosuchkey"), tenantapi.ErrNotFound)
	_, err = s.keys.Authenticate(t.Context(), hash)
	wantErr(t, err, tenantapi.ErrUnauthorized)
	keys, _ = s.keys.Keys(t.Context(), "acme")
	if keys[1].RevokedAt == nil {
		t.Error("revoked key listed without RevokedAt")
	}

	// Revocation by name, without a tenant check.
	_, secret3, _ := s.keys.CreateKey(t.Context(), "acme", "demo", nil)
	_, secret4, _ := s.keys.CreateKey(t.Context(), "acme", "demo", nil)
	if n, err := s.keys.RevokeKeysNamed(t.Context(), "acme", "demo"); n != 2 || err != nil {
		t.Errorf("RevokeKeysNamed = %d, %v; want 2", n, err)
	}
	for _, secret := range []string{secret3, secret4} {
		_, err = s.keys.Authenticate(t.Context(), tenantapi.HashAPIKey(secret))
		wantErr(t, err, tenantapi.ErrUnauthorized)
	}
	_, err = s.keys.RevokeKeysNamed(t.Context(), "nobody", "demo")
	wantErr(t, err, tenantapi.ErrTenantNotFound)
	_, secret5, _ := s.keys.CreateKey(t.Context(), "other", "x", nil)
	k5ID, _, _ := tenantapi.ParseAPIKey(secret5)
	if err := s.keys.RevokeKey(t.Context(), "", k5ID); err != nil {
		t.Errorf("RevokeKey without tenant: %v", err)
	}
}

func TestKeysFollowTenantStatus(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "acme")
	_, secret, _ := s.keys.CreateKey(t.Context(), "acme", "", nil)
	suspended := tenantapi.TenantSuspended
	if _, err := s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	p, err := s.keys.Authenticate(t.Context(), tenantapi.HashAPIKey(secret))
	if err != nil || p.TenantStatus != tenantapi.TenantSuspended {
		t.Errorf("Authenticate = %+v, %v; want suspended", p, err)
	}

	if _, err := s.tenants.MarkTenantDeleting(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	_, err = s.keys.Authenticate(t.Context(), tenantapi.HashAPIKey(secret))
	wantErr(t, err, tenantapi.ErrUnauthorized)
	_, _, err = s.keys.CreateKey(t.Context(), "acme", "", nil)
	wantErr(t, err, tenantapi.ErrTenantNotFound)
	_, err = s.keys.Keys(t.Context(), "acme")
	wantErr(t, err, tenantapi.ErrTenantNotFound)
}

func TestRecreatedTenantDoesNotReviveKeys(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "acme")
	_, secret, _ := s.keys.CreateKey(t.Context(), "acme", "", nil)
	// Simulate a key that escaped revocation (say, revoked_at cleared by
	// hand): it must still die with the tenant's identity.
	s.exec(t, `UPDATE public.tenants SET status = 'deleting' WHERE id = 'acme'`)
	if err := s.tenants.DropTenant(t.Context(), "acme", time.Second); err != nil {
		t.Fatal(err)
	}
	ref := s.createTenant(t, "acme")
	_, err := s.keys.Authenticate(t.Context(), tenantapi.HashAPIKey(secret))
	wantErr(t, err, tenantapi.ErrUnauthorized)
	if keys, _ := s.keys.Keys(t.Context(), "acme"); len(keys) != 0 {
		t.Errorf("re-created tenant %+v lists old keys %+v", ref, keys)
	}
}
