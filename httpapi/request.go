package httpapi

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tenantapi/tenantapi"
)

// etag returns the ETag of a version: the quoted version number.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// parseIfMatch parses If-Match for strong comparison: "*" or a list of
// entity tags; weak tags never match. A malformed header is CodeInvalidQuery.
func parseIfMatch(r *http.Request) (tenantapi.Precondition, error) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return tenantapi.Precondition{}, nil
	}
	pre := tenantapi.Precondition{Present: true}
	for _, v := range values {
		tags, ok := splitETags(v)
		if !ok {
			return pre, tenantapi.Errorf(tenantapi.CodeInvalidQuery, "the If-Match header is malformed")
		}
		for _, t := range tags {
			switch {
			case t == "*":
				pre.Any = true
			case strings.HasPrefix(t, "W/"):
			default:
				// Strong comparison: only the ETag itself, not "+3" or "03".
				if n, err := strconv.ParseInt(strings.Trim(t, `"`), 10, 64); err == nil && n > 0 && etag(n) == t {
					pre.Versions = append(pre.Versions, n)
				}
			}
		}
	}
	return pre, nil
}

// noneMatch reports whether If-None-Match names the version, by weak
// comparison ("*" names any).
func noneMatch(r *http.Request, version int64) bool {
	want := etag(version)
	for _, v := range r.Header.Values("If-None-Match") {
		tags, _ := splitETags(v)
		for _, t := range tags {
			if t == "*" || strings.TrimPrefix(t, "W/") == want {
				return true
			}
		}
	}
	return false
}

// splitETags splits a list of entity tags (RFC 9110 §8.8.3) or "*".
func splitETags(v string) ([]string, bool) {
	v = strings.TrimSpace(v)
	if v == "*" {
		return []string{"*"}, true
	}
	var tags []string
	for v != "" {
		weak := strings.HasPrefix(v, "W/")
		rest := strings.TrimPrefix(v, "W/")
		if !strings.HasPrefix(rest, `"`) {
			return nil, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false
		}
		tag := rest[:end+2]
		if weak {
			tag = "W/" + tag
		}
		tags = append(tags, tag)
		v = strings.TrimSpace(rest[end+2:])
		if v == "" {
			break
		}
		if v[0] != ',' {
			return nil, false
		}
		v = strings.TrimSpace(v[1:])
	}
	return tags, len(tags) > 0
}

// checkShape runs the checks of SPEC §4.1 (8) that need only what e
// declares, in their order: the body's media type (415, with Accept-Patch
// for PATCH), its size (413), then the query parameters (400
// invalid-query). What is left of step 8, the body's JSON and headers such
// as If-Match, the handler checks.
func (e *endpoint) checkShape(w http.ResponseWriter, r *http.Request) error {
	if b := e.body; b != nil && (!b.optional || hasBody(r)) {
		if !slices.Contains(b.types, mediaType(r.Header.Get("Content-Type"))) {
			if r.Method == http.MethodPatch {
				w.Header().Set("Accept-Patch", b.acceptPatch())
			}
			return tenantapi.Errorf(tenantapi.CodeUnsupportedMedia, "the body must be %s", strings.Join(b.types, " or "))
		}
		if r.ContentLength > MaxBodySize {
			return errTooLarge
		}
	}
	if e.anyQuery || e.filters {
		return nil
	}
	err := checkQuery(r.URL.RawQuery, e.query)
	if err != nil && e.body != nil && r.ContentLength < 0 {
		// A body of unknown length: only reading it tells 413 from 400.
		if n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, MaxBodySize+1)); n > MaxBodySize {
			return errTooLarge
		}
	}
	return err
}

// hasBody reports whether the request carries a body, for endpoints whose
// body is optional: a length other than 0, or a Content-Type.
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || r.Header.Get("Content-Type") != ""
}

// checkQuery refuses, with CodeInvalidQuery naming it, a query parameter
// that is not one of allowed or that is given more than once, and a query
// string that does not parse.
func checkQuery(rawQuery string, allowed []string) error {
	if rawQuery == "" {
		return nil
	}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return tenantapi.Errorf(tenantapi.CodeInvalidQuery, "the query string is malformed")
	}
	// Of several bad parameters, name the first in sort order, so that the
	// same request always gets the same answer.
	found, bad, repeated := false, "", false
	for k, vs := range values {
		known := slices.Contains(allowed, k)
		if (!known || len(vs) > 1) && (!found || k < bad) {
			found, bad, repeated = true, k, known
		}
	}
	switch {
	case !found:
		return nil
	case repeated:
		return tenantapi.Errorf(tenantapi.CodeInvalidQuery, "query parameter %q is repeated", truncate(bad, 32))
	default:
		return tenantapi.Errorf(tenantapi.CodeInvalidQuery, "unknown query parameter %q", truncate(bad, 32))
	}
}

// listQuery is a parsed ?limit=&cursor= of a list route.
type listQuery struct {
	limit  int
	cursor string // raw; decoded by the route
}

// parseListQuery reads limit (^[1-9][0-9]{0,2}$, at most 500) and cursor
// of a list route, whose declaration (pageParams) has refused any other
// parameter, a repeated one and a malformed query string (checkShape).
func parseListQuery(r *http.Request) (listQuery, error) {
	q := listQuery{limit: tenantapi.DefaultPageLimit}
	values := r.URL.Query()
	if vs := values["limit"]; len(vs) > 0 {
		n, ok := parseLimit(vs[0])
		if !ok {
			return q, tenantapi.Errorf(tenantapi.CodeInvalidQuery, "limit must be an integer from 1 to %d", tenantapi.MaxPageLimit)
		}
		q.limit = n
	}
	if vs := values["cursor"]; len(vs) > 0 {
		q.cursor = vs[0]
		if q.cursor == "" {
			return q, tenantapi.Errorf(tenantapi.CodeInvalidCursor, "the cursor is not valid")
		}
	}
	return q, nil
}

func parseLimit(s string) (int, bool) {
	if len(s) < 1 || len(s) > 3 || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= tenantapi.MaxPageLimit
}

// Row cursors (encodeRowCursor) begin with a version byte, so the format
// can change.
const cursorVersion = 1

// decodeCursor decodes base64url without padding, accepting only the one
// encoding a cursor has: the decoder would skip CR and LF.
func decodeCursor(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, base64.CorruptInputError(strings.IndexAny(s, "\r\n"))
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// Tenant list cursors are the last tenant id, base64url without padding.
func encodeTenantCursor(id tenantapi.TenantID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

func decodeTenantCursor(s string) (tenantapi.TenantID, error) {
	b, err := decodeCursor(s)
	if err != nil || !tenantapi.ValidTenantID(string(b)) {
		return "", tenantapi.Errorf(tenantapi.CodeInvalidCursor, "the cursor is not valid")
	}
	return tenantapi.TenantID(b), nil
}

// parseIdempotencyKey returns the Idempotency-Key header: absent, or 1–255
// printable ASCII characters (else CodeInvalidQuery).
func parseIdempotencyKey(r *http.Request) (string, bool, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", false, nil
	}
	bad := tenantapi.Errorf(tenantapi.CodeInvalidQuery, "Idempotency-Key must be 1 to 255 printable ASCII characters")
	if len(values) > 1 || len(values[0]) == 0 || len(values[0]) > 255 {
		return "", false, bad
	}
	for i := 0; i < len(values[0]); i++ {
		if c := values[0][i]; c < 0x20 || c > 0x7e {
			return "", false, bad
		}
	}
	return values[0], true, nil
}

// basePath is the path prefix the client sees (API Gateway's stage), so
// Location and links point where the client can follow them.
func basePath(r *http.Request) string {
	if g := tenantapi.GatewayFrom(r.Context()); g != nil {
		return g.BasePath
	}
	return ""
}
