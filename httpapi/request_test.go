package httpapi

import (
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi"
)

func TestCheckQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query   string
		allowed []string
		detail  string // "" for accepted
	}{
		{"", nil, ""},
		{"&", nil, ""},
		{"limit=5&cursor=abc", pageParams, ""},
		{"limit=5", nil, `unknown query parameter "limit"`},
		{"x=1", pageParams, `unknown query parameter "x"`},
		{"x", nil, `unknown query parameter "x"`},
		{"=1", pageParams, `unknown query parameter ""`},
		{"limit=1&limit=2", pageParams, `query parameter "limit" is repeated`},
		{"x=1&x=2", nil, `unknown query parameter "x"`},
		{"b=1&a=1&limit=1&limit=2", pageParams, `unknown query parameter "a"`}, // the first in sort order
		{"cursor=1&cursor=2&z=1", pageParams, `query parameter "cursor" is repeated`},
		{"%zz=1", nil, "the query string is malformed"},
		{"a=1;b=2", nil, "the query string is malformed"},
		{strings.Repeat("y", 100) + "=1", nil, `unknown query parameter "` + strings.Repeat("y", 32) + `"`},
	}
	for _, tc := range tests {
		err := checkQuery(tc.query, tc.allowed)
		if tc.detail == "" {
			if err != nil {
				t.Errorf("%q: %v, want accepted", tc.query, err)
			}
			continue
		}
		e, ok := err.(*tenantapi.Error)
		if !ok || e.Code != tenantapi.CodeInvalidQuery || e.Detail != tc.detail {
			t.Errorf("%q: %v, want invalid-query %q", tc.query, err, tc.detail)
		}
	}
}
