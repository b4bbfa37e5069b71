package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// fuzzItem is the stored item FuzzItemBody patches.
var fuzzItem = tenantapi.Item{
	ID:          uuid.MustParse("0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f"),
	Name:        "Widget",
	Description: "a thing",
	Attributes:  json.RawMessage(`{"color":"red","size":{"w":1,"h":2.50},"tags":["a","b"],"n":null}`),
	Version:     3,
	CreatedAt:   time.Date(2026, 11, 26, 14, 7, 25, 123456000, time.UTC),
	UpdatedAt:   time.Date(2026, 11, 26, 14, 7, 25, 123456000, time.UTC),
}

// FuzzItemBody feeds arbitrary bytes through the body pipeline of POST
// (decodeObject, itemInput) and PATCH (applyItemPatch on a fixed item). It
// must never panic; every error must be a caller's error (malformed-json or
// validation-failed with fields), never an internal one; and whatever it
// accepts must satisfy the item contract (SPEC §3) and render as JSON that
// reads back the same. Seeds live in testdata/fuzz/FuzzItemBody as well.
func FuzzItemBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"Widget"}`,
		`{"name":"Widget","description":"d","attributes":{"color":"red","n":1.50,"<tag>":"a&b"}}`,
		`{"name":"x","attributes":{"size":{"w":null},"tags":null,"n":7}}`,
		`{"name":""}`, `{"name":null}`, `{"name":1}`, `{}`, `[]`, `"x"`, `null`, ``, `{`,
		`{"name":"a","name":"b"}`, `{"name":"a"} x`, "{\"name\":\"\xff\"}",
		`{"name":"a\u0000b"}`, `{"name":"a","attributes":{"k\u0000":1}}`,
		`{"name":"\ud800"}`, `{"name":"a","attributes":[1]}`, `{"name":"a","attributes":"x"}`,
		`{"name":"a","id":"0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f","version":9,"created_at":1}`,
		`{"name":"a","id":"not-a-uuid"}`, `{"name":"a","extra":1,"~/":2}`,
		`{"name":"a","attributes":{"n":1e999999}}`, `{"name":"a","attributes":{"n":-0.0e-16384}}`,
		`{"name":"a","attributes":{"n":1e65000}}`, `{"name":"a","attributes":{"n":[1e30000,1e30000,1e30000]}}`,
		`{"name":"` + strings.Repeat("é", 200) + `"}`, `{"name":"` + strings.Repeat("é", 201) + `"}`,
		`{"name":"a","attributes":` + strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32) + `}`,
		`{"name":"a","attributes":` + strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33) + `}`,
		`{"name":"a","attributes":{"a":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, err := decodeObject(body)
		if err != nil {
			checkCallerError(t, "decodeObject", body, err)
			return
		}
		attrsIn, hasAttrs := obj["attributes"]

		in, err := itemInput(obj, nil)
		if err != nil {
			checkCallerError(t, "itemInput", body, err)
		} else {
			want := attrsIn
			if want == nil {
				want = map[string]any{}
			}
			checkAcceptedItem(t, "itemInput", body, in, want)
		}

		// Parse again: applyItemPatch must see an untouched patch, and
		// mergePatch changes its target in place.
		patch, err := decodeObject(body)
		if err != nil {
			t.Fatalf("decodeObject(%q) failed the second time: %v", body, err)
		}
		in, err = applyItemPatch(fuzzItem, patch)
		if err != nil {
			checkCallerError(t, "applyItemPatch", body, err)
			return
		}
		want, _ := decodeStored(fuzzItem.Attributes)
		switch {
		case hasAttrs && attrsIn == nil:
			want = map[string]any{}
		case hasAttrs:
			want = refMergePatch(want, attrsIn)
		}
		checkAcceptedItem(t, "applyItemPatch", body, in, want)
		if _, ok := patch["name"]; !ok && in.Name != fuzzItem.Name {
			t.Fatalf("applyItemPatch(%q) changed the name to %q without a name in the patch", body, in.Name)
		}
	})
}

// checkCallerError fails unless err is a caller's error: malformed-json, or
// validation-failed with at least one field, each a JSON Pointer.
func checkCallerError(t *testing.T, what string, body []byte, err error) {
	t.Helper()
	var e *tenantapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s(%q): error %v is not a *tenantapi.Error", what, body, err)
	}
	switch e.Code {
	case tenantapi.CodeMalformedJSON:
	case tenantapi.CodeValidationFailed:
		if len(e.Fields) == 0 {
			t.Fatalf("%s(%q): validation error without fields", what, body)
		}
		for _, fe := range e.Fields {
			if fe.Field != "" && !strings.HasPrefix(fe.Field, "/") || fe.Message == "" || !utf8.ValidString(fe.Field) {
				t.Fatalf("%s(%q): bad field error %+v", what, body, fe)
			}
		}
	default:
		t.Fatalf("%s(%q): error code %q, want malformed-json or validation-failed (%v)", what, body, e.Code, err)
	}
}

// checkAcceptedItem fails unless in satisfies the item contract, its
// attributes read back equal to want, and it renders as JSON that reads
// back the same.
func checkAcceptedItem(t *testing.T, what string, body []byte, in tenantapi.ItemInput, want any) {
	t.Helper()
	if n := utf8.RuneCountInString(in.Name); n < 1 || n > tenantapi.MaxNameLen {
		t.Fatalf("%s(%q) accepted a name of %d runes", what, body, n)
	}
	if utf8.RuneCountInString(in.Description) > tenantapi.MaxDescriptionLen {
		t.Fatalf("%s(%q) accepted a description of %d runes", what, body, utf8.RuneCountInString(in.Description))
	}
	if strings.ContainsRune(in.Name, 0) || strings.ContainsRune(in.Description, 0) || bytes.Contains(in.Attributes, []byte(`\u0000`)) {
		t.Fatalf("%s(%q) accepted a U+0000: %+v", what, body, in)
	}
	if !utf8.ValidString(in.Name) || !utf8.ValidString(in.Description) {
		t.Fatalf("%s(%q) accepted invalid UTF-8: %+v", what, body, in)
	}
	if len(in.Attributes) > tenantapi.MaxAttributesSize {
		t.Fatalf("%s(%q) accepted attributes of %d bytes", what, body, len(in.Attributes))
	}
	got, err := parseJSON(in.Attributes)
	if err != nil {
		t.Fatalf("%s(%q): attributes %s do not parse: %v", what, body, in.Attributes, err)
	}
	if _, ok := got.(map[string]any); !ok {
		t.Fatalf("%s(%q): attributes %s are not an object", what, body, in.Attributes)
	}
	if d := depthOf(got); d > tenantapi.MaxAttributeDepth {
		t.Fatalf("%s(%q): attributes nest %d deep", what, body, d)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s(%q): attributes %s, want %#v", what, body, in.Attributes, want)
	}
	if grow := checkNumbersStorable(t, what, body, got); int64(len(in.Attributes))+grow > tenantapi.MaxAttributesSize {
		t.Fatalf("%s(%q) accepted attributes that PostgreSQL prints in %d bytes", what, body, int64(len(in.Attributes))+grow)
	}

	it := fuzzItem
	it.Name, it.Description, it.Attributes = in.Name, in.Description, in.Attributes
	rendered := appendItem(nil, it)
	var back struct {
		ID          string
		Name        string
		Description string
		Attributes  json.RawMessage
	}
	if err := json.Unmarshal(rendered, &back); err != nil || !utf8.Valid(rendered) {
		t.Fatalf("%s(%q): the item renders as invalid JSON %s: %v", what, body, rendered, err)
	}
	if back.Name != in.Name || back.Description != in.Description || back.ID != it.ID.String() {
		t.Fatalf("%s(%q): rendered %s reads back as %+v", what, body, rendered, back)
	}
}

// checkNumbersStorable fails if v holds a number PostgreSQL's numeric type
// (which jsonb uses) cannot store, and returns how many bytes longer than
// their literals PostgreSQL prints the numbers.
func checkNumbersStorable(t *testing.T, what string, body []byte, v any) int64 {
	t.Helper()
	var grow int64
	switch v := v.(type) {
	case json.Number:
		if !numericFits(string(v)) {
			t.Fatalf("%s(%q) accepted the number %s, which PostgreSQL cannot store", what, body, v)
		}
		grow = max(0, numericTextLen(string(v))-int64(len(v)))
	case map[string]any:
		for _, e := range v {
			grow += checkNumbersStorable(t, what, body, e)
		}
	case []any:
		for _, e := range v {
			grow += checkNumbersStorable(t, what, body, e)
		}
	}
	return grow
}

// refMergePatch is RFC 7396's MergePatch pseudocode, written independently
// of mergePatch and without changing its arguments.
func refMergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	out := map[string]any{}
	if t, ok := target.(map[string]any); ok {
		for k, v := range t {
			out[k] = v
		}
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = refMergePatch(out[k], v)
		}
	}
	return out
}

// FuzzMergePatch checks mergePatch on arbitrary JSON documents against the
// properties of RFC 7396: it agrees with the RFC's pseudocode, a patch
// applied twice equals it applied once, {} leaves an object unchanged, a
// null member removes its key, and a non-object patch replaces the target.
// Seeds live in testdata/fuzz/FuzzMergePatch as well.
func FuzzMergePatch(f *testing.F) {
	// The test cases of RFC 7396 Appendix A, and a few more.
	for _, c := range [][2]string{
		{`{"a":"b"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`},
		{`{"a":["b"]}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`},
		{`{"a":"foo"}`, `null`},
		{`{"a":"foo"}`, `"bar"`},
		{`{"e":null}`, `{"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
		{`{"a":1}`, `{}`},
		{`"x"`, `{}`},
		{`{"a":{"b":1}}`, `{"a":{"b":null,"c":[null]}}`},
		{`{"a":1}`, strings.Repeat(`{"a":`, 45) + "null" + strings.Repeat("}", 45)},
	} {
		f.Add([]byte(c[0]), []byte(c[1]))
	}
	f.Fuzz(func(t *testing.T, target, patch []byte) {
		parse := func(b []byte) any {
			v, err := parseJSON(b)
			if err != nil {
				t.Skip()
			}
			return v
		}
		parse(target)
		parse(patch)

		got := mergePatch(parse(target), parse(patch))
		want := refMergePatch(parse(target), parse(patch))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("mergePatch(%s, %s) = %#v, RFC 7396 gives %#v", target, patch, got, want)
		}
		if twice := mergePatch(mergePatch(parse(target), parse(patch)), parse(patch)); !reflect.DeepEqual(twice, got) {
			t.Fatalf("mergePatch(%s, %s) twice = %#v, once %#v", target, patch, twice, got)
		}
		p, ok := parse(patch).(map[string]any)
		if !ok {
			if !reflect.DeepEqual(got, parse(patch)) {
				t.Fatalf("mergePatch(%s, %s) = %#v, want the patch itself", target, patch, got)
			}
			return
		}
		obj, ok := got.(map[string]any)
		if !ok {
			t.Fatalf("mergePatch(%s, %s) = %#v: an object patch must give an object", target, patch, got)
		}
		tgt, _ := parse(target).(map[string]any)
		for k, v := range p {
			if _, present := obj[k]; v == nil && present {
				t.Fatalf("mergePatch(%s, %s) kept %q, which the patch sets to null", target, patch, k)
			}
			if v != nil && !reflect.DeepEqual(obj[k], refMergePatch(tgt[k], v)) {
				t.Fatalf("mergePatch(%s, %s)[%q] = %#v", target, patch, k, obj[k])
			}
		}
		for k, v := range tgt {
			if _, touched := p[k]; !touched && !reflect.DeepEqual(obj[k], v) {
				t.Fatalf("mergePatch(%s, %s) changed %q, which the patch does not name", target, patch, k)
			}
		}
		for k := range obj {
			if _, inTarget := tgt[k]; !inTarget && p[k] == nil {
				t.Fatalf("mergePatch(%s, %s) invented %q", target, patch, k)
			}
		}
		if _, isObj := parse(target).(map[string]any); isObj {
			if empty := mergePatch(parse(target), map[string]any{}); !reflect.DeepEqual(empty, parse(target)) {
				t.Fatalf("mergePatch(%s, {}) = %#v, want the target unchanged", target, empty)
			}
		} else if empty := mergePatch(parse(target), map[string]any{}); !reflect.DeepEqual(empty, map[string]any{}) {
			t.Fatalf("mergePatch(%s, {}) = %#v, want {} for a non-object target", target, empty)
		}
	})
}
