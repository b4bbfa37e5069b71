package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
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
