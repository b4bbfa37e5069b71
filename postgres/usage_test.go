package postgres

import (
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi"
)

func TestTenantUsage(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "small")
	s.createTenant(t, "big")
	s.exec(t, `INSERT INTO "tenant_big".items (id, name, attributes, created_at, updated_at)
		SELECT gen_random_uuid(), 'item ' || g, jsonb_build_object('pad', repeat(md5(g::text), 100)), now(), now()
		FROM generate_series(1, 300) g`)

	small, err := s.tenants.TenantUsage(t.Context(), "small")
	if err != nil {
		t.Fatal(err)
	}
	big, err := s.tenants.TenantUsage(t.Context(), "big")
	if err != nil {
		t.Fatal(err)
	}
	if small.Tenant != "small" || small.Items != 0 || small.Rows["items"] != 0 || len(small.Rows) != 1 || small.StorageBytes <= 0 {
		t.Errorf("small: %+v", small)
	}
	if big.Items != 300 || big.Rows["items"] != 300 || big.StorageBytes <= small.StorageBytes {
		t.Errorf("big: %+v, small: %+v", big, small)
	}
	// The sum covers exactly the schema's relations, indexes and TOAST included.
	want := s.queryInt(t, `SELECT sum(pg_total_relation_size(c.oid))::int FROM pg_class c
		WHERE c.relnamespace = 'tenant_big'::regnamespace AND c.relkind IN ('r', 'p', 'm', 'S')`)
	if big.StorageBytes != int64(want) {
		t.Errorf("big storage %d, want %d", big.StorageBytes, want)
	}

	_, err = s.tenants.TenantUsage(t.Context(), "nobody")
	wantErr(t, err, tenantapi.ErrTenantNotFound)
	_, err = s.tenants.TenantUsage(t.Context(), `x"; --`)
	wantErr(t, err, tenantapi.ErrTenantNotFound)
	if _, err := s.tenants.MarkTenantDeleting(t.Context(), "small"); err != nil {
		t.Fatal(err)
	}
	_, err = s.tenants.TenantUsage(t.Context(), "small")
	wantErr(t, err, tenantapi.ErrTenantNotFound)
}

// TestTenantUsagePlan checks that the storage sum reaches the tenant's
// relations through indexes, not a scan of pg_class.
func TestTenantUsagePlan(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "acme")
	rows, err := s.db.owner.Query(t.Context(), `EXPLAIN `+schemaSizeSQL, "tenant_acme")
	if err != nil {
		t.Fatal(err)
	}
	var plan string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan += line + "\n"
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"Seq Scan on pg_class", "Seq Scan on pg_depend"} {
		if strings.Contains(plan, bad) {
			t.Errorf("plan has %q:\n%s", bad, plan)
		}
	}
}
