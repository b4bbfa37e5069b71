package postgres

import (
	"slices"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
)

// TestChangeFeed reads the feed as the runtime role, as a serving process
// does, after each kind of registry write: revocations and tenant updates
// are reported, creations are not, and a read reports everything committed
// after the read before it.
func TestChangeFeed(t *testing.T) {
	t.Parallel()
	db, _ := runtimeSetup(t, true)
	ctx := t.Context()
	tenants, keys, feed := NewTenantStore(db, nil), NewKeyStore(db), NewChangeStore(db)

	first, err := feed.RegistryChanges(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Until.IsZero() || !first.Reset || len(first.RevokedKeys)+len(first.Tenants) != 0 {
		t.Fatalf("a zero since must return only the time, with Reset: %+v", first)
	}
	read := func(since time.Time) tenantapi.RegistryChanges {
		t.Helper()
		c, err := feed.RegistryChanges(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Until.After(since) || c.Reset {
			t.Errorf("Until %v is not after since %v, or Reset", c.Until, since)
		}
		return c
	}

	for _, id := range []tenantapi.TenantID{"a", "b", "c"} {
		if _, err := tenants.CreateTenant(ctx, id, "T"); err != nil {
			t.Fatal(err)
		}
	}
	keyA, secretA, err := keys.CreateKey(ctx, "a", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, secretC, err := keys.CreateKey(ctx, "c", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := read(first.Until)
	if len(c.RevokedKeys)+len(c.Tenants) != 0 {
		t.Fatalf("creations were reported as changes: %+v", c)
	}

	if err := keys.RevokeKey(ctx, "a", keyA.ID); err != nil {
		t.Fatal(err)
	}
	suspended := tenantapi.TenantSuspended
	if _, err := tenants.UpdateTenant(ctx, "b", tenantapi.TenantUpdate{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.MarkTenantDeleting(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	c = read(c.Until)
	for _, secret := range []string{secretA, secretC} {
		if !slices.Contains(c.RevokedKeys, tenantapi.HashAPIKey(secret)) {
			t.Errorf("a revoked key is missing from %d reported", len(c.RevokedKeys))
		}
	}
	slices.Sort(c.Tenants)
	if !slices.Equal(c.Tenants, []tenantapi.TenantID{"b", "c"}) {
		t.Errorf("changed tenants %v, want [b c]", c.Tenants)
	}

	// A dropped tenant leaves a tombstone; the feed reports it as changed.
	if err := tenants.DropTenant(ctx, "c", time.Second); err != nil {
		t.Fatal(err)
	}
	dropped, err := feed.RegistryChanges(ctx, c.Until.Add(changeLookback)) // looks back to c.Until only
	if err != nil || !slices.Equal(dropped.Tenants, []tenantapi.TenantID{"c"}) {
		t.Errorf("after the drop: changed tenants %v (%v), want [c]", dropped.Tenants, err)
	}

	// The feed looks back changeLookback before since, no further, and
	// cannot tell changes from before its tombstones.
	c, err = feed.RegistryChanges(ctx, c.Until.Add(changeLookback+time.Second))
	if err != nil || c.Reset || len(c.RevokedKeys)+len(c.Tenants) != 0 {
		t.Errorf("past the lookback: %+v, %v", c, err)
	}
	c, err = feed.RegistryChanges(ctx, c.Until.Add(-tombstoneRetention))
	if err != nil || !c.Reset {
		t.Errorf("since older than the tombstones: %+v, %v", c, err)
	}
}
