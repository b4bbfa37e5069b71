package httpapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// itemsResource is the built-in items resource as migrate records it
// (postgres' TestItemsResource checks the recorded one has this shape):
//
//	name        varchar(200) NOT NULL CHECK (name <> ''),
//	description varchar(10000) NOT NULL DEFAULT '',
//	attributes  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
//
// and version, created_at, updated_at.
var itemsResource = &tenantapi.Resource{
	Name: "items",
	Fields: []tenantapi.Field{
		{Name: "name", Type: tenantapi.Type{Kind: tenantapi.KindString, SQL: "character varying(200)", MaxLength: 200}, NotNull: true},
		{Name: "description", Type: tenantapi.Type{Kind: tenantapi.KindString, SQL: "character varying(10000)", MaxLength: 10000}, NotNull: true, HasDefault: true},
		{Name: "attributes", Type: tenantapi.Type{Kind: tenantapi.KindJSON, SQL: "jsonb"}, NotNull: true, HasDefault: true},
	},
	Versioned: true, Created: true, Updated: true,
	Checks: []tenantapi.Constraint{
		{Name: "items_name_check", Columns: []string{"name"}},
		{Name: "items_attributes_check", Columns: []string{"attributes"}},
	},
}

// fuzzItemID is the id of the stored item the tests PUT and PATCH.
var fuzzItemID = uuid.MustParse("0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f")

// showValues writes vals as field=text, field=DEFAULT or field=NULL.
func showValues(res *tenantapi.Resource, vals []tenantapi.Value) []string {
	out := []string{}
	for _, v := range vals {
		s := res.Fields[v.Field].Name + "="
		switch {
		case v.Default:
			s += "DEFAULT"
		case v.Null:
			s += "NULL"
		default:
			s += v.Text
		}
		out = append(out, s)
	}
	return out
}

// showFields writes the fields of a validation error as field: message.
func showFields(t *testing.T, err error) []string {
	t.Helper()
	var e *tenantapi.Error
	if !errors.As(err, &e) || e.Code != tenantapi.CodeValidationFailed {
		t.Fatalf("error %v, want validation-failed", err)
	}
	out := []string{}
	for _, f := range e.Fields {
		out = append(out, f.Field+": "+f.Message)
	}
	slices.Sort(out)
	return out
}

// TestItemValues pins what the bodies of item writes become: the values
// sent to the database, or the problems of each field.
func TestItemValues(t *testing.T) {
	other := uuid.MustParse("0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8ea0")
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	cases := []struct {
		name   string
		kind   writeKind
		body   string
		want   []string // values, or
		errors []string // the field errors
		merge  []int
	}{
		{name: "create with a name", kind: createBody, body: `{"name":"Widget"}`,
			want: []string{"name=Widget", "description=DEFAULT", "attributes=DEFAULT"}},
		{name: "create with every field", kind: createBody,
			body: `{"name":"W","description":"d","attributes":{"b":1,"a":[1.50,null,"<&>"]}}`,
			want: []string{"name=W", "description=d", `attributes={"a":[1.50,null,"<&>"],"b":1}`}},
		{name: "create with nulls for defaults", kind: createBody, body: `{"name":"W","description":null,"attributes":null}`,
			want: []string{"name=W", "description=DEFAULT", "attributes=DEFAULT"}},
		{name: "create ignores the managed members", kind: createBody,
			body: `{"name":"W","id":"not-a-uuid","version":9,"created_at":1,"updated_at":"x"}`,
			want: []string{"name=W", "description=DEFAULT", "attributes=DEFAULT"}},
		{name: "name of 200 characters", kind: createBody, body: `{"name":"` + strings.Repeat("é", 200) + `"}`,
			want: []string{"name=" + strings.Repeat("é", 200), "description=DEFAULT", "attributes=DEFAULT"}},
		{name: "attributes 32 deep", kind: createBody, body: `{"name":"a","attributes":` + deep(32) + `}`,
			want: []string{"name=a", "description=DEFAULT", "attributes=" + deep(32)}},
		{name: "no name", kind: createBody, body: `{}`, errors: []string{"/name: is required"}},
		{name: "null name", kind: createBody, body: `{"name":null}`, errors: []string{"/name: is required"}},
		{name: "name not a string", kind: createBody, body: `{"name":1,"description":true}`,
			errors: []string{"/description: must be a string", "/name: must be a string"}},
		{name: "name of 201 characters", kind: createBody, body: `{"name":"` + strings.Repeat("é", 201) + `"}`,
			errors: []string{"/name: must be at most 200 characters"}},
		{name: "description of 10001 characters", kind: createBody, body: `{"name":"a","description":"` + strings.Repeat("x", 10001) + `"}`,
			errors: []string{"/description: must be at most 10000 characters"}},
		{name: "U+0000", kind: createBody, body: `{"name":"a\u0000b","description":"\u0000","attributes":{"k\u0000":"\u0000"}}`,
			errors: []string{"/attributes/k\x00: keys must not contain U+0000", "/attributes/k\x00: must not contain U+0000",
				"/description: must not contain U+0000", "/name: must not contain U+0000"}},
		{name: "unknown members", kind: createBody, body: `{"name":"a","extra":1,"~/":2}`,
			errors: []string{"/extra: is not a known field", "/~0~1: is not a known field"}},
		{name: "attributes 33 deep", kind: createBody, body: `{"name":"a","attributes":` + deep(33) + `}`,
			errors: []string{"/attributes: must nest at most 32 levels deep"}},
		{name: "number out of range", kind: createBody, body: `{"name":"a","attributes":{"n":[1e999999]}}`,
			errors: []string{"/attributes/n/0: is a number out of range"}},
		{name: "attributes of 64 KiB", kind: createBody,
			body: `{"name":"a","attributes":{"s":"` + strings.Repeat("x", 64<<10-8) + `"}}`,
			want: []string{"name=a", "description=DEFAULT", `attributes={"s":"` + strings.Repeat("x", 64<<10-8) + `"}`}},
		{name: "attributes of 64 KiB and one byte", kind: createBody,
			body:   `{"name":"a","attributes":{"s":"` + strings.Repeat("x", 64<<10-7) + `"}}`,
			errors: []string{"/attributes: must be at most 65536 bytes when encoded"}},
		{name: "attributes PostgreSQL prints past 64 KiB", kind: createBody, body: `{"name":"a","attributes":{"n":1e65536}}`,
			errors: []string{"/attributes: must be at most 65536 bytes when encoded"}},

		{name: "replace", kind: replaceBody, body: `{"name":"a","id":"` + fuzzItemID.String() + `"}`,
			want: []string{"name=a", "description=DEFAULT", "attributes=DEFAULT"}},
		{name: "replace with another id", kind: replaceBody, body: `{"name":"a","id":"` + other.String() + `"}`,
			errors: []string{"/id: must equal the id in the path"}},
		{name: "replace without a name", kind: replaceBody, body: `{"description":"d"}`,
			errors: []string{"/name: is required"}},

		{name: "empty patch", kind: patchBody, body: `{}`, want: []string{}},
		{name: "patch a name", kind: patchBody, body: `{"name":"b","version":3}`, want: []string{"name=b"}},
		{name: "patch nulls back to defaults", kind: patchBody, body: `{"description":null,"attributes":null}`,
			want: []string{"description=DEFAULT", "attributes=DEFAULT"}},
		{name: "patch merges an object into the attributes", kind: patchBody, body: `{"attributes":{"a":null}}`,
			want: []string{}, merge: []int{2}},
		{name: "patch a null name", kind: patchBody, body: `{"name":null}`, errors: []string{"/name: must not be null"}},
		{name: "patch with another id", kind: patchBody, body: `{"id":"` + other.String() + `"}`,
			errors: []string{"/id: must equal the id in the path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := decodeObject([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			var path *uuid.UUID
			if tc.kind != createBody {
				path = &fuzzItemID
			}
			vals, merge, err := rowValues(itemsResource, obj, tc.kind, path)
			if tc.errors != nil {
				if got := showFields(t, err); !slices.Equal(got, tc.errors) {
					t.Errorf("errors = %q, want %q", got, tc.errors)
				}
				return
			}
			if err != nil {
				t.Fatalf("rowValues: %v", err)
			}
			if got := showValues(itemsResource, vals); !slices.Equal(got, tc.want) || !slices.Equal(merge, tc.merge) {
				t.Errorf("values = %q, merge %v; want %q, merge %v", got, merge, tc.want, tc.merge)
			}
		})
	}
}

// TestItemMerge pins how a PATCH merges into the stored attributes (RFC
// 7396), and that the merged value is checked as a written one would be.
func TestItemMerge(t *testing.T) {
	stored := []byte(`{"id":"` + fuzzItemID.String() + `","name":"Widget","description":"","attributes":{"color":"red","size":{"w":1,"h":2.50},"tags":["a","b"]},"version":3}`)
	merge := func(t *testing.T, body string, cur []byte) ([]string, error) {
		t.Helper()
		obj, err := decodeObject([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		vals, fields, err := rowValues(itemsResource, obj, patchBody, &fuzzItemID)
		if err != nil {
			t.Fatalf("rowValues: %v", err)
		}
		vals, err = mergeValues(itemsResource, obj, fields, cur, vals)
		return showValues(itemsResource, vals), err
	}
	for _, tc := range []struct{ body, want string }{
		{`{"attributes":{}}`, `{"color":"red","size":{"h":2.50,"w":1},"tags":["a","b"]}`},
		{`{"attributes":{"color":null,"size":{"w":3},"new":{"x":null}}}`, `{"new":{},"size":{"h":2.50,"w":3},"tags":["a","b"]}`},
		{`{"attributes":{"tags":{"k":1}}}`, `{"color":"red","size":{"h":2.50,"w":1},"tags":{"k":1}}`},
	} {
		got, err := merge(t, tc.body, stored)
		if want := []string{"attributes=" + tc.want}; err != nil || !slices.Equal(got, want) {
			t.Errorf("merge %s = %q, %v; want %q", tc.body, got, err, want)
		}
	}
	got, err := merge(t, `{"name":"b","attributes":{"c":1}}`, stored)
	if want := []string{"name=b", `attributes={"c":1,"color":"red","size":{"h":2.50,"w":1},"tags":["a","b"]}`}; err != nil || !slices.Equal(got, want) {
		t.Errorf("merge with a name = %q, %v; want %q", got, err, want)
	}

	// A merge that makes the attributes too deep or too large fails on them.
	deep := strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32) // 33 with the attributes
	_, err = merge(t, `{"attributes":{"size":`+deep+`}}`, stored)
	if got, want := showFields(t, err), []string{"/attributes: must nest at most 32 levels deep"}; !slices.Equal(got, want) {
		t.Errorf("too deep a merge: %q, want %q", got, want)
	}
	big := []byte(`{"attributes":{"s":"` + strings.Repeat("x", 40<<10) + `"}}`)
	_, err = merge(t, `{"attributes":{"t":"`+strings.Repeat("y", 40<<10)+`"}}`, big)
	if got, want := showFields(t, err), []string{"/attributes: must be at most 65536 bytes when encoded"}; !slices.Equal(got, want) {
		t.Errorf("too large a merge: %q, want %q", got, want)
	}

	// The row the database returned is not JSON: the server's fault.
	if _, err := merge(t, `{"attributes":{}}`, []byte(`{"attributes":`)); tenantapi.ErrorCode(err) != tenantapi.CodeInternal {
		t.Errorf("merge into a broken row: %v, want internal", err)
	}
}

// mergeValues is called again with the same body when a PATCH starts over
// after a concurrent write: it must leave the body as it was.
func TestItemMergeLeavesTheBody(t *testing.T) {
	body := []byte(`{"attributes":{"size":{"w":null,"d":{"x":1}},"color":null}}`)
	obj, err := decodeObject(body)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := decodeObject(body)
	vals, fields, err := rowValues(itemsResource, obj, patchBody, &fuzzItemID)
	if err != nil {
		t.Fatal(err)
	}
	var first []tenantapi.Value
	for i, cur := range []string{
		`{"attributes":{"size":{"w":1,"h":2},"color":"red"}}`,
		`{"attributes":{"size":{"w":5},"other":true}}`,
		`{"attributes":{"size":{"w":1,"h":2},"color":"red"}}`,
	} {
		got, err := mergeValues(itemsResource, obj, fields, []byte(cur), slices.Clone(vals))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(obj, fresh) {
			t.Fatalf("mergeValues changed the body: %#v", obj)
		}
		if i == 0 {
			first = got
		}
		if i == 2 && !reflect.DeepEqual(got, first) {
			t.Errorf("the same merge again = %q, first %q", showValues(itemsResource, got), showValues(itemsResource, first))
		}
	}
	var attrs any
	if err := json.Unmarshal([]byte(first[0].Text), &attrs); err != nil || !reflect.DeepEqual(attrs, map[string]any{"size": map[string]any{"h": 2.0, "d": map[string]any{"x": 1.0}}}) {
		t.Errorf("merged attributes = %s, %v", first[0].Text, err)
	}
}
