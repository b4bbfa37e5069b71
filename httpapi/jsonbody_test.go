package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi"
)

// TestParseJSONDeepNesting checks values nested past maxParseDepth: they
// become tooDeep (validation reports them, 422) with their syntax still
// checked (400), and hostile depth costs no recursion: a body of 500,000
// levels parses as quickly as its bytes allow.
func TestParseJSONDeepNesting(t *testing.T) {
	t.Parallel()
	wrap := func(inner string) []byte {
		return []byte(`{"n":` + inner + `}`)
	}
	deep := func(n int, inner string) string {
		return strings.Repeat(`[{"k":`, n) + inner + strings.Repeat(`}]`, n)
	}
	for name, body := range map[string][]byte{
		"arrays":          wrap(strings.Repeat(`[`, 500_000) + strings.Repeat(`]`, 500_000)),
		"objects":         wrap(deep(maxParseDepth+5, `{"a":[1,-2.5e3,"x\u00e9",true,false,null,{}],"b":[]}`)),
		"just at the cap": wrap(deep(maxParseDepth/2, `1`)),
	} {
		v, err := parseJSON(body)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if name == "just at the cap" {
			continue
		}
		if !containsTooDeep(v) {
			t.Errorf("%s: nothing became tooDeep", name)
		}
	}
	for name, body := range map[string][]byte{
		"unclosed":          []byte(strings.Repeat(`[`, MaxBodySize)),
		"bad literal deep":  wrap(deep(maxParseDepth+5, `tru`)),
		"missing colon":     wrap(deep(maxParseDepth+5, `{"a" 1}`)),
		"trailing comma":    wrap(deep(maxParseDepth+5, `[1,]`)),
		"bad number":        wrap(deep(maxParseDepth+5, `01`)),
		"control character": wrap(deep(maxParseDepth+5, "\"a\x01\"")),
		"mismatched close":  wrap(strings.Repeat(`[`, 100) + strings.Repeat(`}`, 100)),
		"duplicate above":   []byte(`{"n":` + deep(maxParseDepth+5, `1`) + `,"n":1}`),
	} {
		_, err := parseJSON(body)
		var te *tenantapi.Error
		if !errors.As(err, &te) || te.Code != tenantapi.CodeMalformedJSON {
			t.Errorf("%s: %v, want malformed-json", name, err)
		}
	}
}

// containsTooDeep reports whether v holds a tooDeep anywhere.
func containsTooDeep(v any) bool {
	switch v := v.(type) {
	case tooDeep:
		return true
	case map[string]any:
		for _, e := range v {
			if containsTooDeep(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if containsTooDeep(e) {
				return true
			}
		}
	}
	return false
}

// TestEncodeJSONAsEncodingJSON: encodeJSON writes, for every value the
// parser makes, the bytes encoding/json's Encoder writes without HTML
// escaping (so the 64 KiB limit on encoded attributes means what it did).
func TestEncodeJSONAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, body := range encodeCorpus {
		checkEncodeJSON(t, []byte(body))
	}
}

// FuzzEncodeJSON checks the same on any body the parser accepts.
func FuzzEncodeJSON(f *testing.F) {
	for _, body := range encodeCorpus {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkEncodeJSON(t, body) })
}

var encodeCorpus = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-1.5e+10`, `""`,
	`{"b":[1,2.50,{"z":null,"a":true}],"a":{"x":"y"},"":[]}`,
	`{"s":"quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul-free \u0001 \u001f del \u007f"}`,
	`{"html":"<a href=\"x\">&amp;</a>","sep":"\u2028 and \u2029","emoji":"😀 é €","esc":"\ud83d\ude00"}`,
	`{"k\u00e9y":1,"key":2,"Key":3,"kéy2":4}`,
	`[[[[[[]]]]]]`, `{"n":[1e400,-0,0.000001,123456789012345678901234567890]}`,
}

func checkEncodeJSON(t *testing.T, body []byte) {
	t.Helper()
	v, err := parseJSON(body)
	if err != nil {
		return // not a body the parser takes
	}
	got, err := encodeJSON(v)
	if err != nil {
		t.Fatalf("%q: %v", body, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("%q: encoding/json: %v", body, err)
	}
	if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
		t.Errorf("%q:\n  got  %s\n  want %s", body, got, want)
	}
}
