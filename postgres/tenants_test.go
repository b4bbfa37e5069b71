package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	s := setup(t)
	before := time.Now().Add(-time.Minute)
	tn, err := s.tenants.CreateTenant(t.Context(), "acme", "Acme Inc.")
	if err != nil {
		t.Fatal(err)
	}
	if tn.ID != "acme" || tn.Name != "Acme Inc." || tn.Status != tenantapi.TenantActive ||
		tn.UID == 0 || tn.SchemaVersion != LatestTenantVersion() || tn.CreatedAt.Before(before) ||
		tn.CreatedAt.Location() != time.UTC {
		t.Errorf("CreateTenant = %+v", tn)
	}
	if !s.schemaExists(t, "acme") {
		t.Error("schema tenant_acme missing")
	}
	if n := s.queryInt(t, `SELECT count(*) FROM "tenant_acme"._tenantapi_migrations`); n != len(builtinMigrations)+len(productMigrations) {
		t.Errorf("ledger has %d rows, want %d", n, len(builtinMigrations)+len(productMigrations))
	}
	got, err := s.tenants.Tenant(t.Context(), "acme")
	if err != nil || got != tn {
		t.Errorf("Tenant = %+v, %v; want %+v", got, err, tn)
	}

	_, err = s.tenants.CreateTenant(t.Context(), "acme", "again")
	wantErr(t, err, tenantapi.ErrTenantExists)

	_, err = s.tenants.CreateTenant(t.Context(), `x"; DROP SCHEMA public; --`, "evil")
	wantCode(t, err, tenantapi.CodeInvalidTenantID)

	_, err = s.tenants.Tenant(t.Context(), "nobody")
	wantErr(t, err, tenantapi.ErrTenantNotFound)
}

func TestCreateTenantLeftoverSchemaConflicts(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.exec(t, `CREATE SCHEMA "tenant_orphan"`)
	_, err := s.tenants.CreateTenant(t.Context(), "orphan", "Orphan")
	wantErr(t, err, tenantapi.ErrTenantExists)
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenants`); n != 0 {
		t.Errorf("%d registry rows after a failed create", n)
	}
}

func TestCreateTenantRace(t *testing.T) {
	t.Parallel()
	s := setup(t)
	const racers = 8
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			_, errs[i] = s.tenants.CreateTenant(t.Context(), "race", fmt.Sprint("racer ", i))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case tenantapi.ErrorCode(err) != tenantapi.CodeConflict:
			t.Errorf("loser got %v, want ErrTenantExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates succeeded, want exactly 1", won)
	}
}

func TestCreateTenantIsAtomic(t *testing.T) {
	t.Parallel()
	s := setup(t)
	broken := NewTenantStore(s.db, s.mig.WithTenantMigrations(Migration{Version: 2, Name: "broken", SQL: `
		CREATE TABLE more (id int);
		SELECT 1 / 0`}))
	_, err := broken.CreateTenant(t.Context(), "doomed", "Doomed")
	wantCode(t, err, tenantapi.CodeInternal)
	if s.schemaExists(t, "doomed") {
		t.Error("schema left behind by a failed create")
	}
	_, err = s.tenants.Tenant(t.Context(), "doomed")
	wantErr(t, err, tenantapi.ErrTenantNotFound)

	// The id is free for a create that works.
	s.createTenant(t, "doomed")
}

func TestTenantsPagination(t *testing.T) {
	t.Parallel()
	s := setup(t)
	var want []tenantapi.TenantID
	for i := range 7 {
		id := tenantapi.TenantID(fmt.Sprintf("t%d", 6-i)) // created out of order
		s.createTenant(t, id)
		want = append([]tenantapi.TenantID{id}, want...)
	}
	var got []tenantapi.TenantID
	after := ""
	for {
		page, err := s.tenants.Tenants(t.Context(), tenantapi.Page{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, tn := range page {
			got = append(got, tn.ID)
		}
		after = string(page[len(page)-1].ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed %v, want %v", got, want)
	}
}

func TestUpdateTenant(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "acme")
	ptr := func(s tenantapi.TenantStatus) *tenantapi.TenantStatus { return &s }
	name := "Acme 2"

	tn, err := s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{Name: &name, Status: ptr(tenantapi.TenantSuspended)})
	if err != nil || tn.Name != name || tn.Status != tenantapi.TenantSuspended || tn.ID != "acme" {
		t.Fatalf("UpdateTenant = %+v, %v", tn, err)
	}
	tn, err = s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{Status: ptr(tenantapi.TenantActive)})
	if err != nil || tn.Name != name || tn.Status != tenantapi.TenantActive {
		t.Fatalf("UpdateTenant(status only) = %+v, %v", tn, err)
	}
	if _, err := s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{}); err != nil {
		t.Errorf("empty update: %v", err)
	}
	_, err = s.tenants.UpdateTenant(t.Context(), "acme", tenantapi.TenantUpdate{Status: ptr(tenantapi.TenantDeleting)})
	wantCode(t, err, tenantapi.CodeValidationFailed)
	_, err = s.tenants.UpdateTenant(t.Context(), "nobody", tenantapi.TenantUpdate{Name: &name})
	wantErr(t, err, tenantapi.ErrTenantNotFound)

	if _, err := s.tenants.MarkTenantDeleting(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []tenantapi.TenantUpdate{{Name: &name}, {Status: ptr(tenantapi.TenantActive)}, {}} {
		_, err = s.tenants.UpdateTenant(t.Context(), "acme", u)
		wantErr(t, err, tenantapi.ErrTenantNotFound)
	}
}

func TestTenantStatus(t *testing.T) {
	t.Parallel()
	s := setup(t)
	want := s.createTenant(t, "acme")
	ref, status, _, err := s.tenants.TenantStatus(t.Context(), "acme")
	if err != nil || ref != want || status != tenantapi.TenantActive {
		t.Errorf("TenantStatus = %+v, %s, %v; want %+v, active", ref, status, err, want)
	}
	_, _, _, err = s.tenants.TenantStatus(t.Context(), "nobody")
	wantErr(t, err, tenantapi.ErrTenantNotFound)
}

func TestDeleteTenant(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	_, _, err := s.keys.CreateKey(t.Context(), "acme", "k", nil)
	if err != nil {
		t.Fatal(err)
	}

	wantCode(t, s.tenants.DropTenant(t.Context(), "acme", time.Second), tenantapi.CodeConflict)

	since, err := s.tenants.MarkTenantDeleting(t.Context(), "acme")
	if err != nil || since.IsZero() || since.Location() != time.UTC {
		t.Fatalf("MarkTenantDeleting = %v, %v", since, err)
	}
	again, err := s.tenants.MarkTenantDeleting(t.Context(), "acme")
	if err != nil || !again.Equal(since) {
		t.Errorf("second MarkTenantDeleting = %v, %v; want the first time %v", again, err, since)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.api_keys WHERE revoked_at IS NULL`); n != 0 {
		t.Errorf("%d keys still active after the mark", n)
	}
	_, status, _, _ := s.tenants.TenantStatus(t.Context(), "acme")
	if status != tenantapi.TenantDeleting {
		t.Errorf("status = %s, want deleting", status)
	}
	_, err = s.tenants.CreateTenant(t.Context(), "acme", "too soon")
	wantErr(t, err, tenantapi.ErrTenantExists)

	// A request holding a lock on the tenant's table: the drop gives up
	// after the lock timeout and leaves the tenant deleting.
	tx, err := s.db.owner.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT count(*) FROM "tenant_acme".items`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.tenants.DropTenant(t.Context(), "acme", 100*time.Millisecond)
	wantCode(t, err, tenantapi.CodeUnavailable)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("DropTenant waited %v with a 100ms lock timeout", d)
	}
	tx.Rollback(t.Context())
	if _, status, _, _ := s.tenants.TenantStatus(t.Context(), "acme"); status != tenantapi.TenantDeleting || !s.schemaExists(t, "acme") {
		t.Fatalf("after a timed-out drop: status %s, schema exists %v; want deleting, true", status, s.schemaExists(t, "acme"))
	}

	// Repeating the delete finishes it.
	if err := s.tenants.DropTenant(t.Context(), "acme", time.Second); err != nil {
		t.Fatalf("DropTenant: %v", err)
	}
	if s.schemaExists(t, "acme") {
		t.Error("schema survived the drop")
	}
	_, err = s.tenants.Tenant(t.Context(), "acme")
	wantErr(t, err, tenantapi.ErrTenantNotFound)
	if n := s.queryInt(t, `SELECT count(*) FROM public.api_keys`); n != 0 {
		t.Errorf("%d keys survived the drop", n)
	}
	wantErr(t, s.tenants.DropTenant(t.Context(), "acme", time.Second), tenantapi.ErrTenantNotFound)
	_, err = s.tenants.MarkTenantDeleting(t.Context(), "acme")
	wantErr(t, err, tenantapi.ErrTenantNotFound)

	// The id can be used again, with a new identity.
	again2 := s.createTenant(t, "acme")
	if again2.UID == ref.UID {
		t.Errorf("re-created tenant reuses uid %d", ref.UID)
	}
}

func TestDropTenantWhileRequestsRun(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	if _, err := s.tenants.MarkTenantDeleting(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := s.rows.Create(ctx, ref, res, values(res, map[string]string{"name": "x"}), nil)
				if err == nil || ctx.Err() != nil {
					continue
				}
				// Never an internal error because of a delete.
				switch tenantapi.ErrorCode(err) {
				case tenantapi.CodeTenantNotFound, tenantapi.CodeUnavailable:
				default:
					t.Errorf("Create during drop: %v", err)
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	var err error
	for range 50 {
		if err = s.tenants.DropTenant(t.Context(), "acme", 200*time.Millisecond); tenantapi.ErrorCode(err) != tenantapi.CodeUnavailable {
			break
		}
	}
	if err != nil {
		t.Errorf("DropTenant: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	_, _, err = s.rows.List(t.Context(), ref, res, tenantapi.RowQuery{Limit: 10})
	wantErr(t, err, tenantapi.ErrTenantNotFound)
}

// The registry row lock is what keeps a migration and a drop apart.
func TestDropTenantWaitsForMigration(t *testing.T) {
	t.Parallel()
	s := setup(t)
	s.createTenant(t, "acme")
	if _, err := s.tenants.MarkTenantDeleting(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(t.Context(), s.db.owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `SELECT 1 FROM public.tenants WHERE id = 'acme' FOR UPDATE`); err != nil {
			return err
		}
		wantCode(t, s.tenants.DropTenant(t.Context(), "acme", 50*time.Millisecond), tenantapi.CodeUnavailable)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
