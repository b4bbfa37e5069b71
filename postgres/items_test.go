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

// execModes are the statement modes Config accepts; the item tests run in
// each, as the types of parameters are inferred differently in each.
var execModes = []string{"exec", "cache_describe", "cache_statement"}

func input(name string, attrs string) tenantapi.ItemInput {
	return tenantapi.ItemInput{Name: name, Attributes: json.RawMessage(attrs)}
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
	before := time.Now().UTC()
	in := tenantapi.ItemInput{Name: "Widget", Description: "blue", Attributes: json.RawMessage(`{"n":[1,{"x":null}],"color":"red"}`)}
	c, err := s.items.CreateItem(ctx, ref, in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	it := c.Item
	if c.Replayed || it.ID.Version() != 7 || it.Name != "Widget" || it.Description != "blue" || it.Version != 1 ||
		it.CreatedAt != it.UpdatedAt || it.CreatedAt.Before(before.Truncate(time.Microsecond)) ||
		it.CreatedAt.Location() != time.UTC || it.CreatedAt.Nanosecond()%1000 != 0 {
		t.Fatalf("CreateItem = %+v", c)
	}

	got, err := s.items.Item(ctx, ref, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Attributes) != string(it.Attributes) {
		t.Errorf("Item has attributes %s, CreateItem returned %s: one version, two texts", got.Attributes, it.Attributes)
	}
	if got.ID != it.ID || got.Name != it.Name || got.Description != it.Description || got.Version != 1 ||
		!got.CreatedAt.Equal(it.CreatedAt) || got.CreatedAt.Location() != time.UTC || !equalJSON(t, got.Attributes, string(in.Attributes)) {
		t.Errorf("Item = %+v, want %+v", got, it)
	}
	_, err = s.items.Item(ctx, ref, uuid.Must(uuid.NewV7()))
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
	for _, st := range steps {
		got, err := s.items.ReplaceItem(ctx, ref, it.ID, input("Widget "+st.name, `{}`), st.pre)
		if !errors.Is(err, st.wantErr) || (err == nil && got.Version != st.wantVer) {
			t.Fatalf("ReplaceItem(%s) = v%d, %v; want v%d, %v", st.name, got.Version, err, st.wantVer, st.wantErr)
		}
		if err == nil && (got.Name != "Widget "+st.name || got.Description != "" || string(got.Attributes) != `{}` ||
			!got.CreatedAt.Equal(it.CreatedAt) || got.UpdatedAt.Before(it.UpdatedAt) || got.UpdatedAt.Location() != time.UTC) {
			t.Errorf("ReplaceItem(%s) = %+v", st.name, got)
		}
	}
	_, err = s.items.ReplaceItem(ctx, ref, uuid.Must(uuid.NewV7()), input("x", `{}`), v(1))
	wantErr(t, err, tenantapi.ErrItemNotFound) // 404 comes before 412

	// CheckItem.
	wantErr(t, s.items.CheckItem(ctx, ref, it.ID, v(4)), tenantapi.ErrPreconditionFailed)
	if err := s.items.CheckItem(ctx, ref, it.ID, v(5)); err != nil {
		t.Errorf("CheckItem(current) = %v", err)
	}
	wantErr(t, s.items.CheckItem(ctx, ref, uuid.Must(uuid.NewV7()), tenantapi.Precondition{}), tenantapi.ErrItemNotFound)

	// PatchItem.
	patched, err := s.items.PatchItem(ctx, ref, it.ID, v(5), func(cur tenantapi.Item) (tenantapi.ItemInput, error) {
		if cur.Version != 5 {
			t.Errorf("apply got version %d, want 5", cur.Version)
		}
		return tenantapi.ItemInput{Name: cur.Name, Description: "patched", Attributes: json.RawMessage(`{"a": 1}`)}, nil
	})
	if err != nil || patched.Version != 6 || patched.Description != "patched" || !equalJSON(t, patched.Attributes, `{"a":1}`) {
		t.Fatalf("PatchItem = %+v, %v", patched, err)
	}
	_, err = s.items.PatchItem(ctx, ref, it.ID, v(5), func(tenantapi.Item) (tenantapi.ItemInput, error) {
		t.Error("apply called despite a failed precondition")
		return tenantapi.ItemInput{}, nil
	})
	wantErr(t, err, tenantapi.ErrPreconditionFailed)
	applyErr := &tenantapi.Error{Code: tenantapi.CodeValidationFailed, Detail: "nope"}
	_, err = s.items.PatchItem(ctx, ref, it.ID, tenantapi.Precondition{}, func(tenantapi.Item) (tenantapi.ItemInput, error) {
		return tenantapi.ItemInput{}, applyErr
	})
	if err != applyErr {
		t.Errorf("PatchItem returned %v, want apply's error as is", err)
	}
	_, err = s.items.PatchItem(ctx, ref, uuid.Must(uuid.NewV7()), tenantapi.Precondition{}, nil)
	wantErr(t, err, tenantapi.ErrItemNotFound)

	// DeleteItem.
	wantErr(t, s.items.DeleteItem(ctx, ref, it.ID, v(1)), tenantapi.ErrPreconditionFailed)
	if err := s.items.DeleteItem(ctx, ref, it.ID, v(6)); err != nil {
		t.Fatalf("DeleteItem = %v", err)
	}
	wantErr(t, s.items.DeleteItem(ctx, ref, it.ID, tenantapi.Precondition{}), tenantapi.ErrItemNotFound)
	_, err = s.items.Item(ctx, ref, it.ID)
	wantErr(t, err, tenantapi.ErrItemNotFound)
}

func TestConcurrentWritersWithSameIfMatch(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	const writers = 8
	for _, op := range []string{"replace", "delete", "patch"} {
		t.Run(op, func(t *testing.T) {
			c, err := s.items.CreateItem(t.Context(), ref, input("x", `{}`), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			pre := tenantapi.Precondition{Present: true, Versions: []int64{1}}
			errs := make([]error, writers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					<-start
					switch op {
					case "replace":
						_, errs[i] = s.items.ReplaceItem(t.Context(), ref, c.Item.ID, input(fmt.Sprint("w", i), `{}`), pre)
					case "delete":
						errs[i] = s.items.DeleteItem(t.Context(), ref, c.Item.ID, pre)
					case "patch":
						_, errs[i] = s.items.PatchItem(t.Context(), ref, c.Item.ID, pre, func(cur tenantapi.Item) (tenantapi.ItemInput, error) {
							return input(fmt.Sprint("w", i), `{}`), nil
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
				got, _ := s.items.Item(t.Context(), ref, c.Item.ID)
				if got.Version != 2 {
					t.Errorf("version = %d after one winning write, want 2", got.Version)
				}
			}
		})
	}
}

// Without If-Match, concurrent patches all land: none is lost.
func TestConcurrentPatchesWithoutPrecondition(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	c, err := s.items.CreateItem(t.Context(), ref, input("counter", `{"n": 0}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 6
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			_, err := s.items.PatchItem(t.Context(), ref, c.Item.ID, tenantapi.Precondition{}, func(cur tenantapi.Item) (tenantapi.ItemInput, error) {
				var a struct{ N int }
				if err := json.Unmarshal(cur.Attributes, &a); err != nil {
					return tenantapi.ItemInput{}, err
				}
				return input(cur.Name, fmt.Sprintf(`{"n": %d}`, a.N+1)), nil
			})
			if err != nil {
				t.Errorf("PatchItem: %v", err)
			}
		})
	}
	wg.Wait()
	got, _ := s.items.Item(t.Context(), ref, c.Item.ID)
	if got.Version != 1+writers || !equalJSON(t, got.Attributes, fmt.Sprintf(`{"n": %d}`, writers)) {
		t.Errorf("after %d patches: version %d, attributes %s", writers, got.Version, got.Attributes)
	}
}

func TestItemsPagination(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	var want []uuid.UUID
	for i := range 23 {
		c, err := s.items.CreateItem(t.Context(), ref, input(fmt.Sprint("item ", i), `{}`), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, c.Item.ID)
	}
	slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })

	var got []uuid.UUID
	var after *uuid.UUID
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := s.items.Items(t.Context(), ref, after, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 5 {
			t.Fatalf("page of %d, limit 5", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, it := range page {
			got = append(got, it.ID)
		}
		last := page[len(page)-1].ID
		after = &last
		// Items created during the traversal never make one repeat.
		if pages > 2 {
			continue
		}
		if _, err := s.items.CreateItem(t.Context(), ref, input("late", `{}`), nil, nil); err != nil {
			t.Fatal(err)
		}
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
		s.items.CreateItem(t.Context(), ref, input("more", `{}`), nil, nil)
	}
	if page, err := s.items.Items(t.Context(), ref, nil, 0); err != nil || len(page) != tenantapi.DefaultPageLimit {
		t.Errorf("Items(limit 0) = %d items, %v; want the default %d", len(page), err, tenantapi.DefaultPageLimit)
	}
}

func TestItemsAreIsolatedByTenant(t *testing.T) {
	t.Parallel()
	s := setup(t)
	a := s.createTenant(t, "a")
	b := s.createTenant(t, "b")
	c, err := s.items.CreateItem(t.Context(), a, input("secret", `{}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := c.Item.ID
	_, err = s.items.Item(t.Context(), b, id)
	wantErr(t, err, tenantapi.ErrItemNotFound)
	if page, err := s.items.Items(t.Context(), b, nil, 10); err != nil || len(page) != 0 {
		t.Errorf("Items(b) = %v, %v; want none", page, err)
	}
	_, err = s.items.ReplaceItem(t.Context(), b, id, input("stolen", `{}`), tenantapi.Precondition{})
	wantErr(t, err, tenantapi.ErrItemNotFound)
	wantErr(t, s.items.DeleteItem(t.Context(), b, id, tenantapi.Precondition{}), tenantapi.ErrItemNotFound)
	wantErr(t, s.items.CheckItem(t.Context(), b, id, tenantapi.Precondition{}), tenantapi.ErrItemNotFound)
	if got, err := s.items.Item(t.Context(), a, id); err != nil || got.Name != "secret" || got.Version != 1 {
		t.Errorf("Item(a) = %+v, %v; want it untouched", got, err)
	}
}

func TestItemsOfDroppedTenant(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "gone")
	c, _ := s.items.CreateItem(t.Context(), ref, input("x", `{}`), nil, nil)
	id := c.Item.ID
	s.exec(t, `DROP SCHEMA "tenant_gone" CASCADE`)
	idem := &tenantapi.Idempotency{Key: "k"}
	render := func(tenantapi.Item) ([]byte, []byte) { return []byte(`{"attributes":`), []byte("}") }
	calls := map[string]func(ctx context.Context) error{
		"create": func(ctx context.Context) error {
			_, err := s.items.CreateItem(ctx, ref, input("x", `{}`), nil, nil)
			return err
		},
		"create idempotent": func(ctx context.Context) error {
			_, err := s.items.CreateItem(ctx, ref, input("x", `{}`), idem, render)
			return err
		},
		"get": func(ctx context.Context) error {
			_, err := s.items.Item(ctx, ref, id)
			return err
		},
		"list": func(ctx context.Context) error {
			_, err := s.items.Items(ctx, ref, nil, 10)
			return err
		},
		"replace": func(ctx context.Context) error {
			_, err := s.items.ReplaceItem(ctx, ref, id, input("y", `{}`), tenantapi.Precondition{})
			return err
		},
		"patch": func(ctx context.Context) error {
			_, err := s.items.PatchItem(ctx, ref, id, tenantapi.Precondition{}, nil)
			return err
		},
		"delete": func(ctx context.Context) error { return s.items.DeleteItem(ctx, ref, id, tenantapi.Precondition{}) },
		"check":  func(ctx context.Context) error { return s.items.CheckItem(ctx, ref, id, tenantapi.Precondition{}) },
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
	s := setup(t)
	ref := s.createTenant(t, "acme")
	tx, err := s.db.owner.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(t.Context()))
	if _, err := tx.Exec(t.Context(), `LOCK TABLE "tenant_acme".items IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = s.items.Items(ctx, ref, nil, 10)
	wantCode(t, err, tenantapi.CodeUnavailable)
	var de *tenantapi.Error
	if errors.As(err, &de) && de.Detail != errUnavailable {
		t.Errorf("Detail = %q, want %q", de.Detail, errUnavailable)
	}
}
