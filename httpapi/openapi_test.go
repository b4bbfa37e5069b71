package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tenantapi/tenantapi"
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

type operation struct{ method, path string }

// specOperations are the routes of the product contract that do not depend
// on the application set (SPEC §5, §6).
var specOperations = []operation{
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

// resourceOperations are the routes of a resource (SPEC §3, §10), with
// its row path's parameter.
func resourceOperations(name, idParam string) []operation {
	one := "/" + name + "/{" + idParam + "}"
	return []operation{
		{"GET", "/" + name}, {"HEAD", "/" + name}, {"POST", "/" + name}, {"OPTIONS", "/" + name},
		{"GET", one}, {"HEAD", one}, {"PUT", one}, {"PATCH", one}, {"DELETE", one}, {"OPTIONS", one},
	}
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// fakeSchemas is a SchemaSource over schemas held in memory.
type fakeSchemas struct {
	versions []*tenantapi.Schema
	err      error
}

func (f *fakeSchemas) Schema(_ context.Context, v int) (*tenantapi.Schema, error) {
	for _, s := range f.versions {
		if s.Version == v {
			return s, nil
		}
	}
	return nil, tenantapi.Errorf(tenantapi.CodeUnavailable, "version %d is not recorded", v)
}

func (f *fakeSchemas) Schemas(context.Context) ([]*tenantapi.Schema, error) {
	return slices.Clone(f.versions), f.err
}

func (f *fakeSchemas) Known(_ context.Context, name string) (bool, error) {
	for _, s := range f.versions {
		if _, ok := s.Resource(name); ok {
			return true, nil
		}
	}
	return false, f.err
}

// loadSchema reads a schema fixture: what `tenantapi resources --json`
// prints (cmd/tenantapi TestResourcesFixtures keeps them current).
func loadSchema(t *testing.T, file string) *tenantapi.Schema {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s tenantapi.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func newDocServer(t *testing.T, src tenantapi.SchemaSource) *Server {
	t.Helper()
	s, err := NewServer(Config{}, Stores{Schemas: src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fetchDocument answers GET /openapi.json from s.
func fetchDocument(t *testing.T, s *Server) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	return rec
}

// servedDocument is what /openapi.json answers for the versions given.
func servedDocument(t *testing.T, versions ...*tenantapi.Schema) map[string]any {
	t.Helper()
	rec := fetchDocument(t, newDocServer(t, &fakeSchemas{versions: versions}))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("the document does not parse: %v", err)
	}
	return doc
}

// TestOpenAPIDocument checks the document of the built-in set against the
// product contract: OpenAPI 3.1.0, every route of items, the admin API
// and health and no other, each operation with a unique operationId, a
// summary, a description, an example and X-Request-ID on every response,
// every $ref resolving, schemas that compile, examples that validate, and
// exactly the contract's problem codes.
func TestOpenAPIDocument(t *testing.T) {
	doc := servedDocument(t, loadSchema(t, "testdata/schema_builtin.json"))
	want := append(resourceOperations("items", "item_id"), specOperations...)
	checkDocument(t, doc, want)
	if v := resolvePointer(doc, "#/info/x-application-set-version"); v != 1.0 {
		t.Errorf("info.x-application-set-version = %v, want 1", v)
	}
}

// checkDocument checks that doc is a valid OpenAPI 3.1 document of exactly
// the operations want (see TestOpenAPIDocument).
func checkDocument(t *testing.T, doc map[string]any, want []operation) {
	t.Helper()
	if got := doc["openapi"]; got != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", got)
	}
	paths, _ := doc["paths"].(map[string]any)
	operationIDs := map[string]string{}
	for _, want := range want {
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
		// Every path template parameter is declared, and nothing else in the path.
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(want.path, -1) {
			if !slices.ContainsFunc(parametersOf(doc, op), func(p map[string]any) bool { return p["in"] == "path" && p["name"] == m[1] }) {
				t.Errorf("%s: path parameter %s is not declared", name, m[1])
			}
		}
		seen := map[string]bool{}
		for _, p := range parametersOf(doc, op) {
			key := fmt.Sprint(p["in"], " ", p["name"])
			if seen[key] {
				t.Errorf("%s: parameter %s is declared twice", name, key)
			}
			seen[key] = true
		}
	}

	// The list is the whole API: nothing undocumented by the contract.
	for path, v := range paths {
		item, _ := v.(map[string]any)
		for _, m := range openAPIMethods {
			if _, ok := item[m]; !ok {
				continue
			}
			if !slices.Contains(want, operation{strings.ToUpper(m), path}) {
				t.Errorf("%s %s: operation not in the contract's route table", strings.ToUpper(m), path)
			}
		}
	}

	walkRefs(doc, "", func(at, ref string) {
		if resolvePointer(doc, ref) == nil {
			t.Errorf("%s: $ref %q does not resolve inside the document", at, ref)
		}
	})

	tags := map[string]bool{}
	for _, tag := range doc["tags"].([]any) {
		name := tag.(map[string]any)["name"].(string)
		if tags[name] {
			t.Errorf("tag %q is declared twice", name)
		}
		tags[name] = true
	}
	for path, v := range paths {
		for m, op := range v.(map[string]any) {
			for _, tag := range op.(map[string]any)["tags"].([]any) {
				if !tags[tag.(string)] {
					t.Errorf("%s %s: tag %q is not declared", m, path, tag)
				}
			}
		}
	}

	problem, _ := resolvePointer(doc, "#/components/schemas/Problem").(map[string]any)
	props, _ := problem["properties"].(map[string]any)
	code, _ := resolveRef(doc, props["code"]).(map[string]any)
	enum, _ := code["enum"].([]any)
	var got []string
	for _, v := range enum {
		s, _ := v.(string)
		got = append(got, s)
	}
	wantCodes := slices.Clone(specProblemCodes)
	slices.Sort(got)
	slices.Sort(wantCodes)
	if !slices.Equal(got, wantCodes) {
		t.Errorf("Problem code enum = %q,\nwant SPEC §4's %q", got, wantCodes)
	}
	if len(slices.Compact(got)) != len(enum) {
		t.Errorf("Problem code enum has duplicates: %q", enum)
	}

	checkSchemasAndExamples(t, doc)
}

// parametersOf returns an operation's parameters, $refs resolved.
func parametersOf(doc map[string]any, op map[string]any) []map[string]any {
	var out []map[string]any
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		if m, ok := resolveRef(doc, p).(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// checkSchemasAndExamples compiles every component schema as JSON Schema
// 2020-12 (the dialect of OpenAPI 3.1) and validates against its schema
// every example of the document: a schema's own, a parameter's, a
// header's, a request or response body's.
func checkSchemasAndExamples(t *testing.T, doc map[string]any) {
	t.Helper()
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	const base = "https://tenantapi.test/openapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(base, inst); err != nil {
		t.Fatal(err)
	}
	compile := func(pointer string) *jsonschema.Schema {
		sch, err := c.Compile(base + "#" + pointer)
		if err != nil {
			t.Errorf("schema %s does not compile: %v", pointer, err)
			return nil
		}
		return sch
	}
	validate := func(schemaAt, exampleAt string, v any) {
		if sch := compile(schemaAt); sch != nil {
			if err := sch.Validate(v); err != nil {
				t.Errorf("example %s does not match its schema %s: %v", exampleAt, schemaAt, err)
			}
		}
	}
	instDoc := inst.(map[string]any)
	schemas, _ := resolvePointer(instDoc, "#/components/schemas").(map[string]any)
	for name, s := range schemas {
		at := "/components/schemas/" + pointerToken(name)
		compile(at)
		examples, _ := s.(map[string]any)["examples"].([]any)
		for i, ex := range examples {
			validate(at, at+"/examples/"+strconv.Itoa(i), ex)
		}
	}
	// Every object with a schema and examples: parameters, headers and media types.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["schema"]; ok && !strings.HasPrefix(at, "/components/schemas") {
				if ex, ok := v["example"]; ok {
					validate(at+"/schema", at+"/example", ex)
				}
				if exs, ok := v["examples"].(map[string]any); ok {
					for k, e := range exs {
						e, _ := resolveRef(instDoc, e).(map[string]any)
						if value, ok := e["value"]; ok {
							validate(at+"/schema", at+"/examples/"+pointerToken(k), value)
						}
					}
				}
			}
			for k, child := range v {
				walk(child, at+"/"+pointerToken(k))
			}
		case []any:
			for i, child := range v {
				walk(child, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(instDoc["paths"], "/paths")
	walk(instDoc["components"], "/components")
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

// movedToText are the schema keywords of the hand-written document that
// the catalog does not record (a CHECK's expression, a column's default):
// the generated schemas state them in the field's description instead, in
// the words given here. Keyed by old schema, property and keyword.
var movedToText = map[string]string{
	"ItemCreate.name.minLength":                   "1 to 200",
	"ItemReplace.name.minLength":                  "1 to 200",
	"ItemPatch.name.minLength":                    "1 to 200",
	"Item.name.minLength":                         "1 to 200",
	"Item.description.default":                    "defaults to `\"\"`",
	"ItemCreate.description.default":              "defaults to `\"\"`",
	"ItemReplace.description.default":             "defaults to `\"\"`",
	"Item.attributes.type":                        "Any JSON object (not an array or scalar)",
	"Item.attributes.default":                     "defaults to `{}`",
	"Item.attributes.additionalProperties":        "Any JSON object",
	"ItemCreate.attributes.type":                  "Any JSON object (not an array or scalar)",
	"ItemCreate.attributes.default":               "defaults to `{}`",
	"ItemCreate.attributes.additionalProperties":  "Any JSON object",
	"ItemReplace.attributes.type":                 "Any JSON object (not an array or scalar)",
	"ItemReplace.attributes.default":              "defaults to `{}`",
	"ItemReplace.attributes.additionalProperties": "Any JSON object",
	"ItemPatch.attributes.type":                   "resets it to `{}`",
}

// schemaKeywords are the keywords that constrain values or say who writes
// them; the generated document must state each one the hand-written
// document stated for items.
var schemaKeywords = []string{"type", "format", "enum", "const", "minimum", "maximum", "minLength", "maxLength",
	"pattern", "default", "readOnly", "additionalProperties"}

// TestOpenAPIItemsAsBefore compares the items part of the generated
// document with the hand-written document it replaced
// (testdata/openapi_items_static.json): every path, operation,
// operationId, tag, parameter (with its schema and example), request body
// (media types, schema constraints, examples by name and value), response
// (status, shared response and its codes, headers with their schema and
// example, body schema and examples) must still be there. Schemas are
// compared keyword by keyword, recursively; the few keywords the catalog
// cannot tell are listed in movedToText and must be in the description.
func TestOpenAPIItemsAsBefore(t *testing.T) {
	raw, err := os.ReadFile("testdata/openapi_items_static.json")
	if err != nil {
		t.Fatal(err)
	}
	var old map[string]any
	if err := json.Unmarshal(raw, &old); err != nil {
		t.Fatal(err)
	}
	doc := servedDocument(t, loadSchema(t, "testdata/schema_builtin.json"))
	used := map[string]bool{}

	for _, tag := range old["tags"].([]any) {
		if !slices.ContainsFunc(doc["tags"].([]any), func(v any) bool { return reflect.DeepEqual(v, tag) }) {
			t.Errorf("tag %v is gone", tag)
		}
	}
	for path, item := range old["paths"].(map[string]any) {
		for method, o := range item.(map[string]any) {
			at := strings.ToUpper(method) + " " + path
			was := o.(map[string]any)
			now, ok := resolvePointer(doc, "#/paths/"+pointerToken(path)+"/"+method).(map[string]any)
			if !ok {
				t.Errorf("%s: gone", at)
				continue
			}
			for _, k := range []string{"operationId", "tags", "security", "summary"} {
				if !reflect.DeepEqual(was[k], now[k]) {
					t.Errorf("%s: %s = %v, was %v", at, k, now[k], was[k])
				}
			}
			for _, p := range parametersOf(old, was) {
				i := slices.IndexFunc(parametersOf(doc, now), func(q map[string]any) bool { return q["name"] == p["name"] && q["in"] == p["in"] })
				if i < 0 {
					t.Errorf("%s: parameter %s %s is gone", at, p["in"], p["name"])
					continue
				}
				q := parametersOf(doc, now)[i]
				pat := fmt.Sprintf("%s parameter %s", at, p["name"])
				for _, k := range []string{"required", "example", "examples"} {
					if !reflect.DeepEqual(p[k], q[k]) {
						t.Errorf("%s: %s = %v, was %v", pat, k, q[k], p[k])
					}
				}
				compareSchemas(t, pat, old, doc, p["schema"], q["schema"], "", used)
			}
			if was["requestBody"] != nil {
				wb, nb := resolveRef(old, was["requestBody"]).(map[string]any), resolveRef(doc, now["requestBody"]).(map[string]any)
				if wb["required"] != nb["required"] {
					t.Errorf("%s: requestBody.required = %v, was %v", at, nb["required"], wb["required"])
				}
				compareContent(t, at+" request", old, doc, wb["content"], nb["content"], used)
			}
			nowResponses, _ := now["responses"].(map[string]any)
			for status, r := range was["responses"].(map[string]any) {
				rat := at + " " + status
				n, ok := nowResponses[status]
				if !ok {
					t.Errorf("%s: response gone", rat)
					continue
				}
				wr, nr := r.(map[string]any), n.(map[string]any)
				if ref, ok := wr["$ref"]; ok {
					// A shared problem response: the same one, naming the same codes.
					if nr["$ref"] != ref || nr["description"] != wr["description"] {
						t.Errorf("%s: %v %q, was %v %q", rat, nr["$ref"], nr["description"], ref, wr["description"])
					}
					continue
				}
				wh, _ := wr["headers"].(map[string]any)
				nh, _ := nr["headers"].(map[string]any)
				for name, h := range wh {
					if _, ok := nh[name]; !ok {
						t.Errorf("%s: header %s gone", rat, name)
						continue
					}
					was, now := resolveRef(old, h).(map[string]any), resolveRef(doc, nh[name]).(map[string]any)
					for _, k := range []string{"required", "schema", "example"} {
						if !reflect.DeepEqual(was[k], now[k]) {
							t.Errorf("%s: header %s %s = %v, was %v", rat, name, k, now[k], was[k])
						}
					}
				}
				compareContent(t, rat, old, doc, wr["content"], nr["content"], used)
			}
		}
	}
	for k := range movedToText {
		if !used[k] {
			t.Errorf("movedToText[%q] is no longer needed: the generated schema states it", k)
		}
	}
}

// compareContent compares two content maps: the same media types, each
// schema keyword by keyword, and the same examples by name and value.
func compareContent(t *testing.T, at string, old, doc map[string]any, was, now any, used map[string]bool) {
	t.Helper()
	wc, _ := was.(map[string]any)
	nc, _ := now.(map[string]any)
	for mt, m := range wc {
		n, ok := nc[mt].(map[string]any)
		if !ok {
			t.Errorf("%s: media type %s gone", at, mt)
			continue
		}
		wm := m.(map[string]any)
		compareSchemas(t, at+" "+mt, old, doc, wm["schema"], n["schema"], "", used)
		wex, _ := wm["examples"].(map[string]any)
		nex, _ := n["examples"].(map[string]any)
		for name, e := range wex {
			we, ne := e.(map[string]any), map[string]any(nil)
			if x, ok := nex[name].(map[string]any); ok {
				ne = x
			}
			if ne == nil {
				t.Errorf("%s: example %q gone", at, name)
				continue
			}
			if !reflect.DeepEqual(we["value"], ne["value"]) {
				t.Errorf("%s: example %q = %v, was %v", at, name, ne["value"], we["value"])
			}
			if we["summary"] != ne["summary"] && !strings.HasPrefix(fmt.Sprint(ne["summary"]), "Remove one member") {
				t.Errorf("%s: example %q summary = %q, was %q", at, name, ne["summary"], we["summary"])
			}
		}
	}
}

// compareSchemas checks that now states every keyword of schemaKeywords
// that was states, the same required members and, recursively, the same of
// every property and array item; where was had examples, now has too.
// name is the old component schema and property being compared, for
// movedToText.
func compareSchemas(t *testing.T, at string, old, doc map[string]any, was, now any, name string, used map[string]bool) {
	t.Helper()
	if m, ok := was.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#/components/schemas/") {
			name = strings.TrimPrefix(ref, "#/components/schemas/")
		}
	}
	w, _ := resolveRef(old, was).(map[string]any)
	n, _ := resolveRef(doc, now).(map[string]any)
	if w == nil {
		return
	}
	if n == nil {
		t.Errorf("%s: schema gone", at)
		return
	}
	for _, k := range schemaKeywords {
		v, ok := w[k]
		if !ok || reflect.DeepEqual(v, n[k]) {
			continue
		}
		if text, moved := movedToText[name+"."+k]; moved {
			used[name+"."+k] = true
			if d, _ := n["description"].(string); !strings.Contains(d, text) {
				t.Errorf("%s: %s = %v is neither stated (%v) nor described (%q lacks %q)", at, k, v, n[k], d, text)
			}
			continue
		}
		t.Errorf("%s: %s = %v, was %v", at, k, n[k], v)
	}
	if req, ok := w["required"].([]any); ok && !reflect.DeepEqual(req, n["required"]) {
		t.Errorf("%s: required = %v, was %v", at, n["required"], req)
	}
	if _, ok := w["examples"]; ok && n["examples"] == nil {
		t.Errorf("%s: examples gone", at)
	}
	if w["items"] != nil {
		compareSchemas(t, at+"[]", old, doc, w["items"], n["items"], name+"[]", used)
	}
	wp, _ := w["properties"].(map[string]any)
	np, _ := n["properties"].(map[string]any)
	for p, ws := range wp {
		if _, ok := np[p]; !ok {
			t.Errorf("%s: property %s gone", at, p)
			continue
		}
		compareSchemas(t, at+"."+p, old, doc, ws, np[p], name+"."+p, used)
	}
}

// TestOpenAPIProjects checks the document of examples/projects: every
// resource's routes and schemas, with their columns' types, limits,
// nullability, enum labels, filters and constraint errors.
func TestOpenAPIProjects(t *testing.T) {
	doc := servedDocument(t, loadSchema(t, "testdata/schema_projects.json"))
	var want []operation
	for _, r := range [][2]string{{"items", "item_id"}, {"projects", "project_id"}, {"tasks", "task_id"}} {
		want = append(want, resourceOperations(r[0], r[1])...)
	}
	checkDocument(t, doc, append(want, specOperations...))

	at := func(ptr string) any {
		t.Helper()
		v := resolvePointer(doc, ptr)
		if v == nil {
			t.Errorf("%s: missing", ptr)
		}
		return v
	}
	eq := func(ptr string, want any) {
		t.Helper()
		if got := at(ptr); !jsonEqual(got, want) {
			t.Errorf("%s = %v, want %v", ptr, got, want)
		}
	}
	for ptr, id := range map[string]string{
		"/~1projects/get": "listProjects", "/~1projects/post": "createProject", "/~1projects~1{project_id}/get": "getProject",
		"/~1projects~1{project_id}/put": "replaceProject", "/~1tasks~1{task_id}/patch": "patchTask", "/~1tasks~1{task_id}/delete": "deleteTask",
		"/~1items/get": "listItems", "/~1items~1{item_id}/patch": "patchItem",
	} {
		eq("#/paths"+ptr+"/operationId", id)
	}

	const task, project = "#/components/schemas/Task/properties/", "#/components/schemas/Project/properties/"
	eq(task+"status/enum", []string{"todo", "doing", "done"})
	eq(task+"status/type", "string")
	eq(task+"project_id/format", "uuid")
	eq(task+"priority/type", "integer")
	eq(task+"priority/maximum", 32767)
	eq(task+"estimate/type", []string{"number", "null"})
	eq(task+"due_on/format", "date")
	eq(project+"budget/type", []string{"number", "null"})
	eq(project+"budget/exclusiveMaximum", 1e10)
	eq(project+"starts_on/type", []string{"string", "null"})
	eq(project+"starts_on/format", "date")
	eq(project+"code/maxLength", 12)
	eq(project+"tags/type", "array")
	eq(project+"tags/items/type", []string{"string", "null"})
	eq(project+"created_at/readOnly", true)
	eq("#/components/schemas/Task/required", []string{"id", "project_id", "title", "status", "priority", "estimate", "due_on", "assignee", "version", "created_at", "updated_at"})
	eq("#/components/schemas/TaskInput/required", []string{"project_id", "title"})
	eq("#/components/schemas/ProjectInput/required", []string{"code", "title"})
	eq("#/components/schemas/TaskInput/additionalProperties", false)
	eq("#/components/schemas/TaskInput/properties/status/type", "string")
	// In a patch null resets a column with a default.
	eq("#/components/schemas/TaskPatch/properties/status/type", []string{"string", "null"})
	eq("#/components/schemas/TaskPatch/properties/status/enum", []any{"todo", "doing", "done", nil})
	eq("#/components/schemas/TaskPatch/properties/title/type", "string")
	eq("#/components/schemas/TaskPage/required", []string{"tasks", "next_cursor"})
	eq("#/components/schemas/TaskPage/properties/tasks/items/$ref", "#/components/schemas/Task")
	// The budget is an exact number: the example keeps numeric(12,2)'s scale.
	if raw := fetchDocument(t, newDocServer(t, &fakeSchemas{versions: []*tenantapi.Schema{loadSchema(t, "testdata/schema_projects.json")}})).Body.Bytes(); !bytes.Contains(raw, []byte(`"budget": 1250.50`)) {
		t.Error("no budget example written as 1250.50")
	}

	// Filters: on GET and HEAD, id and every column that leads an index.
	for _, path := range []string{"/tasks", "/projects"} {
		for _, m := range []string{"get", "head"} {
			op := at("#/paths/" + pointerToken(path) + "/" + m).(map[string]any)
			var names []string
			for _, p := range parametersOf(doc, op) {
				if p["in"] == "query" {
					names = append(names, p["name"].(string))
				}
			}
			want := map[string][]string{"/tasks": {"limit", "cursor", "id", "project_id", "status"}, "/projects": {"limit", "cursor", "id", "code"}}[path]
			if !slices.Equal(names, want) {
				t.Errorf("%s %s: query parameters %q, want %q", m, path, names, want)
			}
		}
	}
	status := parametersOf(doc, at("#/paths/~1tasks/get").(map[string]any))[6]
	if !reflect.DeepEqual(status["schema"], map[string]any{"type": "string", "enum": []any{"todo", "doing", "done"}}) || status["example"] != "todo" {
		t.Errorf("status filter: %v", status)
	}

	// Constraint errors: a unique column makes PUT and PATCH 409; a table
	// others reference, DELETE.
	for ptr, want := range map[string]bool{
		"/~1projects~1{project_id}/put": true, "/~1projects~1{project_id}/patch": true, "/~1projects~1{project_id}/delete": true,
		"/~1tasks~1{task_id}/put": false, "/~1tasks~1{task_id}/delete": false, "/~1items~1{item_id}/delete": false,
	} {
		if got := resolvePointer(doc, "#/paths"+ptr+"/responses/409") != nil; got != want {
			t.Errorf("%s: 409 documented %v, want %v", ptr, got, want)
		}
	}
	// A foreign key's example is the referenced row's id.
	eq(task+"project_id/examples/0", at(project+"id/examples/0"))
}

// jsonEqual reports whether got, a decoded JSON value, is want once want
// goes through JSON too.
func jsonEqual(got, want any) bool {
	var w any
	b, _ := json.Marshal(want)
	json.Unmarshal(b, &w)
	return reflect.DeepEqual(got, w)
}

// TestOpenAPIShapes covers what the example sets do not have: a table
// without managed columns, a generated column, nullable enums and enum
// arrays, and names that the static document or the plural rules already
// use.
func TestOpenAPIShapes(t *testing.T) {
	enum := tenantapi.Type{Kind: tenantapi.KindEnum, SQL: "event_kind", Name: "event_kind", Labels: []string{"open", "close"}}
	enums := enum
	enums.SQL, enums.Array = "event_kind[]", true
	label := tenantapi.Field{Name: "label", Type: tenantapi.Type{Kind: tenantapi.KindString, SQL: "text"}, NotNull: true}
	schema := &tenantapi.Schema{Version: 7, Resources: []tenantapi.Resource{
		{Name: "events", Fields: []tenantapi.Field{
			{Name: "kind", Type: enum},
			{Name: "kinds", Type: enums, NotNull: true, HasDefault: true},
			{Name: "total", Type: tenantapi.Type{Kind: tenantapi.KindInteger, SQL: "integer", Bits: 32}, NotNull: true, HasDefault: true, Generated: true},
			{Name: "at", Type: tenantapi.Type{Kind: tenantapi.KindTimestamp, SQL: "timestamp with time zone"}, NotNull: true, Filterable: true},
			{Name: "ratio", Type: tenantapi.Type{Kind: tenantapi.KindFloat, SQL: "real", Bits: 32}},
			{Name: "amount", Type: tenantapi.Type{Kind: tenantapi.KindNumeric, SQL: "numeric", Scale: -1}},
			{Name: "flag", Type: tenantapi.Type{Kind: tenantapi.KindBoolean, SQL: "boolean"}, NotNull: true, Filterable: true},
		}},
		{Name: "tenants", Fields: []tenantapi.Field{label}, Versioned: true, Created: true, Updated: true},
		{Name: "status", Fields: []tenantapi.Field{label}, Versioned: true},
		{Name: "service", Fields: []tenantapi.Field{label}},
		{Name: "order_lines", Fields: []tenantapi.Field{label}},
	}}
	doc := servedDocument(t, schema)
	var want []operation
	for _, r := range [][2]string{{"events", "event_id"}, {"tenants", "tenant_id"}, {"status", "status_id"}, {"service", "service_id"}, {"order_lines", "order_line_id"}} {
		want = append(want, resourceOperations(r[0], r[1])...)
	}
	checkDocument(t, doc, append(want, specOperations...))

	raw, _ := json.Marshal(doc["paths"].(map[string]any)["/events"])
	rawOne, _ := json.Marshal(doc["paths"].(map[string]any)["/events/{event_id}"])
	for _, bad := range []string{`"ETag":`, "#/components/parameters/If-None-Match", "#/components/parameters/If-Match", `"304":`} {
		if bytes.Contains(raw, []byte(bad)) || bytes.Contains(rawOne, []byte(bad)) {
			t.Errorf("/events has no version, but its paths mention %s", bad)
		}
	}
	for _, m := range []string{"put", "patch", "delete"} {
		op := resolvePointer(doc, "#/paths/~1events~1{event_id}/"+m).(map[string]any)
		i := slices.IndexFunc(parametersOf(doc, op), func(p map[string]any) bool { return p["name"] == "If-Match" })
		if i < 0 || !strings.Contains(parametersOf(doc, op)[i]["description"].(string), "`*` matches any existing event") {
			t.Errorf("%s /events/{event_id}: If-Match of a table without version not described", m)
		}
		if resolvePointer(doc, "#/paths/~1events~1{event_id}/"+m+"/responses/412") == nil {
			t.Errorf("%s /events/{event_id}: no 412", m)
		}
	}
	props := resolvePointer(doc, "#/components/schemas/Event/properties").(map[string]any)
	if _, ok := props["version"]; ok {
		t.Error("Event has a version")
	}
	check := func(got, want any, what string) {
		t.Helper()
		if !jsonEqual(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check(props["kind"], map[string]any{"type": []any{"string", "null"}, "enum": []any{"open", "close", nil},
		"description": props["kind"].(map[string]any)["description"], "examples": []any{"open"}}, "Event.kind")
	check(resolvePointer(doc, "#/components/schemas/Event/properties/kinds/items"), map[string]any{"type": []any{"string", "null"}, "enum": []any{"open", "close", nil}}, "Event.kinds.items")
	check(resolvePointer(doc, "#/components/schemas/Event/properties/total/readOnly"), true, "Event.total.readOnly")
	check(resolvePointer(doc, "#/components/schemas/EventInput/properties/total/readOnly"), true, "EventInput.total.readOnly")
	check(resolvePointer(doc, "#/components/schemas/EventInput/required"), []string{"at", "flag"}, "EventInput.required")
	check(resolvePointer(doc, "#/components/schemas/Event/properties/at/pattern"), timestampPattern, "Event.at.pattern")
	check(resolvePointer(doc, "#/components/schemas/EventInput/properties/at/pattern"), nil, "EventInput.at.pattern")
	check(resolvePointer(doc, "#/components/schemas/Event/properties/ratio/format"), "float", "Event.ratio.format")
	check(resolvePointer(doc, "#/components/schemas/Event/properties/amount/exclusiveMaximum"), nil, "Event.amount.exclusiveMaximum")
	check(resolvePointer(doc, "#/components/schemas/Event/required"), []string{"id", "kind", "kinds", "total", "at", "ratio", "amount", "flag"}, "Event.required")
	if ex, _ := resolvePointer(doc, "#/components/schemas/EventInput/examples/0").(map[string]any); ex == nil || ex["total"] != nil {
		t.Errorf("EventInput example writes the generated column: %v", ex)
	}

	// Names: tenants collides with the admin API's Tenant and listTenants;
	// status is its own plural; service's tag is taken.
	for ptr, want := range map[string]any{
		"#/paths/~1tenants/get/operationId":                                         "listTenantsRows",
		"#/paths/~1tenants~1{tenant_id}/get/operationId":                            "getTenantsRow",
		"#/paths/~1admin~1tenants/get/operationId":                                  "listTenants",
		"#/paths/~1status/get/operationId":                                          "listStatusRows",
		"#/paths/~1status~1{status_id}/head/operationId":                            "headStatusRow",
		"#/paths/~1order_lines/post/operationId":                                    "createOrderLine",
		"#/paths/~1order_lines/get/tags/0":                                          "Order lines",
		"#/paths/~1service/get/tags/0":                                              "Table service",
		"#/paths/~1tenants/get/responses/200/content/application~1json/schema/$ref": "#/components/schemas/TenantsRowPage",
	} {
		check(resolvePointer(doc, ptr), want, ptr)
	}
	check(resolvePointer(doc, "#/components/schemas/Tenant/properties/id/pattern"), "^[a-z0-9][a-z0-9_]{0,39}$", "the admin API's Tenant schema")
}

// TestOpenAPIWithoutResources: with no version recorded, or no
// SchemaSource, the document has the static routes and no resource.
func TestOpenAPIWithoutResources(t *testing.T) {
	for name, src := range map[string]tenantapi.SchemaSource{"none recorded": &fakeSchemas{}, "no source": nil} {
		t.Run(name, func(t *testing.T) {
			rec := fetchDocument(t, newDocServer(t, src))
			var doc map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); rec.Code != 200 || err != nil {
				t.Fatalf("%d %v", rec.Code, err)
			}
			checkDocument(t, doc, specOperations)
			if _, ok := doc["info"].(map[string]any)["x-application-set-version"]; ok {
				t.Error("a version is named")
			}
		})
	}
}

// TestOpenAPIRenderedOncePerVersion: the document is rendered when the
// newest version changes, not per request; when the versions cannot be
// read the last document is served, and without one the error.
func TestOpenAPIRenderedOncePerVersion(t *testing.T) {
	src := &fakeSchemas{versions: []*tenantapi.Schema{loadSchema(t, "testdata/schema_builtin.json")}}
	s := newDocServer(t, src)
	a := fetchDocument(t, s).Body.Bytes()
	first := s.openapi.last.Load()
	done := make(chan []byte)
	for range 8 {
		go func() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
			done <- rec.Body.Bytes()
		}()
	}
	for range 8 {
		if b := <-done; !bytes.Equal(a, b) {
			t.Error("a request got another document")
		}
	}
	if s.openapi.last.Load() != first {
		t.Error("the same version was rendered again")
	}

	src.versions = append(src.versions, loadSchema(t, "testdata/schema_projects.json"))
	b := fetchDocument(t, s).Body.Bytes()
	if second := s.openapi.last.Load(); second == first || !bytes.Contains(b, []byte(`"/tasks/{task_id}"`)) {
		t.Error("a newer version did not get its own document")
	}

	src.err = errors.New("database unreachable")
	if rec := fetchDocument(t, s); rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), b) {
		t.Errorf("with the versions unreadable: %d, not the last document", rec.Code)
	}
	rec := fetchDocument(t, newDocServer(t, &fakeSchemas{err: tenantapi.Errorf(tenantapi.CodeUnavailable, "database unreachable")}))
	if rec.Code != 503 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("nothing rendered and the versions unreadable: %d %s", rec.Code, rec.Body.Bytes())
	}
}
