package postgres

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi"
)

func TestMigrateStatus(t *testing.T) {
	t.Parallel()
	s := setup(t)
	st, err := s.mig.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Latest != LatestTenantVersion() || len(st.Versions) != 0 || len(st.Behind) != 0 || len(st.Failed) != 0 {
		t.Errorf("empty fleet: %+v", st)
	}

	for _, id := range []string{"alpha", "beta", "broken", "going"} {
		s.createTenant(t, tenantapi.TenantID(id))
	}
	if _, err := s.tenants.MarkTenantDeleting(t.Context(), "going"); err != nil {
		t.Fatal(err)
	}
	v1 := LatestTenantVersion()
	m2 := s.mig.WithTenantMigrations(Migration{Version: v1 + 1, Name: "extra", SQL: `CREATE TABLE extra (id int)`})
	// broken already has the table, so its migration fails.
	s.exec(t, `CREATE TABLE "tenant_broken".extra (id int)`)
	rep, err := m2.MigrateTenants(t.Context(), MigrateOptions{Tenant: "broken"})
	if err != nil || len(rep.Failed) != 1 {
		t.Fatalf("MigrateTenants(broken) = %+v, %v", rep, err)
	}
	if _, err := m2.MigrateTenants(t.Context(), MigrateOptions{Tenant: "alpha"}); err != nil {
		t.Fatal(err)
	}

	st, err = m2.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []VersionCount{{v1, 2, 1}, {v1 + 1, 1, 0}}; !reflect.DeepEqual(st.Versions, want) || st.Latest != v1+1 {
		t.Errorf("versions = %+v (latest %d), want %+v", st.Versions, st.Latest, want)
	}
	if want := []TenantVersion{{Tenant: "beta", Version: v1}}; !reflect.DeepEqual(st.Behind, want) {
		t.Errorf("behind = %+v, want %+v", st.Behind, want)
	}
	if len(st.Failed) != 1 || st.Failed[0].Tenant != "broken" || st.Failed[0].Version != v1 ||
		!strings.Contains(st.Failed[0].Error, "extra") {
		t.Errorf("failed = %+v", st.Failed)
	}

	// The embedded migrator sees nobody behind; the failure stays listed
	// until a run succeeds.
	st, err = s.mig.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Behind) != 0 || len(st.Failed) != 1 {
		t.Errorf("against the embedded migrations: %+v", st)
	}
}
