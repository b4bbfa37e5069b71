package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantapi/tenantapi"
)

// A write that waits for another transaction's write to its item, and
// loses, is answered as if it had come after that write: an item deleted
// under it is not found (never 412, the answer for a precondition the item
// does not meet), and an If-Match the new version still meets goes on to
// write. Each case holds the row in an open transaction, starts the call,
// waits until it is blocked on that transaction, then commits.
func TestWriteRacingAnotherWrite(t *testing.T) {
	t.Parallel()
	const (
		deleteRow = `DELETE FROM %s.items WHERE id = $1`
		updateRow = `UPDATE %s.items SET version = version + 1 WHERE id = $1`
	)
	none := tenantapi.Precondition{}
	star := tenantapi.Precondition{Present: true, Any: true}
	v := func(vs ...int64) tenantapi.Precondition { return tenantapi.Precondition{Present: true, Versions: vs} }
	cases := []struct {
		name    string
		holder  string // what the other transaction does to the item
		call    rowCall
		wantErr error // nil: the call writes
	}{
		{"delete racing a delete", deleteRow, deleteCall(none), tenantapi.ErrItemNotFound},
		{"delete If-Match 1 racing a delete", deleteRow, deleteCall(v(1)), tenantapi.ErrItemNotFound},
		{"delete If-Match * racing a delete", deleteRow, deleteCall(star), tenantapi.ErrItemNotFound},
		{"put racing a delete", deleteRow, replaceCall(none), tenantapi.ErrItemNotFound},
		{"put If-Match 1 racing a delete", deleteRow, replaceCall(v(1)), tenantapi.ErrItemNotFound},
		{"put If-Match * racing a delete", deleteRow, replaceCall(star), tenantapi.ErrItemNotFound},
		{"patch racing a delete", deleteRow, patchCall(none), tenantapi.ErrItemNotFound},
		{"patch If-Match 1 racing a delete", deleteRow, patchCall(v(1)), tenantapi.ErrItemNotFound},
		{"patch without merge racing a delete", deleteRow, setCall(none), tenantapi.ErrItemNotFound},
		{"patch without merge If-Match 1 racing a delete", deleteRow, setCall(v(1)), tenantapi.ErrItemNotFound},
		{"put If-Match 1 racing an update", updateRow, replaceCall(v(1)), tenantapi.ErrPreconditionFailed},
		{"put If-Match 1, 2 racing an update", updateRow, replaceCall(v(1, 2)), nil},
		{"patch If-Match 1 racing an update", updateRow, patchCall(v(1)), tenantapi.ErrPreconditionFailed},
		{"patch If-Match 1, 2 racing an update", updateRow, patchCall(v(1, 2)), nil},
		{"patch without merge If-Match 1 racing an update", updateRow, setCall(v(1)), tenantapi.ErrPreconditionFailed},
		{"patch without merge If-Match 1, 2 racing an update", updateRow, setCall(v(1, 2)), nil},
		{"delete If-Match 1 racing an update", updateRow, deleteCall(v(1)), tenantapi.ErrPreconditionFailed},
	}
	for _, tenantRoles := range []bool{false, true} {
		t.Run(fmt.Sprintf("tenant_roles=%v", tenantRoles), func(t *testing.T) {
			t.Parallel()
			db, _ := runtimeSetup(t, tenantRoles)
			tn, err := NewTenantStore(db, nil).CreateTenant(t.Context(), "acme", "Acme")
			if err != nil {
				t.Fatal(err)
			}
			ref := tenantRef(tn)
			rows, res := NewRowStore(db), itemsAt(t, db, ref)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					created, err := rows.Create(t.Context(), ref, res, item(res, "x", `{}`), nil)
					if err != nil {
						t.Fatal(err)
					}
					id := created.Row.ID
					err = whileHeld(t, db, fmt.Sprintf(c.holder, quotedSchema(ref.ID)), id, func() error {
						return c.call(t.Context(), rows, ref, res, id)
					})
					if !errors.Is(err, c.wantErr) {
						t.Errorf("error = %v, want %v", err, c.wantErr)
					}
				})
			}
		})
	}
}

// rowCall is one write of a race: a RowStore call on the row id.
type rowCall func(ctx context.Context, s *RowStore, ref tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID) error

func deleteCall(pre tenantapi.Precondition) rowCall {
	return func(ctx context.Context, s *RowStore, ref tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID) error {
		return s.Delete(ctx, ref, res, id, pre)
	}
}

func replaceCall(pre tenantapi.Precondition) rowCall {
	return func(ctx context.Context, s *RowStore, ref tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID) error {
		_, err := s.Replace(ctx, ref, res, id, item(res, "replaced", `{}`), pre)
		return err
	}
}

// patchCall is a PATCH that reads the row (a merge).
func patchCall(pre tenantapi.Precondition) rowCall {
	return func(ctx context.Context, s *RowStore, ref tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID) error {
		_, err := s.Patch(ctx, ref, res, id, pre, true, func(*tenantapi.Row) ([]tenantapi.Value, error) {
			return item(res, "patched", `{}`), nil
		})
		return err
	}
}

// setCall is a PATCH that only sets a column, without reading the row.
func setCall(pre tenantapi.Precondition) rowCall {
	return func(ctx context.Context, s *RowStore, ref tenantapi.TenantRef, res *tenantapi.Resource, id uuid.UUID) error {
		_, err := s.Patch(ctx, ref, res, id, pre, false, func(*tenantapi.Row) ([]tenantapi.Value, error) {
			return []tenantapi.Value{{Field: fieldOf(res, "name"), Text: "set"}}, nil
		})
		return err
	}
}

// whileHeld runs holder (SQL taking $1 = id) in an open owner transaction,
// starts call, waits until call's statement is blocked on that
// transaction, commits it, and returns what call returns.
func whileHeld(t *testing.T, db *DB, holder string, id uuid.UUID, call func() error) error {
	t.Helper()
	ctx := t.Context()
	tx, err := db.owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var pid int32
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if tag, err := tx.Exec(ctx, holder, id); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("holder %q: %v, %d rows", holder, err, tag.RowsAffected())
	}
	done := make(chan error, 1)
	go func() { done <- call() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := db.owner.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_stat_activity
			WHERE $1::int = ANY(pg_catalog.pg_blocking_pids(pid))`, pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the call did not wait for the transaction holding the row: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never blocked on the transaction holding the row")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not finish after the holder committed")
		return nil
	}
}
