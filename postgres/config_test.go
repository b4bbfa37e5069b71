package postgres

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tenantapi/tenantapi"
)

func TestConfigStore(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()

	if es, err := s.config.ConfigEntries(ctx); err != nil || len(es) != 0 {
		t.Fatalf("ConfigEntries = %v, %v; want none", es, err)
	}
	_, err := s.config.ConfigEntry(ctx, "limits")
	wantErr(t, err, tenantapi.ErrNotFound)

	e, err := s.config.PutConfigEntry(ctx, "limits", []byte(`{"rps": 10, "burst": [1, 2]}`))
	if err != nil || e.Key != "limits" || e.UpdatedAt.IsZero() {
		t.Fatalf("PutConfigEntry = %+v, %v", e, err)
	}
	if !equalJSON(t, e.Value, `{"burst":[1,2],"rps":10}`) {
		t.Errorf("Value = %s", e.Value)
	}
	e2, err := s.config.PutConfigEntry(ctx, "limits", []byte(`"off"`))
	if err != nil || string(e2.Value) != `"off"` || e2.UpdatedAt.Before(e.UpdatedAt) {
		t.Errorf("replace = %+v, %v", e2, err)
	}
	if _, err := s.config.PutConfigEntry(ctx, "a.first", []byte(`null`)); err != nil {
		t.Fatal(err)
	}
	es, err := s.config.ConfigEntries(ctx)
	if err != nil || len(es) != 2 || es[0].Key != "a.first" || es[1].Key != "limits" {
		t.Errorf("ConfigEntries = %+v, %v; want a.first, limits", es, err)
	}
	got, err := s.config.ConfigEntry(ctx, "limits")
	if err != nil || string(got.Value) != `"off"` {
		t.Errorf("ConfigEntry = %+v, %v", got, err)
	}

	if err := s.config.DeleteConfigEntry(ctx, "limits"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.config.DeleteConfigEntry(ctx, "limits"), tenantapi.ErrNotFound)

	_, err = s.config.PutConfigEntry(ctx, "bad", []byte(`{not json`))
	wantCode(t, err, tenantapi.CodeInternal)
}

// equalJSON reports whether got and want decode to equal values.
func equalJSON(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}
