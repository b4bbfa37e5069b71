package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// fuzzTypes are column types of every kind, with the limits that the
// decoders enforce (the example set's, and the edges of each kind).
var fuzzTypes = []tenantapi.Type{
	{Kind: tenantapi.KindString, SQL: "text"},
	{Kind: tenantapi.KindString, SQL: "character varying(5)", MaxLength: 5},
	{Kind: tenantapi.KindInteger, SQL: "smallint", Bits: 16},
	{Kind: tenantapi.KindInteger, SQL: "bigint", Bits: 64},
	{Kind: tenantapi.KindNumeric, SQL: "numeric(5,2)", Precision: 5, Scale: 2},
	{Kind: tenantapi.KindNumeric, SQL: "numeric", Scale: -1},
	{Kind: tenantapi.KindFloat, SQL: "real", Bits: 32},
	{Kind: tenantapi.KindFloat, SQL: "double precision", Bits: 64},
	{Kind: tenantapi.KindBoolean, SQL: "boolean"},
	{Kind: tenantapi.KindJSON, SQL: "jsonb"},
	{Kind: tenantapi.KindTimestamp, SQL: "timestamp with time zone"},
	{Kind: tenantapi.KindDate, SQL: "date"},
	{Kind: tenantapi.KindUUID, SQL: "uuid"},
	{Kind: tenantapi.KindEnum, SQL: "task_status", Name: "task_status", Labels: []string{"todo", "doing", "done"}},
	{Kind: tenantapi.KindString, SQL: "text[]", Array: true},
	{Kind: tenantapi.KindInteger, SQL: "integer[]", Bits: 32, Array: true},
	{Kind: tenantapi.KindTimestamp, SQL: "timestamp with time zone[]", Array: true},
	{Kind: tenantapi.KindEnum, SQL: "task_status[]", Name: "task_status", Labels: []string{"todo", "doing", "done"}, Array: true},
}

// FuzzDecodeValue checks the typed value decoders of resource bodies: any
// JSON value, for every kind, is either refused with a problem under its
// pointer or accepted as a text that the kind's own grammar and limits
// hold (so that PostgreSQL reads it as the value sent, never coerced).
// Seeds live in testdata/fuzz/FuzzDecodeValue as well.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{
		`"x"`, `"hello"`, `"héllo"`, `"a\u0000b"`, `5`, `-5`, `5.0`, `1e3`, `32767`, `32768`, `-32769`,
		`9223372036854775807`, `9223372036854775808`, `123.45`, `123.456`, `1234.5`, `0.001`, `1.50`, `1.500`, `1e-2`,
		`3.4e38`, `3.5e38`, `1e308`, `1e309`, `true`, `false`, `null`, `"true"`, `{}`, `{"a":[1,{"b":null}]}`, `[]`,
		`["a",null,"b"]`, `[1,2,"3"]`, `[[1]]`, `"2026-11-26T14:07:25.123456Z"`, `"2026-11-26T14:07:25+02:00"`,
		`"2026-11-26"`, `"2026-02-30"`, `"0000-01-01"`, `"10000-01-01"`, `"0193a6f1-7c3e-7b4a-9d2e-1f2a3b4c5d6e"`,
		`"0193a6f17c3e7b4a9d2e1f2a3b4c5d6e"`, `"todo"`, `"TODO"`, `["todo","done"]`, `["2026-11-26T14:07:25Z"]`,
	} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, doc string, which uint8) {
		v, err := parseJSON([]byte(doc))
		if err != nil || v == nil {
			return
		}
		typ := fuzzTypes[int(which)%len(fuzzTypes)]
		var fe fieldErrors
		text, ok := decodeValue(typ, v, "/f", &fe)
		if !ok {
			if len(fe) == 0 {
				t.Fatalf("%s %s refused without a problem", typ.SQL, doc)
			}
			for _, e := range fe {
				if !strings.HasPrefix(e.Field, "/f") || e.Message == "" {
					t.Fatalf("%s %s: problem %+v", typ.SQL, doc, e)
				}
			}
			return
		}
		if len(fe) != 0 {
			t.Fatalf("%s %s accepted with problems %v", typ.SQL, doc, fe)
		}
		if typ.Array {
			var elems []any
			if err := json.Unmarshal([]byte(text), &elems); err != nil || len(elems) != len(v.([]any)) {
				t.Fatalf("%s %s: array text %q", typ.SQL, doc, text)
			}
			elem := typ
			elem.Array = false
			for _, e := range elems {
				if e == nil {
					continue
				}
				s, isStr := e.(string)
				if !isStr {
					s = strconv.FormatFloat(e.(float64), 'g', -1, 64)
				}
				checkAccepted(t, elem, s, doc)
			}
			return
		}
		checkAccepted(t, typ, text, doc)
		if s, isStr := v.(string); isStr && typ.Kind != tenantapi.KindTimestamp && typ.Kind != tenantapi.KindJSON && text != s {
			t.Fatalf("%s %s: the text %q is not the string sent", typ.SQL, doc, text)
		}
	})
}

// checkAccepted fails unless text, accepted for a value of typ, is what
// the kind allows.
func checkAccepted(t *testing.T, typ tenantapi.Type, text, doc string) {
	t.Helper()
	bad := func(why string) { t.Fatalf("%s %s accepted as %q: %s", typ.SQL, doc, text, why) }
	switch typ.Kind {
	case tenantapi.KindString:
		if strings.ContainsRune(text, 0) || !utf8.ValidString(text) || typ.MaxLength > 0 && utf8.RuneCountInString(text) > typ.MaxLength {
			bad("not a string within the limit")
		}
	case tenantapi.KindInteger:
		if _, err := strconv.ParseInt(text, 10, typ.Bits); err != nil || !intText.MatchString(text) {
			bad("not an integer in range")
		}
	case tenantapi.KindNumeric:
		if !numText.MatchString(text) || !numericFits(text) {
			bad("not a number PostgreSQL holds")
		}
		if typ.Precision > 0 && significantScale(text) > int64(typ.Scale) {
			bad("more fractional digits than the scale: PostgreSQL would round")
		}
	case tenantapi.KindFloat:
		f, err := strconv.ParseFloat(text, typ.Bits)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			bad("not a finite number of the type")
		}
	case tenantapi.KindBoolean:
		if text != "true" && text != "false" {
			bad("not a boolean")
		}
	case tenantapi.KindJSON:
		if !json.Valid([]byte(text)) || len(text) > tenantapi.MaxAttributesSize {
			bad("not JSON within 64 KiB")
		}
	case tenantapi.KindTimestamp:
		ts, err := time.Parse(time.RFC3339Nano, text)
		if err != nil || ts.Location() != time.UTC || ts.Year() < 1 || ts.Year() > 9999 {
			bad("not an RFC 3339 UTC time")
		}
	case tenantapi.KindDate:
		if _, err := time.Parse("2006-01-02", text); err != nil || len(text) != 10 {
			bad("not a date")
		}
	case tenantapi.KindUUID:
		if _, err := uuid.Parse(text); err != nil || len(text) != 36 {
			bad("not a UUID")
		}
	case tenantapi.KindEnum:
		if !slices.Contains(typ.Labels, text) {
			bad("not a label")
		}
	}
}

// fuzzTasks is a resource like the example set's tasks: filterable
// project_id (uuid), status (enum), priority (smallint) and due_on (date).
var fuzzTasks = &tenantapi.Resource{Name: "tasks", Versioned: true, Fields: []tenantapi.Field{
	{Name: "project_id", Type: tenantapi.Type{Kind: tenantapi.KindUUID}, NotNull: true, Filterable: true},
	{Name: "title", Type: tenantapi.Type{Kind: tenantapi.KindString}, NotNull: true},
	{Name: "status", Type: fuzzTypes[13], NotNull: true, HasDefault: true, Filterable: true},
	{Name: "priority", Type: fuzzTypes[2], Filterable: true},
	{Name: "due_on", Type: tenantapi.Type{Kind: tenantapi.KindDate}, Filterable: true},
	{Name: "budget", Type: fuzzTypes[4], Filterable: true},
}}

// FuzzFilterQuery checks the list query of a resource: any query string
// is refused with invalid-query or invalid-cursor, or gives filters only
// on filterable columns (or id), each at most once, with values of their
// column's type, a limit from 1 to 500, and a cursor that is bound to
// exactly these filters. Seeds live in testdata/fuzz/FuzzFilterQuery as
// well.
func FuzzFilterQuery(f *testing.F) {
	bound := filterBound(fuzzTasks, []tenantapi.Filter{{Field: 2, Text: "todo"}})
	c := encodeRowCursor(uuid.MustParse("0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f"), &bound)
	for _, s := range []string{
		"", "limit=10", "status=todo", "status=todo&cursor=" + c, "status=done&cursor=" + c, "cursor=" + c,
		"status=todo&status=done", "title=x", "priority=3", "priority=3.0", "priority=99999", "due_on=2026-02-30",
		"project_id=0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f&status=doing", "id=1", "budget=1.234", "budget=1e2",
		"status=%00", "status", "=", "&&", "limit=0", "limit=501", "%zz", "status=todo;DROP", "Status=todo",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.NewRequest("GET", "/tasks", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.URL.RawQuery = raw
		q, b, err := rowQuery(r, fuzzTasks)
		if err != nil {
			if !asError(err, tenantapi.CodeInvalidQuery) && !asError(err, tenantapi.CodeInvalidCursor) {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > tenantapi.MaxPageLimit {
			t.Fatalf("%q: limit %d", raw, q.Limit)
		}
		seen := map[int]bool{}
		for _, fl := range q.Filters {
			if seen[fl.Field] {
				t.Fatalf("%q: field %d filtered twice", raw, fl.Field)
			}
			seen[fl.Field] = true
			typ := tenantapi.Type{Kind: tenantapi.KindUUID}
			if fl.Field >= 0 {
				fd := fuzzTasks.Fields[fl.Field]
				if !fd.Filterable {
					t.Fatalf("%q: filter on %s, which no index leads", raw, fd.Name)
				}
				typ = fd.Type
			}
			if typ.Kind == tenantapi.KindNumeric {
				if !numText.MatchString(fl.Text) || !numericFits(fl.Text) {
					t.Fatalf("%q: numeric filter %q", raw, fl.Text)
				}
				continue
			}
			checkAccepted(t, typ, fl.Text, raw)
		}
		if len(q.Filters) == 0 && b != nil || len(q.Filters) > 0 && (b == nil || *b != filterBound(fuzzTasks, q.Filters)) {
			t.Fatalf("%q: cursor bound %v for filters %v", raw, b, q.Filters)
		}
	})
}

// filterBound is the bound rowQuery gives a cursor of fs (in the order it
// reads them, by name).
func filterBound(res *tenantapi.Resource, fs []tenantapi.Filter) [8]byte {
	r, _ := http.NewRequest("GET", "/", nil)
	vs := url.Values{}
	for _, f := range fs {
		name := "id"
		if f.Field >= 0 {
			name = res.Fields[f.Field].Name
		}
		vs.Set(name, f.Text)
	}
	r.URL.RawQuery = vs.Encode()
	_, b, err := rowQuery(r, res)
	if err != nil || b == nil {
		return [8]byte{}
	}
	return *b
}

// fuzzItemRow is the stored item FuzzRowBody patches, as the database
// returns it.
var fuzzItemRow = []byte(`{"id":"0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f","name":"Widget","description":"a thing",` +
	`"attributes":{"n": null, "size": {"h": 2.50, "w": 1}, "tags": ["a", "b"], "color": "red"},` +
	`"version":3,"created_at":"2026-11-26T14:07:25.123456Z","updated_at":"2026-11-26T14:07:25.123456Z"}`)

// FuzzRowBody feeds arbitrary bytes through the body pipeline of the
// items resource: decodeObject, then rowValues as a POST, a PUT and a
// PATCH, and mergeValues into a fixed stored item for the PATCH. It must
// never panic; every error must be a caller's error (malformed-json or
// validation-failed with fields), never an internal one; the body must
// come out unchanged (a PATCH that starts over merges it again); and
// whatever it accepts must be values the database can store for the
// fields the body names, within the item limits of SPEC §3 that the
// server checks (an empty name and attributes that are not an object are
// the database's CHECK constraints). Seeds live in
// testdata/fuzz/FuzzRowBody as well.
func FuzzRowBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"Widget"}`,
		`{"name":"Widget","description":"d","attributes":{"color":"red","n":1.50,"<tag>":"a&b"}}`,
		`{"name":"x","attributes":{"size":{"w":null},"tags":null,"n":7}}`,
		`{"name":""}`, `{"name":null}`, `{"name":1}`, `{}`, `[]`, `"x"`, `null`, ``, `{`,
		`{"name":"a","name":"b"}`, `{"name":"a"} x`, "{\"name\":\"\xff\"}",
		`{"name":"a\u0000b"}`, `{"name":"a","attributes":{"k\u0000":1}}`,
		`{"name":"\ud800"}`, `{"name":"a","attributes":[1]}`, `{"name":"a","attributes":"x"}`,
		`{"name":"a","id":"0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f","version":9,"created_at":1}`,
		`{"name":"a","id":"0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8ea0"}`,
		`{"name":"a","id":"not-a-uuid"}`, `{"name":"a","extra":1,"~/":2}`,
		`{"description":null,"attributes":null}`, `{"attributes":{"size":{"d":` + strings.Repeat(`{"a":`, 30) + "1" + strings.Repeat("}", 30) + `}}}`,
		`{"name":"a","attributes":{"n":1e999999}}`, `{"name":"a","attributes":{"n":-0.0e-16384}}`,
		`{"name":"a","attributes":{"n":1e65000}}`, `{"name":"a","attributes":{"n":[1e30000,1e30000,1e30000]}}`,
		`{"name":"` + strings.Repeat("é", 200) + `"}`, `{"name":"` + strings.Repeat("é", 201) + `"}`,
		`{"name":"a","attributes":` + strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32) + `}`,
		`{"name":"a","attributes":` + strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33) + `}`,
		`{"name":"a","attributes":{"a":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}}`,
	} {
		f.Add([]byte(s))
	}
	stored, err := decodeStored(fuzzItemRow)
	if err != nil {
		f.Fatal(err)
	}
	storedAttrs := stored.(map[string]any)["attributes"]
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, err := decodeObject(body)
		if err != nil {
			checkCallerError(t, "decodeObject", body, err)
			return
		}
		fresh, _ := decodeObject(body)
		for _, kind := range []writeKind{createBody, replaceBody, patchBody} {
			var path *uuid.UUID
			if kind != createBody {
				path = &fuzzItemID
			}
			what := [...]string{"rowValues(POST)", "rowValues(PUT)", "rowValues(PATCH)"}[kind]
			vals, merge, err := rowValues(itemsResource, obj, kind, path)
			if !reflect.DeepEqual(obj, fresh) {
				t.Fatalf("%s(%q) changed the body", what, body)
			}
			if err != nil {
				checkCallerError(t, what, body, err)
				continue
			}
			if kind != patchBody || len(merge) == 0 {
				checkItemValues(t, what, body, obj, kind, vals, nil)
				continue
			}
			if !slices.Equal(merge, []int{2}) {
				t.Fatalf("%s(%q) merges fields %v, want only the attributes", what, body, merge)
			}
			merged, err := mergeValues(itemsResource, obj, merge, fuzzItemRow, slices.Clone(vals))
			if !reflect.DeepEqual(obj, fresh) {
				t.Fatalf("mergeValues(%q) changed the body", body)
			}
			if err != nil {
				checkCallerError(t, "mergeValues", body, err)
				continue
			}
			want := refMergePatch(storedAttrs, obj["attributes"])
			checkItemValues(t, "mergeValues", body, obj, kind, merged, want)
			again, err := mergeValues(itemsResource, obj, merge, fuzzItemRow, slices.Clone(vals))
			if err != nil || !reflect.DeepEqual(again, merged) {
				t.Fatalf("mergeValues(%q) again = %+v, %v; first %+v", body, again, err, merged)
			}
		}
	})
}

// checkItemValues fails unless vals are what a write of kind with body
// obj must send: each field at most once and in order, a POST or PUT
// naming every field, a PATCH only the members present; a member left
// out or null as the column's default (name has none, so never); strings
// as the body gave them, within the columns' lengths, without U+0000; and
// attributes as JSON text that reads back as the body's value (merged is
// the value a merge must give instead), within the limits PostgreSQL and
// SPEC §3 set.
func checkItemValues(t *testing.T, what string, body []byte, obj map[string]any, kind writeKind, vals []tenantapi.Value, merged any) {
	t.Helper()
	seen := map[int]bool{}
	for i, v := range vals {
		if v.Field < 0 || v.Field >= len(itemsResource.Fields) || seen[v.Field] || i > 0 && v.Field < vals[i-1].Field {
			t.Fatalf("%s(%q): values %+v out of order", what, body, vals)
		}
		seen[v.Field] = true
		f := itemsResource.Fields[v.Field]
		member, present := obj[f.Name]
		if kind == patchBody && !present {
			t.Fatalf("%s(%q) writes %s, which the patch does not name", what, body, f.Name)
		}
		switch {
		case v.Null:
			t.Fatalf("%s(%q) writes NULL to the NOT NULL %s", what, body, f.Name)
		case v.Default:
			if !f.HasDefault || present && member != nil {
				t.Fatalf("%s(%q) writes %s's default for %#v", what, body, f.Name, member)
			}
		case f.Type.Kind == tenantapi.KindString:
			if s, _ := member.(string); s != v.Text {
				t.Fatalf("%s(%q) writes %s = %q for %#v", what, body, f.Name, v.Text, member)
			}
			if n := utf8.RuneCountInString(v.Text); n > f.Type.MaxLength || !utf8.ValidString(v.Text) || strings.ContainsRune(v.Text, 0) {
				t.Fatalf("%s(%q) accepted %s = %q (%d runes)", what, body, f.Name, v.Text, n)
			}
		default:
			want := member
			if merged != nil {
				want = merged
			}
			checkAcceptedAttributes(t, what, body, v.Text, want)
		}
	}
	if kind != patchBody && len(vals) != len(itemsResource.Fields) {
		t.Fatalf("%s(%q) = %+v, want every field", what, body, vals)
	}
	if _, named := obj["name"]; !seen[0] && (kind != patchBody || named) {
		t.Fatalf("%s(%q) accepted a write without a name: %+v", what, body, vals)
	}
}

// checkAcceptedAttributes fails unless text, the attributes accepted,
// reads back equal to want and is within the limits of SPEC §3 and what
// PostgreSQL stores.
func checkAcceptedAttributes(t *testing.T, what string, body []byte, text string, want any) {
	t.Helper()
	if len(text) > tenantapi.MaxAttributesSize || strings.Contains(text, `\u0000`) {
		t.Fatalf("%s(%q) accepted attributes %.200s (%d bytes)", what, body, text, len(text))
	}
	got, err := parseJSON([]byte(text))
	if err != nil {
		t.Fatalf("%s(%q): attributes %s do not parse: %v", what, body, text, err)
	}
	if d := depthOf(got); d > tenantapi.MaxAttributeDepth {
		t.Fatalf("%s(%q): attributes nest %d deep", what, body, d)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s(%q): attributes %s, want %#v", what, body, text, want)
	}
	if grow := checkNumbersStorable(t, what, body, got); int64(len(text))+grow > tenantapi.MaxAttributesSize {
		t.Fatalf("%s(%q) accepted attributes that PostgreSQL prints in %d bytes", what, body, int64(len(text))+grow)
	}
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
