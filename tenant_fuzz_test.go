package tenantapi_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/tenantapi/tenantapi"
)

// tenantIDRE is the tenant id grammar of the product contract (SPEC §2).
var tenantIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,39}$`)

// FuzzParseTenantID checks ParseTenantID against the contract's regular
// expression: it accepts exactly the strings the expression matches, never
// panics, and the schema of an accepted id needs no quoting to be safe.
// Seeds live in testdata/fuzz/FuzzParseTenantID as well.
func FuzzParseTenantID(f *testing.F) {
	for _, s := range []string{
		"", "a", "0", "_", "_a", "a_", "acme", "tenant_a", "Acme", "acme ", " acme",
		"acme\n", "a-b", "a.b", "a\x00b", "ａcme", "acmé",
		"a234567890123456789012345678901234567890",  // 40: the longest
		"a2345678901234567890123456789012345678901", // 41
		`tenant_a"."items`, "'; DROP SCHEMA public CASCADE; --", "\xff", "a\u200eb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := tenantapi.ParseTenantID(s)
		want := tenantIDRE.MatchString(s)
		// The regexp's $ matches only at the very end (no (?m)), so a
		// trailing newline is refused by both.
		if (err == nil) != want {
			t.Fatalf("ParseTenantID(%q) error %v, regexp match %v", s, err, want)
		}
		if tenantapi.ValidTenantID(s) != want {
			t.Fatalf("ValidTenantID(%q) = %v, regexp match %v", s, !want, want)
		}
		if err != nil {
			var e *tenantapi.Error
			if !errors.As(err, &e) || e.Code != tenantapi.CodeInvalidTenantID {
				t.Fatalf("ParseTenantID(%q) error %#v, want CodeInvalidTenantID", s, err)
			}
			if id != "" {
				t.Fatalf("ParseTenantID(%q) returned %q with an error", s, id)
			}
			return
		}
		if string(id) != s {
			t.Fatalf("ParseTenantID(%q) = %q: the id was altered", s, id)
		}
		schema := id.Schema()
		if schema != "tenant_"+s {
			t.Fatalf("Schema() = %q, want %q", schema, "tenant_"+s)
		}
		// Only [a-z0-9_] and at most PostgreSQL's 63-byte identifier limit:
		// the schema name is safe even before pgx.Identifier quotes it.
		if len(schema) > 63 {
			t.Fatalf("Schema() = %q is longer than 63 bytes", schema)
		}
		for i := 0; i < len(schema); i++ {
			if c := schema[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				t.Fatalf("Schema() = %q has byte %q", schema, c)
			}
		}
	})
}
