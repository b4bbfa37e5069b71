package httpapi

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// specProblemCodes are the problem codes of the product contract (SPEC §4),
// in its table's order.
var specProblemCodes = []string{
	"missing-tenant-id", "invalid-tenant-id",
	"malformed-json", "invalid-query", "invalid-cursor",
	"unauthorized",
	"forbidden", "tenant-suspended",
	"tenant-not-found", "item-not-found", "not-found",
	"method-not-allowed",
	"conflict", "idempotency-key-reused",
	"precondition-failed",
	"payload-too-large",
	"unsupported-media-type",
	"validation-failed",
	"rate-limited",
	"unavailable",
	"internal",
}

// specOperations are the routes of the product contract (SPEC §3, §5, §6).
var specOperations = []struct{ method, path string }{
	{"GET", "/items"},
	{"HEAD", "/items"},
	{"POST", "/items"},
	{"OPTIONS", "/items"},
	{"GET", "/items/{item_id}"},
	{"HEAD", "/items/{item_id}"},
	{"PUT", "/items/{item_id}"},
	{"PATCH", "/items/{item_id}"},
	{"DELETE", "/items/{item_id}"},
	{"OPTIONS", "/items/{item_id}"},
	{"POST", "/admin/tenants"},
	{"GET", "/admin/tenants"},
	{"GET", "/admin/tenants/{id}"},
	{"GET", "/admin/tenants/{id}/usage"},
	{"PATCH", "/admin/tenants/{id}"},
	{"DELETE", "/admin/tenants/{id}"},
	{"POST", "/admin/tenants/{id}/api-keys"},
	{"GET", "/admin/tenants/{id}/api-keys"},
	{"DELETE", "/admin/tenants/{id}/api-keys/{key_id}"},
	{"GET", "/admin/config"},
	{"GET", "/admin/config/{key}"},
	{"PUT", "/admin/config/{key}"},
	{"DELETE", "/admin/config/{key}"},
	{"GET", "/healthz"},
	{"GET", "/readyz"},
	{"GET", "/openapi.json"},
	{"GET", "/docs"},
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIDocument checks openapi.json against the product contract: it is
// OpenAPI 3.1.0, documents every route and no other, each operation has an
// operationId, a summary, an example and X-Request-ID on every response, every
// $ref resolves, and the problem codes are exactly the contract's.
func TestOpenAPIDocument(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if got := doc["openapi"]; got != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", got)
	}

	paths, _ := doc["paths"].(map[string]any)
	operationIDs := map[string]string{}
	for _, want := range specOperations {
		name := want.method + " " + want.path
		item, _ := paths[want.path].(map[string]any)
		op, ok := item[strings.ToLower(want.method)].(map[string]any)
		if !ok {
			t.Errorf("%s: operation missing", name)
			continue
		}
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", name)
		} else if other, dup := operationIDs[id]; dup {
			t.Errorf("%s: operationId %q already used by %s", name, id, other)
		} else {
			operationIDs[id] = name
		}
		if s, _ := op["summary"].(string); s == "" {
			t.Errorf("%s: no summary", name)
		}
		if s, _ := op["description"].(string); s == "" {
			t.Errorf("%s: no description", name)
		}
		if !hasExample(doc, op) {
			t.Errorf("%s: no example in its parameters, request body or responses", name)
		}
		responses, _ := op["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s: no responses", name)
		}
		for status, r := range responses {
			resp, _ := resolveRef(doc, r).(map[string]any)
			headers, _ := resp["headers"].(map[string]any)
			if _, ok := headers["X-Request-ID"]; !ok {
				t.Errorf("%s: response %s lacks the X-Request-ID header", name, status)
			}
		}
	}

	// The table above is the whole API: nothing undocumented by the contract.
	for path, v := range paths {
		item, _ := v.(map[string]any)
		for _, m := range openAPIMethods {
			if _, ok := item[m]; !ok {
				continue
			}
			if !slices.ContainsFunc(specOperations, func(o struct{ method, path string }) bool {
				return o.path == path && strings.EqualFold(o.method, m)
			}) {
				t.Errorf("%s %s: operation not in the contract's route table", strings.ToUpper(m), path)
			}
		}
	}

	walkRefs(doc, "", func(at, ref string) {
		if resolvePointer(doc, ref) == nil {
			t.Errorf("%s: $ref %q does not resolve inside the document", at, ref)
		}
	})

	problem, _ := resolvePointer(doc, "#/components/schemas/Problem").(map[string]any)
	props, _ := problem["properties"].(map[string]any)
	code, _ := resolveRef(doc, props["code"]).(map[string]any)
	enum, _ := code["enum"].([]any)
	var got []string
	for _, v := range enum {
		s, _ := v.(string)
		got = append(got, s)
	}
	want := slices.Clone(specProblemCodes)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Problem code enum = %q,\nwant SPEC §4's %q", got, want)
	}
	if len(slices.Compact(got)) != len(enum) {
		t.Errorf("Problem code enum has duplicates: %q", enum)
	}
}

// TestDocsPageSelfContained checks that the docs page loads nothing from the
// network but the description beside it.
func TestDocsPageSelfContained(t *testing.T) {
	page, err := os.ReadFile("docs.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)https?://`),
		regexp.MustCompile(`(?i)<script[^>]+src=`),
		regexp.MustCompile(`(?i)<link[^>]+stylesheet`),
		regexp.MustCompile(`(?i)@import`),
		regexp.MustCompile(`\burl\(`), // CSS url(), not JavaScript's URL()
	} {
		if loc := bad.FindStringIndex(html); loc != nil {
			t.Errorf("docs.html refers to an outside resource: %q", html[loc[0]:min(loc[1]+40, len(html))])
		}
	}
	for _, want := range []string{`"openapi.json"`, "<noscript>", `class: "operation"`, `"data-method"`, `"data-path"`} {
		if !strings.Contains(html, want) {
			t.Errorf("docs.html lacks %s", want)
		}
	}
}

// hasExample reports whether an operation carries an example: on a parameter,
// a request body, a response body or a response header. It follows $refs into
// shared parameters, bodies, responses, headers and examples, but not into
// schemas, whose examples illustrate a type rather than the operation.
func hasExample(doc map[string]any, v any) bool {
	seen := map[string]bool{}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if strings.HasPrefix(ref, "#/components/schemas/") || seen[ref] {
					return false
				}
				seen[ref] = true
				return walk(resolvePointer(doc, ref))
			}
			if _, ok := v["example"]; ok {
				return true
			}
			if ex, ok := v["examples"].(map[string]any); ok && len(ex) > 0 {
				return true
			}
			for k, child := range v {
				if k != "schema" && walk(child) {
					return true
				}
			}
		case []any:
			for _, child := range v {
				if walk(child) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// walkRefs calls f with the location and value of every $ref in v.
func walkRefs(v any, at string, f func(at, ref string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if s, ok := child.(string); ok && k == "$ref" {
				f(at, s)
				continue
			}
			walkRefs(child, at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), f)
		}
	case []any:
		for i, child := range v {
			walkRefs(child, at+"/"+strconv.Itoa(i), f)
		}
	}
}

// resolveRef follows v's $ref chain, if any, to the object it names.
func resolveRef(doc map[string]any, v any) any {
	for range 32 {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		v = resolvePointer(doc, ref)
	}
	return nil
}

// resolvePointer returns what a document-local reference ("#/a/b") names, or
// nil.
func resolvePointer(doc map[string]any, ref string) any {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil // only references inside this document are allowed
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil
	}
	if frag == "" {
		return doc
	}
	if !strings.HasPrefix(frag, "/") {
		return nil
	}
	var cur any = doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}
