package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantapi/tenantapi"
)

// The built-in items resource through RowStore, the code path every
// resource takes.

// execModes are the statement modes Config accepts; the item tests run in
// each, as the types of parameters are inferred differently in each.
var execModes = []string{"exec", "cache_describe", "cache_statement"}

// The recorded items resource has the shape the tests (here and in
// httpapi) build their values for.
func TestItemsResource(t *testing.T) {
	t.Parallel()
	s := setup(t)
	res := itemsAt(t, s.db, s.createTenant(t, "acme"))
	want := []tenantapi.Field{
		{Name: "name", Type: tenantapi.Type{Kind: tenantapi.KindString, SQL: "character varying(200)", MaxLength: 200}, NotNull: true},
		{Name: "description", Type: tenantapi.Type{Kind: tenantapi.KindString, SQL: "character varying(10000)", MaxLength: 10000}, NotNull: true, HasDefault: true},
		{Name: "attributes", Type: tenantapi.Type{Kind: tenantapi.KindJSON, SQL: "jsonb"}, NotNull: true, HasDefault: true},
	}
	if len(res.Fields) != len(want) {
		t.Fatalf("items fields = %+v, want %+v", res.Fields, want)
	}
	for i, f := range res.Fields {
		w := want[i]
		if f.Name != w.Name || !equalType(f.Type, w.Type) || f.NotNull != w.NotNull || f.HasDefault != w.HasDefault || f.Generated || f.Filterable {
			t.Errorf("field %d = %+v, want %+v", i, f, w)
		}
	}
	if !res.Versioned || !res.Created || !res.Updated {
		t.Errorf("items managed columns = %+v, want version, created_at and updated_at", res)
	}
	var checked []string
	for _, c := range res.Checks {
		checked = append(checked, c.Columns...)
	}
	slices.Sort(checked)
	if !slices.Equal(checked, []string{"attributes", "name"}) {
		t.Errorf("items checks = %+v, want one on name and one on attributes", res.Checks)
	}
}

func TestItemCRUD(t *testing.T) {
	t.Parallel()
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := setupWith(t, Config{ExecMode: mode})
			testItemCRUD(t, s, s.createTenant(t, "acme"))
		})
	}
}

func testItemCRUD(t *testing.T, s *stores, ref tenantapi.TenantRef) {
	ctx := t.Context()
	res := itemsAt(t, s.db, ref)
	before := time.Now().UTC().Truncate(time.Microsecond)
	attrs := `{"n":[1,{"x":null}],"color":"red"}`
	c, err := s.rows.Create(ctx, ref, res, values(res, map[string]string{"name": "Widget", "description": "blue", "attributes": attrs}), nil)
	if err != nil {
		t.Fatal(err)
	}
	it := decodeItem(t, c.Row)
	created := apiTime(t, it.CreatedAt)
	if c.Replayed || c.Row.ID.Version() != 7 || it.Name != "Widget" || it.Description != "blue" || c.Row.Version != 1 ||
		it.CreatedAt != it.UpdatedAt || created.Before(before) || !equalJSON(t, it.Attributes, attrs) {
		t.Fatalf("Create = %+v, JSON %s", c, c.Row.JSON)
	}

	got, err := s.rows.Get(ctx, ref, res, c.Row.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.JSON) != string(c.Row.JSON) {
		t.Errorf("Get = %s, Create returned %s: one version, two texts", got.JSON, c.Row.JSON)
	}
	if got.ID != c.Row.ID || got.Version != 1 {
		t.Errorf("Get = %+v, want id %s version 1", got, c.Row.ID)
	}
	_, err = s.rows.Get(ctx, ref, res, uuid.Must(uuid.NewV7()))
	wantErr(t, err, tenantapi.ErrItemNotFound)

	// Replace with the preconditions of If-Match.
	v := func(vs ...int64) tenantapi.Precondition { return tenantapi.Precondition{Present: true, Versions: vs} }
	steps := []struct {
		name    string
		pre     tenantapi.Precondition
		wantErr error
		wantVer int64
	}{
		{"absent", tenantapi.Precondition{}, nil, 2},
		{"stale", v(1), tenantapi.ErrPreconditionFailed, 0},
		{"current", v(2), nil, 3},
		{"list", v(9, 3, 1), nil, 4},
		{"star", tenantapi.Precondition{Present: true, Any: true}, nil, 5},
		{"empty list", v(), tenantapi.ErrPreconditionFailed, 0},
	}
	updated := created
	for _, st := range steps {
		row, err := s.rows.Replace(ctx, ref, res, c.Row.ID, item(res, "Widget "+st.name, `{}`), st.pre)
		if !errors.Is(err, st.wantErr) || (err == nil && row.Version != st.wantVer) {
			t.Fatalf("Replace(%s) = v%d, %v; want v%d, %v", st.name, row.Version, err, st.wantVer, st.wantErr)
		}
		if err != nil {
			continue
		}
		got := decodeItem(t, row)
		if got.Name != "Widget "+st.name || got.Description != "" || string(got.Attributes) != `{}` ||
			got.CreatedAt != it.CreatedAt || apiTime(t, got.UpdatedAt).Before(updated) {
			t.Errorf("Replace(%s) = %s", st.name, row.JSON)
		}
		updated = apiTime(t, got.UpdatedAt)
	}
	_, err = s.rows.Replace(ctx, ref, res, uuid.Must(uuid.NewV7()), item(res, "x", `{}`), v(1))
	wantErr(t, err, tenantapi.ErrItemNotFound) // 404 comes before 412

	// Check.
	wantErr(t, s.rows.Check(ctx, ref, res, c.Row.ID, v(4)), tenantapi.ErrPreconditionFailed)
	if err := s.rows.Check(ctx, ref, res, c.Row.ID, v(5)); err != nil {
		t.Errorf("Check(current) = %v", err)
	}
	wantErr(t, s.rows.Check(ctx, ref, res, uuid.Must(uuid.NewV7()), tenantapi.Precondition{}), tenantapi.ErrItemNotFound)

	// Patch, reading the row (a merge into the attributes).
	attrsField := fieldOf(res, "attributes")
	patched, err := s.rows.Patch(ctx, ref, res, c.Row.ID, v(5), true, func(cur *tenantapi.Row) ([]tenantapi.Value, error) {
		if cur == nil || cur.Version != 5 || decodeItem(t, *cur).Name != "Widget star" {
			t.Errorf("patch got %+v, want the row at version 5", cur)
		}
		return []tenantapi.Value{
			{Field: fieldOf(res, "description"), Text: "patched"},
			{Field: attrsField, Text: `{"a": 1}`},
		}, nil
	})
	if p := decodeItem(t, patched); err != nil || patched.Version != 6 || p.Name != "Widget star" || p.Description != "patched" || !equalJSON(t, p.Attributes, `{"a":1}`) {
		t.Fatalf("Patch = %s, %v", patched.JSON, err)
	}
	_, err = s.rows.Patch(ctx, ref, res, c.Row.ID, v(5), true, func(*tenantapi.Row) ([]tenantapi.Value, error) {
		t.Error("patch called despite a failed precondition")
		return nil, nil
	})
	wantErr(t, err, tenantapi.ErrPreconditionFailed)
	patchErr := &tenantapi.Error{Code: tenantapi.CodeValidationFailed, Detail: "nope"}
	for _, merge := range []bool{true, false} {
		_, err = s.rows.Patch(ctx, ref, res, c.Row.ID, tenantapi.Precondition{}, merge, func(*tenantapi.Row) ([]tenantapi.Value, error) {
			return nil, patchErr
		})
		if err != patchErr {
			t.Errorf("Patch(merge %v) returned %v, want patch's error as is", merge, err)
		}
	}
	_, err = s.rows.Patch(ctx, ref, res, uuid.Must(uuid.NewV7()), tenantapi.Precondition{}, true, nil)
	wantErr(t, err, tenantapi.ErrItemNotFound)

	// Patch without reading: only the columns named change.
	patched, err = s.rows.Patch(ctx, ref, res, c.Row.ID, v(6), false, func(cur *tenantapi.Row) ([]tenantapi.Value, error) {
		if cur != nil {
			t.Errorf("patch without merge got %+v, want nil", cur)
		}
		return []tenantapi.Value{{Field: fieldOf(res, "name"), Text: "Renamed"}}, nil
	})
	if p := decodeItem(t, patched); err != nil || patched.Version != 7 || p.Name != "Renamed" || p.Description != "patched" || !equalJSON(t, p.Attributes, `{"a":1}`) {
		t.Fatalf("Patch without merge = %s, %v", patched.JSON, err)
	}
	_, err = s.rows.Patch(ctx, ref, res, c.Row.ID, v(6), false, func(*tenantapi.Row) ([]tenantapi.Value, error) {
		return []tenantapi.Value{{Field: fieldOf(res, "name"), Text: "Stale"}}, nil
	})
	wantErr(t, err, tenantapi.ErrPreconditionFailed)
	_, err = s.rows.Patch(ctx, ref, res, uuid.Must(uuid.NewV7()), tenantapi.Precondition{}, false, func(*tenantapi.Row) ([]tenantapi.Value, error) {
		return []tenantapi.Value{{Field: fieldOf(res, "name"), Text: "Nobody"}}, nil
	})
	wantErr(t, err, tenantapi.ErrItemNotFound)

	// Delete.
	wantErr(t, s.rows.Delete(ctx, ref, res, c.Row.ID, v(1)), tenantapi.ErrPreconditionFailed)
	if err := s.rows.Delete(ctx, ref, res, c.Row.ID, v(7)); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	wantErr(t, s.rows.Delete(ctx, ref, res, c.Row.ID, tenantapi.Precondition{}), tenantapi.ErrItemNotFound)
	_, err = s.rows.Get(ctx, ref, res, c.Row.ID)
	wantErr(t, err, tenantapi.ErrItemNotFound)
}

func TestConcurrentWritersWithSameIfMatch(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	const writers = 8
	for _, op := range []string{"replace", "delete", "patch"} {
		t.Run(op, func(t *testing.T) {
			c, err := s.rows.Create(t.Context(), ref, res, item(res, "x", `{}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			id := c.Row.ID
			pre := tenantapi.Precondition{Present: true, Versions: []int64{1}}
			errs := make([]error, writers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					<-start
					switch op {
					case "replace":
						_, errs[i] = s.rows.Replace(t.Context(), ref, res, id, item(res, fmt.Sprint("w", i), `{}`), pre)
					case "delete":
						errs[i] = s.rows.Delete(t.Context(), ref, res, id, pre)
					case "patch":
						_, errs[i] = s.rows.Patch(t.Context(), ref, res, id, pre, true, func(*tenantapi.Row) ([]tenantapi.Value, error) {
							return item(res, fmt.Sprint("w", i), `{}`), nil
						})
					}
				})
			}
			close(start)
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case errors.Is(err, tenantapi.ErrPreconditionFailed), op == "delete" && errors.Is(err, tenantapi.ErrItemNotFound):
				default:
					t.Errorf("loser got %v", err)
				}
			}
			if won != 1 {
				t.Errorf("%d writers won, want exactly 1", won)
			}
			if op != "delete" {
				got, _ := s.rows.Get(t.Context(), ref, res, id)
				if got.Version != 2 {
					t.Errorf("version = %d after one winning write, want 2", got.Version)
				}
			}
		})
	}
}

// Without If-Match, concurrent patches that read the row all land: none
// is lost.
func TestConcurrentPatchesWithoutPrecondition(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	c, err := s.rows.Create(t.Context(), ref, res, item(res, "counter", `{"n": 0}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	attrs := fieldOf(res, "attributes")
	const writers = 6
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			_, err := s.rows.Patch(t.Context(), ref, res, c.Row.ID, tenantapi.Precondition{}, true, func(cur *tenantapi.Row) ([]tenantapi.Value, error) {
				var it struct{ Attributes struct{ N int } }
				if err := json.Unmarshal(cur.JSON, &it); err != nil {
					return nil, err
				}
				return []tenantapi.Value{{Field: attrs, Text: fmt.Sprintf(`{"n": %d}`, it.Attributes.N+1)}}, nil
			})
			if err != nil {
				t.Errorf("Patch: %v", err)
			}
		})
	}
	wg.Wait()
	got, _ := s.rows.Get(t.Context(), ref, res, c.Row.ID)
	if it := decodeItem(t, got); got.Version != 1+writers || !equalJSON(t, it.Attributes, fmt.Sprintf(`{"n": %d}`, writers)) {
		t.Errorf("after %d patches: version %d, attributes %s", writers, got.Version, it.Attributes)
	}
}

func TestItemsPagination(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	create := func(name string) uuid.UUID {
		t.Helper()
		c, err := s.rows.Create(t.Context(), ref, res, item(res, name, `{}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Row.ID
	}
	var want []uuid.UUID
	for i := range 23 {
		want = append(want, create(fmt.Sprint("item ", i)))
	}
	slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })

	var got []uuid.UUID
	var after *uuid.UUID
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, more, err := s.rows.List(t.Context(), ref, res, tenantapi.RowQuery{After: after, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 5 != more && pages > 2 {
			// Once no item is created behind the traversal: more says
			// whether items follow (23 + 3 late ones: pages of 5, 5, 5, 5, 5, 1).
			t.Errorf("page %d of %d items: more = %v", pages, len(page), more)
		}
		if len(page) > 5 {
			t.Fatalf("page of %d, limit 5", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, row := range page {
			if it := decodeItem(t, row); it.Version != 1 {
				t.Errorf("listed item %s at version %d, want 1", row.ID, it.Version)
			}
			got = append(got, row.ID)
		}
		last := page[len(page)-1].ID
		after = &last
		// Items created during the traversal never make one repeat.
		if pages > 2 {
			continue
		}
		create("late")
	}
	seen := map[uuid.UUID]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("item %s listed twice", id)
		}
		seen[id] = true
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("item %s never listed", id)
		}
	}
	if !slices.IsSortedFunc(got, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) }) {
		t.Error("items not ordered by id")
	}
	for range tenantapi.DefaultPageLimit {
		create("more")
	}
	if page, _, err := s.rows.List(t.Context(), ref, res, tenantapi.RowQuery{}); err != nil || len(page) != tenantapi.DefaultPageLimit {
		t.Errorf("List(limit 0) = %d items, %v; want the default %d", len(page), err, tenantapi.DefaultPageLimit)
	}
}

func TestItemsAreIsolatedByTenant(t *testing.T) {
	t.Parallel()
	s := setup(t)
	a := s.createTenant(t, "a")
	b := s.createTenant(t, "b")
	res := itemsAt(t, s.db, a)
	c, err := s.rows.Create(t.Context(), a, res, item(res, "secret", `{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := c.Row.ID
	_, err = s.rows.Get(t.Context(), b, res, id)
	wantErr(t, err, tenantapi.ErrItemNotFound)
	if page, _, err := s.rows.List(t.Context(), b, res, tenantapi.RowQuery{Limit: 10}); err != nil || len(page) != 0 {
		t.Errorf("List(b) = %v, %v; want none", page, err)
	}
	_, err = s.rows.Replace(t.Context(), b, res, id, item(res, "stolen", `{}`), tenantapi.Precondition{})
	wantErr(t, err, tenantapi.ErrItemNotFound)
	_, err = s.rows.Patch(t.Context(), b, res, id, tenantapi.Precondition{}, true, nil)
	wantErr(t, err, tenantapi.ErrItemNotFound)
	wantErr(t, s.rows.Delete(t.Context(), b, res, id, tenantapi.Precondition{}), tenantapi.ErrItemNotFound)
	wantErr(t, s.rows.Check(t.Context(), b, res, id, tenantapi.Precondition{}), tenantapi.ErrItemNotFound)
	got, err := s.rows.Get(t.Context(), a, res, id)
	if err != nil || got.Version != 1 || decodeItem(t, got).Name != "secret" {
		t.Errorf("Get(a) = %+v, %v; want it untouched", got, err)
	}
}

func TestItemsOfDroppedTenant(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "gone")
	res := itemsAt(t, s.db, ref)
	c, _ := s.rows.Create(t.Context(), ref, res, item(res, "x", `{}`), nil)
	id := c.Row.ID
	s.exec(t, `DROP SCHEMA "tenant_gone" CASCADE`)
	idem := &tenantapi.Idempotency{Key: "k"}
	calls := map[string]func(ctx context.Context) error{
		"create": func(ctx context.Context) error {
			_, err := s.rows.Create(ctx, ref, res, item(res, "x", `{}`), nil)
			return err
		},
		"create idempotent": func(ctx context.Context) error {
			_, err := s.rows.Create(ctx, ref, res, item(res, "x", `{}`), idem)
			return err
		},
		"get": func(ctx context.Context) error {
			_, err := s.rows.Get(ctx, ref, res, id)
			return err
		},
		"list": func(ctx context.Context) error {
			_, _, err := s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 10})
			return err
		},
		"replace": func(ctx context.Context) error {
			_, err := s.rows.Replace(ctx, ref, res, id, item(res, "y", `{}`), tenantapi.Precondition{})
			return err
		},
		"patch": func(ctx context.Context) error {
			_, err := s.rows.Patch(ctx, ref, res, id, tenantapi.Precondition{}, true, nil)
			return err
		},
		"delete": func(ctx context.Context) error { return s.rows.Delete(ctx, ref, res, id, tenantapi.Precondition{}) },
		"check":  func(ctx context.Context) error { return s.rows.Check(ctx, ref, res, id, tenantapi.Precondition{}) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			wantErr(t, call(t.Context()), tenantapi.ErrTenantNotFound)

			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			wantCode(t, call(ctx), tenantapi.CodeUnavailable)
		})
	}
}

func TestItemTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	testItemTimeout(t, setup(t), 100*time.Millisecond)
}

// testItemTimeout lists items while the table is locked, with a deadline
// of d: unavailable.
func testItemTimeout(t *testing.T, s *stores, d time.Duration) {
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	tx, err := s.db.owner.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(t.Context()))
	if _, err := tx.Exec(t.Context(), `LOCK TABLE "tenant_acme".items IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	_, _, err = s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 10})
	wantCode(t, err, tenantapi.CodeUnavailable)
	var de *tenantapi.Error
	if errors.As(err, &de) && de.Detail != errUnavailable {
		t.Errorf("Detail = %q, want %q", de.Detail, errUnavailable)
	}
}
