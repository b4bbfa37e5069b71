package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// FuzzCursor checks the list cursors: decoding any string never panics and
// fails only with invalid-cursor; a cursor that decodes is the one encoding
// of what it decodes to; and encoding then decoding gives back any row id
// (any 16 bytes), with or without a filter bound, and any valid tenant id;
// a row cursor decodes only with the bound it was made with. Seeds live in
// testdata/fuzz/FuzzCursor as well.
func FuzzCursor(f *testing.F) {
	id := uuid.MustParse("0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f")
	c := encodeRowCursor(id, nil) // AQGTpvFMLn0Kmx4_Wmx9jp8
	bound := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	for _, s := range []string{
		c, encodeRowCursor(uuid.UUID{}, nil), encodeRowCursor(id, &bound), encodeTenantCursor("acme"),
		"", "=", c + "=", c[:22] + "9", c[:22], c + "A", strings.ReplaceAll(c, "_", "/"),
		c[:12] + "\n" + c[12:], c + "\r", "\n" + c, "YWNtZQ", "QWNtZQ", "YWNtZQ\n", "%00", "' OR 1=1 --",
	} {
		f.Add(s, id[:])
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		var id uuid.UUID
		copy(id[:], raw)
		if got, err := decodeRowCursor(encodeRowCursor(id, nil), nil); err != nil || got != id {
			t.Fatalf("row cursor of %v decodes to %v, %v", id, got, err)
		}
		var b [8]byte
		copy(b[:], raw[min(len(raw), 16):])
		bc := encodeRowCursor(id, &b)
		if got, err := decodeRowCursor(bc, &b); err != nil || got != id {
			t.Fatalf("row cursor of %v bound to %v decodes to %v, %v", id, b, got, err)
		}
		other := b
		other[0]++
		if _, err := decodeRowCursor(bc, &other); err == nil {
			t.Fatalf("row cursor bound to %v decodes with %v", b, other)
		}
		if _, err := decodeRowCursor(bc, nil); err == nil {
			t.Fatalf("row cursor bound to %v decodes without filters", b)
		}
		if tid := tenantapi.TenantID(s); tenantapi.ValidTenantID(s) {
			if got, err := decodeTenantCursor(encodeTenantCursor(tid)); err != nil || got != tid {
				t.Fatalf("tenant cursor of %q decodes to %q, %v", s, got, err)
			}
		}

		if got, err := decodeRowCursor(s, nil); err != nil {
			checkCode(t, "decodeRowCursor", s, err, tenantapi.CodeInvalidCursor)
		} else if again := encodeRowCursor(got, nil); again != s {
			t.Fatalf("row cursor %q decodes to %v, whose cursor is %q", s, got, again)
		}
		if got, err := decodeTenantCursor(s); err != nil {
			checkCode(t, "decodeTenantCursor", s, err, tenantapi.CodeInvalidCursor)
		} else if !tenantapi.ValidTenantID(string(got)) {
			t.Fatalf("tenant cursor %q decodes to the invalid id %q", s, got)
		} else if again := encodeTenantCursor(got); again != s {
			t.Fatalf("tenant cursor %q decodes to %q, whose cursor is %q", s, got, again)
		}
	})
}

// checkCode fails unless err is a *tenantapi.Error with code.
func checkCode(t *testing.T, what, in string, err error, code tenantapi.Code) {
	t.Helper()
	var e *tenantapi.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s(%q): error %#v, want code %s", what, in, err, code)
	}
}

// FuzzParseIfMatch checks the If-Match and If-None-Match parsers on
// arbitrary header values (one value per line of the input): they never
// panic; a malformed If-Match is invalid-query; "*" matches any version;
// and strong comparison holds: a version matches only through a strong tag
// that is exactly its ETag. Seeds live in testdata/fuzz/FuzzParseIfMatch as
// well.
func FuzzParseIfMatch(f *testing.F) {
	for _, s := range []string{
		`*`, ` * `, `"1"`, `"1", "2"`, `W/"1"`, `W/"1", "2"`, `"1",`, `,"1"`, `"1" "2"`, `"`, `""`,
		`"+1"`, `"01"`, `"-1"`, `"0"`, `"1 "`, `"9223372036854775807"`, `"9223372036854775808"`,
		`"1", *`, "\"1\"\n\"2\"", "*\n\"1\"", `W/`, `w/"1"`, `"a,b", "3"`, `'1'`, "\"1\"\x00",
	} {
		f.Add(s, int64(1))
	}
	f.Fuzz(func(t *testing.T, header string, version int64) {
		r := &http.Request{Header: http.Header{}}
		values := strings.Split(header, "\n")
		for _, v := range values {
			r.Header.Add("If-Match", v)
			r.Header.Add("If-None-Match", v)
		}
		noneMatch(r, version) // must not panic

		pre, err := parseIfMatch(r)
		if err != nil {
			checkCode(t, "parseIfMatch", header, err, tenantapi.CodeInvalidQuery)
			return
		}
		if !pre.Present {
			t.Fatalf("parseIfMatch(%q): not Present", header)
		}
		var tags []string
		for _, v := range values {
			ts, ok := splitETags(v)
			if !ok {
				t.Fatalf("parseIfMatch(%q) accepted the malformed value %q", header, v)
			}
			tags = append(tags, ts...)
		}
		for _, v := range values {
			if strings.TrimSpace(v) == "*" && !pre.Any {
				t.Fatalf("parseIfMatch(%q): * is not Any", header)
			}
		}
		for _, n := range pre.Versions {
			if n <= 0 {
				t.Fatalf("parseIfMatch(%q): version %d", header, n)
			}
		}
		if pre.Any {
			if !pre.Matches(version) {
				t.Fatalf("parseIfMatch(%q): Any does not match %d", header, version)
			}
			return
		}
		strong := false
		for _, tag := range tags {
			if tag == etag(version) {
				strong = true
			}
		}
		if pre.Matches(version) != (strong && version > 0) {
			t.Fatalf("parseIfMatch(%q).Matches(%d) = %v, but strong comparison with tags %q gives %v", header, version, !strong, tags, strong)
		}
	})
}

// TestParseIfMatchStrong pins the cases FuzzParseIfMatch found: an entity
// tag matches only when it is exactly the ETag, not when it is a different
// spelling of the same number.
func TestParseIfMatchStrong(t *testing.T) {
	tests := []struct {
		header string
		v      int64
		want   bool
	}{
		{`"5"`, 5, true},
		{`"+5"`, 5, false},
		{`"05"`, 5, false},
		{`"5 "`, 5, false},
		{`W/"5"`, 5, false},
		{`"4", "5"`, 5, true},
		{`*`, 5, true},
	}
	for _, tt := range tests {
		r := &http.Request{Header: http.Header{"If-Match": {tt.header}}}
		pre, err := parseIfMatch(r)
		if err != nil {
			t.Fatalf("%s: %v", tt.header, err)
		}
		if got := pre.Matches(tt.v); got != tt.want {
			t.Errorf("If-Match %s matches version %s: %v, want %v", tt.header, strconv.FormatInt(tt.v, 10), got, tt.want)
		}
	}
}
