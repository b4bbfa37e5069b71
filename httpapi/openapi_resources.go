package httpapi

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// The OpenAPI description of each resource (SPEC §3 for items, §10 for
// any table): its two paths with every method, and its component schemas
// <Name> (a row as answered), <Name>Input (POST and PUT), <Name>Patch and
// <Name>Page, all from the resource's recorded shape. Examples are made up
// from the field types; what the catalog cannot tell (items' contract
// rules and examples) comes from resourceNotes.

// takenNames are the names the static document already uses.
type takenNames struct {
	schemas, operations, tags map[string]bool
}

// resourceNames are the names one resource goes by in the document.
type resourceNames struct {
	noun, nouns string // in prose: "task counter", "task counters"
	one, many   string // in operationIds and schema names: "TaskCounter", "TaskCounters"
	idParam     string // the path parameter: "task_counter_id"
	tag         string
}

func (n resourceNames) operationIDs() []string {
	return []string{"list" + n.many, "head" + n.many, "create" + n.one, "options" + n.many,
		"get" + n.one, "head" + n.one, "replace" + n.one, "patch" + n.one, "delete" + n.one, "options" + n.one}
}

func (n resourceNames) schemaNames() []string {
	return []string{n.one, n.one + "Input", n.one + "Patch", n.one + "Page"}
}

// nameResource picks the names of a resource: its singular and plural in
// PascalCase (listProjects, createProject, Project), or, where one of
// those is taken by the static document or an earlier resource, the
// table's name with Row and Rows (TenantsRow, listTenantsRows), then
// numbered. It marks the names it returns as taken.
func nameResource(name string, taken takenNames) resourceNames {
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '_' })
	one := slices.Clone(words)
	one[len(one)-1] = singular(one[len(one)-1])
	n := resourceNames{
		noun:    strings.Join(one, " "),
		nouns:   strings.Join(words, " "),
		idParam: strings.Join(one, "_") + "_id",
	}
	for k := 0; ; k++ {
		n.one, n.many = pascal(one), pascal(words)
		if k > 0 {
			suffix := ""
			if k > 1 {
				suffix = strconv.Itoa(k)
			}
			n.one, n.many = pascal(words)+"Row"+suffix, pascal(words)+"Rows"+suffix
		}
		if taken.free(n) {
			break
		}
	}
	for _, s := range n.operationIDs() {
		taken.operations[s] = true
	}
	for _, s := range n.schemaNames() {
		taken.schemas[s] = true
	}
	n.tag = strings.ToUpper(n.nouns[:1]) + n.nouns[1:]
	if taken.tags[n.tag] {
		n.tag = "Table " + name
	}
	taken.tags[n.tag] = true
	return n
}

// free reports whether n's operationIds and schema names are all unused
// and distinct (a plural that is its own singular would repeat headX).
func (t takenNames) free(n resourceNames) bool {
	ids := n.operationIDs()
	if slices.ContainsFunc(ids, func(s string) bool { return t.operations[s] }) ||
		slices.ContainsFunc(n.schemaNames(), func(s string) bool { return t.schemas[s] }) {
		return false
	}
	slices.Sort(ids)
	return len(slices.Compact(ids)) == len(n.operationIDs())
}

// singular is an English plural's singular, by the common rules; a word
// they do not fit is kept as it is.
func singular(w string) string {
	switch {
	case len(w) > 3 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "xes"):
		return w[:len(w)-2]
	case len(w) > 1 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return w[:len(w)-1]
	}
	return w
}

func pascal(words []string) string {
	var b strings.Builder
	for _, w := range words {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// article is "a" or "an" before noun.
func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

// resourceNote is what the documentation of a resource says beyond what
// the catalog records: the contract rules of the built-in items (SPEC §3)
// and the examples the API has always shown for them. A field's note
// applies only while the column is the one it was written for.
type resourceNote struct {
	ids    [2]string // the example rows' ids
	schema string    // the description of the row schema
	fields map[string]fieldNote
}

type fieldNote struct {
	// The column the note describes: its type as PostgreSQL prints it,
	// NOT NULL, whether it has a default, and the CHECK constraint on it
	// alone ("" for none).
	sql                 string
	notNull, hasDefault bool
	check               string
	// text describes the field in rows and POST and PUT bodies; patch in
	// a merge patch.
	text, patch string
	// examples are JSON: the first row's value, the second row's, and the
	// value after an update ("": the first row's, the field is kept).
	examples [3]string
}

var resourceNotes = map[string]resourceNote{
	"items": {
		ids:    [2]string{"0193a6f1-4c2e-7d0a-9b1e-3f5a6c7d8e9f", "0193a6f2-0b7d-7e41-8c3a-5d9e2f4b6a10"},
		schema: "An item of a tenant. Lists are ordered by `id`.",
		fields: map[string]fieldNote{
			"name": {sql: "character varying(200)", notNull: true, check: "items_name_check",
				text:     "1 to 200 Unicode code points. No U+0000.",
				patch:    "1 to 200 Unicode code points; `null` is 422.",
				examples: [3]string{`"Widget"`, `"Gadget"`}},
			"description": {sql: "character varying(10000)", notNull: true, hasDefault: true,
				text:     "Up to 10,000 Unicode code points; defaults to `\"\"`. No U+0000.",
				patch:    "Up to 10,000 code points; `null` resets it to `\"\"`.",
				examples: [3]string{`""`, `"Fits in a pocket."`, `"A red widget, now in blue."`}},
			"attributes": {sql: "jsonb", notNull: true, hasDefault: true, check: "items_attributes_check",
				text: "Any JSON object (not an array or scalar); defaults to `{}`. At most 64 KiB when re-encoded compactly and nested at most 32 deep " +
					"(the object itself is depth 1); no U+0000 in any string. It round-trips as equal JSON, not byte for byte: key order and whitespace may change.",
				patch:    "Merged into the current attributes (RFC 7396); a member set to `null` is removed; `null` for the whole object resets it to `{}`.",
				examples: [3]string{`{"color": "red"}`, `{"tags": ["small", "metal"], "weight_g": 120}`, `{"color": "blue", "size": "L"}`}},
		},
	},
}

// noteOf returns the note on field f of res, if one describes it.
func noteOf(res *tenantapi.Resource, f tenantapi.Field) (fieldNote, bool) {
	n, ok := resourceNotes[res.Name].fields[f.Name]
	if !ok || n.sql != f.Type.SQL || n.notNull != f.NotNull || n.hasDefault != f.HasDefault || f.Generated {
		return fieldNote{}, false
	}
	if n.check != "" && !slices.ContainsFunc(res.Checks, func(c tenantapi.Constraint) bool {
		return c.Name == n.check && slices.Equal(c.Columns, []string{f.Name})
	}) {
		return fieldNote{}, false
	}
	return n, true
}

// resourceDoc writes the parts of the document that describe one resource.
type resourceDoc struct {
	res    *tenantapi.Resource
	n      resourceNames
	ids    [2]string            // the example rows' ids
	refIDs map[string][2]string // every resource's, for foreign keys
	refBy  []string             // the resources whose foreign keys reference this one
}

// resourceDocs names every resource of schema and returns their writers.
func resourceDocs(schema *tenantapi.Schema, taken takenNames) []*resourceDoc {
	refIDs := map[string][2]string{}
	docs := make([]*resourceDoc, 0, len(schema.Resources))
	for i := range schema.Resources {
		res := &schema.Resources[i]
		ids := resourceNotes[res.Name].ids
		if ids[0] == "" {
			ids = [2]string{exampleUUID(res.Name, 0xf1), exampleUUID(res.Name, 0xf2)}
		}
		refIDs[res.Name] = ids
		docs = append(docs, &resourceDoc{res: res, n: nameResource(res.Name, taken), ids: ids, refIDs: refIDs})
	}
	for _, d := range docs {
		for _, fk := range d.res.ForeignKeys {
			for _, other := range docs {
				if other.res.Name == fk.References && !slices.Contains(other.refBy, d.res.Name) {
					other.refBy = append(other.refBy, d.res.Name)
				}
			}
		}
	}
	return docs
}

// exampleUUID is a UUIDv7-shaped example made from seed: the rows of a
// page start with 0193a6f1, 0193a6f2, so that they sort as listed.
func exampleUUID(seed string, prefix byte) string {
	h := sha256.Sum256([]byte(seed))
	var u uuid.UUID
	copy(u[:], h[:16])
	u[0], u[1], u[2], u[3] = 0x01, 0x93, 0xa6, prefix
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u.String()
}

// The example timestamps: the first row's creation, the second row's, and
// the time of the updates.
var exampleTimes = [3]string{"2026-11-26T14:07:25.123456Z", "2026-11-26T14:09:11.500000Z", "2026-11-26T15:31:02.004210Z"}

// timestampPattern is what every timestamp of an answer matches.
const timestampPattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$`

// exampleCursor is a next_cursor as the server makes them.
const exampleCursor = "AZOm8gt9fkGMOl2eL0tqEA"

func (d *resourceDoc) collection() string { return "/" + d.res.Name }
func (d *resourceDoc) member() string     { return "/" + d.res.Name + "/{" + d.n.idParam + "}" }
func schemaRef(name string) object        { return obj("$ref", "#/components/schemas/"+name) }
func ref(kind, name string) object        { return obj("$ref", "#/components/"+kind+"/"+name) }

// writable are the fields a body sets: all but generated columns.
func (d *resourceDoc) writable() []tenantapi.Field {
	return slices.DeleteFunc(slices.Clone(d.res.Fields), func(f tenantapi.Field) bool { return f.Generated })
}

// sample says which example value of a field is wanted.
type sample int

const (
	firstRow  sample = iota // the first row of the examples
	secondRow               // the second row of a page
	updated                 // a field's value after a PUT or PATCH
)

// hasUpdate reports whether the examples change f in an update.
func (d *resourceDoc) hasUpdate(f tenantapi.Field) bool {
	if n, ok := noteOf(d.res, f); ok {
		return n.examples[updated] != ""
	}
	return true
}

// value is an example value of f.
func (d *resourceDoc) value(f tenantapi.Field, s sample) any {
	if n, ok := noteOf(d.res, f); ok {
		if n.examples[s] == "" {
			s = firstRow
		}
		v, err := parseOrdered([]byte(n.examples[s]))
		if err == nil {
			return v
		}
	}
	if s == secondRow && !f.NotNull {
		return nil // the second row shows what null looks like
	}
	var refIDs *[2]string
	for _, fk := range d.res.ForeignKeys {
		if ids, ok := d.refIDs[fk.References]; ok && slices.Equal(fk.Columns, []string{f.Name}) {
			refIDs = &ids
		}
	}
	if !f.Type.Array {
		return sampleScalar(f.Type, d.res.Name+"."+f.Name, f.Name, int(s), refIDs)
	}
	elem := f.Type
	elem.Array = false
	one := func(i int) any { return sampleScalar(elem, d.res.Name+"."+f.Name, singular(f.Name), i, refIDs) }
	switch s {
	case firstRow:
		return []any{one(0), one(1)}
	case secondRow:
		return []any{one(1)}
	}
	return []any{one(0), one(2)}
}

// sampleScalar is the i-th (0 to 2) plausible value of type t for a
// field called name; seed makes UUIDs.
func sampleScalar(t tenantapi.Type, seed, name string, i int, refIDs *[2]string) any {
	switch t.Kind {
	case tenantapi.KindString:
		if t.MaxLength > 0 && t.MaxLength <= 16 {
			// A short string looks like a code: CODE1.
			letters := strings.ToUpper(strings.ReplaceAll(name, "_", ""))
			return letters[:min(len(letters), t.MaxLength-1)] + strconv.Itoa(i+1)
		}
		s := [3]string{"Example", "Another", "Updated"}[i] + " " + strings.ReplaceAll(name, "_", " ")
		if t.MaxLength > 0 && utf8.RuneCountInString(s) > t.MaxLength {
			s = string([]rune(s)[:t.MaxLength])
		}
		return s
	case tenantapi.KindInteger:
		return i + 1
	case tenantapi.KindNumeric:
		whole, frac := [3]string{"1250", "980", "1500"}[i], [3]string{"5", "25", "75"}[i]
		if t.Precision > 0 && t.Scale >= 0 && t.Scale <= t.Precision {
			digits := t.Precision - t.Scale
			switch {
			case digits == 0:
				whole = "0"
			case len(whole) > digits:
				whole = strings.Repeat("9", digits)
			}
			frac = (frac + strings.Repeat("0", t.Scale))[:t.Scale]
		}
		if frac == "" {
			return json.Number(whole)
		}
		return json.Number(whole + "." + frac)
	case tenantapi.KindFloat:
		return json.Number([3]string{"2.5", "4", "1.75"}[i])
	case tenantapi.KindBoolean:
		return i > 0
	case tenantapi.KindJSON:
		return [3]object{obj("key", "value"), obj("key", "another value", "count", 2), obj("key", "new value", "more", true)}[i]
	case tenantapi.KindTimestamp:
		return exampleTimes[i]
	case tenantapi.KindDate:
		return [3]string{"2026-12-01", "2027-01-15", "2027-02-01"}[i]
	case tenantapi.KindUUID:
		if refIDs != nil {
			return refIDs[min(i, 1)]
		}
		return exampleUUID(seed+"#"+strconv.Itoa(i), 0xb7)
	case tenantapi.KindEnum:
		if len(t.Labels) == 0 {
			return ""
		}
		return t.Labels[min(i, len(t.Labels)-1)]
	}
	return nil
}

// row is an example row as the API answers it: the first or second row,
// or the first after an update that changed the fields in changed.
func (d *resourceDoc) row(s sample, changed []tenantapi.Field) object {
	idx := 0
	if s == secondRow {
		idx = 1
	}
	o := obj("id", d.ids[idx])
	for _, f := range d.res.Fields {
		v := d.value(f, s)
		if s == updated {
			v = d.value(f, firstRow)
			if slices.ContainsFunc(changed, func(c tenantapi.Field) bool { return c.Name == f.Name }) {
				v = d.value(f, updated)
			}
		}
		o = append(o, member{f.Name, v})
	}
	if d.res.Versioned {
		o = append(o, member{"version", [3]int{1, 3, 2}[s]})
	}
	if d.res.Created {
		o = append(o, member{"created_at", [3]string{exampleTimes[0], exampleTimes[1], exampleTimes[0]}[s]})
	}
	if d.res.Updated {
		o = append(o, member{"updated_at", [3]string{exampleTimes[0], exampleTimes[2], exampleTimes[2]}[s]})
	}
	return o
}

// body is an example request body: fields with the values of s.
func (d *resourceDoc) body(fields []tenantapi.Field, s sample) object {
	o := object{}
	for _, f := range fields {
		if s == updated && !d.hasUpdate(f) {
			o = append(o, member{f.Name, d.value(f, firstRow)})
			continue
		}
		o = append(o, member{f.Name, d.value(f, s)})
	}
	return o
}

// replaced are the fields the PUT example changes; patched the PATCH
// example's: up to two optional ones (else the first field that has an
// update).
func (d *resourceDoc) replaced() []tenantapi.Field {
	return slices.DeleteFunc(d.writable(), func(f tenantapi.Field) bool { return !d.hasUpdate(f) })
}

func (d *resourceDoc) patched() []tenantapi.Field {
	all := d.replaced()
	optional := slices.DeleteFunc(slices.Clone(all), func(f tenantapi.Field) bool { return f.Required() })
	if len(optional) > 0 {
		return optional[:min(2, len(optional))]
	}
	return all[:min(1, len(all))]
}

// resettable are the fields null resets in a PATCH: those with a default
// and the nullable ones.
func (d *resourceDoc) resettable() []tenantapi.Field {
	return slices.DeleteFunc(d.writable(), func(f tenantapi.Field) bool { return f.NotNull && !f.HasDefault })
}

func (d *resourceDoc) required() []tenantapi.Field {
	return slices.DeleteFunc(d.writable(), func(f tenantapi.Field) bool { return !f.Required() })
}

// quoteList lists names as `a`, `b` and `c` (or: "or").
func quoteList(names []string, conj string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}

func fieldNames(fs []tenantapi.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

func example(summary string, value any) object { return obj("summary", summary, "value", value) }

// paths returns the resource's two path items.
func (d *resourceDoc) paths() object {
	return obj(
		d.collection(), obj("get", d.list(false), "head", d.list(true), "post", d.create(), "options", d.options(false)),
		d.member(), obj("get", d.get(false), "head", d.get(true), "put", d.replace(), "patch", d.patch(),
			"delete", d.deleteOp(), "options", d.options(true)),
	)
}

func (d *resourceDoc) tagObject() object {
	return obj("name", d.n.tag, "description", "A tenant's "+d.n.nouns+". Every request names the tenant in `X-Tenant-ID` and proves it with a credential bound to that tenant.")
}

func (d *resourceDoc) operation(id, summary, description string, params []any) object {
	return obj("operationId", id, "tags", []any{d.n.tag}, "summary", summary, "description", description,
		"security", []any{obj("bearerAuth", []any{})}, "parameters", params)
}

// tenantParams are the parameters of every tenant request.
func tenantParams(more ...any) []any {
	return append([]any{ref("parameters", "X-Tenant-ID"), ref("parameters", "X-Request-ID")}, more...)
}

func (d *resourceDoc) idParameter() object {
	return obj("name", d.n.idParam, "in", "path", "required", true,
		"description", "The "+d.n.noun+"'s id, a UUID. Anything that is not a UUID names no "+d.n.noun+" (404 `item-not-found`).",
		"schema", obj("type", "string", "format", "uuid"), "example", d.ids[0])
}

// filters are the list's query parameters beyond limit and cursor: id
// and every filterable column.
func (d *resourceDoc) filters() []any {
	out := []any{obj("name", "id", "in", "query", "required", false,
		"description", "Keep only the "+d.n.noun+" with this id (a UUID). A value that is not a UUID is 400 `invalid-query`.",
		"schema", obj("type", "string", "format", "uuid"), "example", d.ids[0])}
	for _, f := range d.res.Fields {
		if !f.Filterable {
			continue
		}
		out = append(out, obj("name", f.Name, "in", "query", "required", false,
			"description", "Keep only the "+d.n.nouns+" whose `"+f.Name+"` equals this value, read as "+kindNoun(f.Type)+
				" (`"+f.Type.SQL+"`). A value that is not is 400 `invalid-query` naming the column.",
			"schema", valueSchema(f.Type), "example", d.value(f, firstRow)))
	}
	return out
}

func (d *resourceDoc) filterNames() []string {
	names := []string{"id"}
	for _, f := range d.res.Fields {
		if f.Filterable {
			names = append(names, f.Name)
		}
	}
	return names
}

// headers returns the headers of a tenant response, with extra after them.
func headers(extra ...any) object {
	h := obj("X-Request-ID", ref("headers", "X-Request-ID"), "Cache-Control", ref("headers", "Cache-Control"),
		"Vary", ref("headers", "Vary"), "Access-Control-Expose-Headers", ref("headers", "Access-Control-Expose-Headers"))
	return append(h, obj(extra...)...)
}

// etag is the ETag header of a response, for a versioned resource.
func (d *resourceDoc) etag() []any {
	if !d.res.Versioned {
		return nil
	}
	return []any{"ETag", ref("headers", "ETag")}
}

// problemResponse is the response of an error status, with the codes it can carry.
func problemResponse(status int, codeList ...string) member {
	name := map[int]string{
		400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 412: "PreconditionFailed",
		413: "PayloadTooLarge", 415: "UnsupportedMediaType", 422: "ValidationFailed", 429: "RateLimited",
		500: "InternalError", 503: "Unavailable",
	}[status]
	return member{strconv.Itoa(status), obj("$ref", "#/components/responses/"+name,
		"description", http.StatusText(status)+": "+quoteList(codeList, "or")+".")}
}

// problems are the error responses of an operation: bad lists the 400
// codes, notFound the 404 ones, and more the statuses between 404 and
// 429 with their codes.
func problems(bad, notFound []string, more ...member) object {
	o := object{problemResponse(400, bad...), problemResponse(401, "unauthorized"), problemResponse(403, "forbidden", "tenant-suspended"), problemResponse(404, notFound...)}
	o = append(o, more...)
	return append(o, problemResponse(429, "rate-limited"), problemResponse(500, "internal"), problemResponse(503, "unavailable"))
}

func jsonContent(schema string, examples object) object {
	return obj("application/json", obj("schema", schemaRef(schema), "examples", examples))
}

func (d *resourceDoc) list(head bool) object {
	params := tenantParams(ref("parameters", "limit"), ref("parameters", "cursor"))
	params = append(params, d.filters()...)
	if head {
		return d.operation("head"+d.n.many, "List "+d.n.nouns+" (headers only)",
			"Same as `GET "+d.collection()+"`, including every check and status code, without a body.", params).
			with("responses", append(object{{"200", obj("description", "The headers a `GET` would send.",
				"headers", headers("Content-Length", ref("headers", "Content-Length")))}},
				problems([]string{"missing-tenant-id", "invalid-tenant-id", "invalid-query", "invalid-cursor"}, []string{"tenant-not-found"})...))
	}
	desc := "Returns a page of the tenant's " + d.n.nouns + " ordered by `id`. Follow `next_cursor` until it is `null`. " +
		"A bad, repeated or unknown query parameter is 400 `invalid-query` (a bad cursor: `invalid-cursor`); values are never silently clamped. " +
		"A page also ends before its JSON would exceed 4 MiB.\n\n" +
		"Filters: `?<column>=<value>` on " + quoteList(d.filterNames(), "or") + " keeps the " + d.n.nouns + " whose column equals the value, " +
		"read by the column's type. Several filters AND together, each column at most once. To go on, repeat the same filters with " +
		"`cursor=<next_cursor>`; a cursor used with other filters than the query it came from is 400 `invalid-cursor`."
	page := obj(d.res.Name, []any{d.row(firstRow, nil), d.row(secondRow, nil)}, "next_cursor", exampleCursor)
	return d.operation("list"+d.n.many, "List "+d.n.nouns, desc, params).with("responses",
		append(object{{"200", obj("description", "A page of "+d.n.nouns+".", "headers", headers(),
			"content", jsonContent(d.n.one+"Page", obj(
				"page", example("A page with more to come", page),
				"last-page", example("The last page", obj(d.res.Name, []any{d.row(secondRow, nil)}, "next_cursor", nil)),
				"empty", example("No "+d.n.nouns, obj(d.res.Name, []any{}, "next_cursor", nil)))))}},
			problems([]string{"missing-tenant-id", "invalid-tenant-id", "invalid-query", "invalid-cursor"}, []string{"tenant-not-found"})...))
}

// with returns o with key set to v.
func (o object) with(key string, v any) object {
	o.set(key, v)
	return o
}

// writeRules says what a POST or PUT does with the fields it leaves out.
func (d *resourceDoc) writeRules(verb string) string {
	var defaults, nullable []string
	for _, f := range d.writable() {
		switch {
		case f.Required():
		case f.HasDefault:
			defaults = append(defaults, f.Name)
		default:
			nullable = append(nullable, f.Name)
		}
	}
	var s []string
	if req := fieldNames(d.required()); len(req) > 0 {
		s = append(s, quoteList(req, "and")+" "+map[bool]string{true: "is", false: "are"}[len(req) == 1]+" required")
	}
	if len(defaults) > 0 {
		s = append(s, "an omitted "+quoteList(defaults, "or")+" "+verb+" its default")
	}
	if len(nullable) > 0 {
		s = append(s, "an omitted "+quoteList(nullable, "or")+" is null")
	}
	if len(s) == 0 {
		return ""
	}
	return strings.Join(s, "; ") + "."
}

// constraintRules says which errors the table's constraints give a write.
func (d *resourceDoc) constraintRules() string {
	var s []string
	for _, u := range d.res.Uniques {
		s = append(s, "a value of "+quoteList(u.Columns, "and")+" another "+d.n.noun+" has is 409 `conflict`")
	}
	for _, fk := range d.res.ForeignKeys {
		s = append(s, "a "+quoteList(fk.Columns, "and")+" naming no row of `"+fk.References+"` is 422")
	}
	for _, c := range d.res.Checks {
		if len(c.Columns) > 1 {
			s = append(s, "the CHECK constraint `"+c.Name+"` over "+quoteList(c.Columns, "and")+" is 422 on the body's root when broken")
		}
	}
	if len(s) == 0 {
		return ""
	}
	return " " + strings.ToUpper(s[0][:1]) + strings.Join(s, "; ")[1:] + "."
}

func (d *resourceDoc) create() object {
	desc := "Creates " + article(d.n.noun) + " with a server-generated UUIDv7 id"
	if d.res.Versioned {
		desc += " at `version` 1"
	}
	desc += ". The body must be `application/json` (415 otherwise) and at most 1 MiB (413). " +
		"Send `Idempotency-Key` to make retries safe: a repeat with the same key and body within 24 hours replays the first 201 with `Idempotent-Replayed: true`."
	if r := d.writeRules("takes"); r != "" {
		desc += " " + strings.ToUpper(r[:1]) + r[1:]
	}
	desc += d.constraintRules()
	minSummary := "Required fields only"
	switch req := d.required(); len(req) {
	case 0:
		minSummary = "No fields: every column takes its default"
	case 1:
		minSummary = strings.ToUpper(req[0].Name[:1]) + strings.ReplaceAll(req[0].Name[1:], "_", " ") + " only"
	}
	created := []any{"Location", obj("description",
		"The new "+d.n.noun+"'s URL path as the client sees it, including API Gateway's stage prefix when there is one (`/prod"+d.member()+"`).",
		"required", true, "schema", obj("type", "string", "format", "uri-reference"), "example", d.collection()+"/"+d.ids[0])}
	created = append(created, d.etag()...)
	created = append(created, "Idempotent-Replayed", ref("headers", "Idempotent-Replayed"))
	return d.operation("create"+d.n.one, "Create "+article(d.n.noun), desc, tenantParams(ref("parameters", "Idempotency-Key"))).
		with("requestBody", obj("required", true, "content", jsonContent(d.n.one+"Input", obj(
			"minimal", example(minSummary, d.body(d.required(), firstRow)),
			"full", example("Every writable field", d.body(d.writable(), firstRow)))))).
		with("responses", append(object{{"201", obj(
			"description", "Created. A replayed idempotent request gets the stored response byte for byte, plus `Idempotent-Replayed: true`.",
			"headers", headers(created...),
			"content", jsonContent(d.n.one, obj("created", example("The new "+d.n.noun, d.row(firstRow, nil)))))}},
			problems([]string{"missing-tenant-id", "invalid-tenant-id", "malformed-json", "invalid-query"}, []string{"tenant-not-found"},
				problemResponse(409, "conflict", "idempotency-key-reused"),
				problemResponse(413, "payload-too-large"), problemResponse(415, "unsupported-media-type"), problemResponse(422, "validation-failed"))...))
}

func (d *resourceDoc) get(head bool) object {
	params := tenantParams(d.idParameter())
	if d.res.Versioned {
		params = append(params, ref("parameters", "If-None-Match"))
	}
	var responses object
	notModified := member{"304", obj("description", "Not modified: the client's copy is current.", "headers", headers(d.etag()...))}
	if head {
		responses = object{{"200", obj("description", "The headers a `GET` would send.",
			"headers", headers(append(d.etag(), "Content-Length", ref("headers", "Content-Length"))...))}}
		notModified.value = obj("description", "Not modified.", "headers", headers(d.etag()...))
	} else {
		responses = object{{"200", obj("description", "The "+d.n.noun+".", "headers", headers(d.etag()...),
			"content", jsonContent(d.n.one, obj(strings.ReplaceAll(d.n.noun, " ", "-"), example(strings.ToUpper(article(d.n.noun)[:1])+article(d.n.noun)[1:], d.row(firstRow, nil)))))}}
	}
	if d.res.Versioned {
		responses = append(responses, notModified)
	}
	responses = append(responses, problems([]string{"missing-tenant-id", "invalid-tenant-id", "invalid-query"}, []string{"tenant-not-found", "item-not-found"})...)
	if head {
		desc := "Same as `GET " + d.member() + "`, including `If-None-Match` and every status code, without a body. A cheap way to read the current `ETag`."
		if !d.res.Versioned {
			desc = "Same as `GET " + d.member() + "`, including every status code, without a body."
		}
		return d.operation("head"+d.n.one, "Get "+article(d.n.noun)+" (headers only)", desc, params).with("responses", responses)
	}
	desc := "Returns the " + d.n.noun + " with its `ETag`. With `If-None-Match` matching the current ETag (weak comparison) the answer is 304 with the `ETag` and no body."
	if !d.res.Versioned {
		desc = "Returns the " + d.n.noun + ". The table has no `version` column, so the answer has no `ETag` and `If-None-Match` is ignored."
	}
	return d.operation("get"+d.n.one, "Get "+article(d.n.noun), desc, params).with("responses", responses)
}

// ifMatch is the If-Match parameter of a write: the shared one, or for a
// resource without a version what it means there.
func (d *resourceDoc) ifMatch() any {
	if d.res.Versioned {
		return ref("parameters", "If-Match")
	}
	return obj("name", "If-Match", "in", "header", "required", false,
		"description", "The table has no `version` column and sends no `ETag`: `*` matches any existing "+d.n.noun+", and any other value is 412 `precondition-failed`.",
		"schema", obj("type", "string"), "example", "*")
}

// concurrency is the sentence on If-Match of a PUT, PATCH or DELETE.
func (d *resourceDoc) concurrency(versioned string) string {
	if d.res.Versioned {
		return versioned
	}
	return "The table has no `version` column: there is no ETag, and `If-Match: *` only requires the " + d.n.noun + " to exist (any other `If-Match` is 412)."
}

// writeProblems are the error responses of a PUT or PATCH.
func (d *resourceDoc) writeProblems() object {
	var more []member
	if len(d.res.Uniques) > 0 {
		more = append(more, problemResponse(409, "conflict"))
	}
	more = append(more, problemResponse(412, "precondition-failed"), problemResponse(413, "payload-too-large"),
		problemResponse(415, "unsupported-media-type"), problemResponse(422, "validation-failed"))
	return problems([]string{"missing-tenant-id", "invalid-tenant-id", "malformed-json", "invalid-query"}, []string{"tenant-not-found", "item-not-found"}, more...)
}

// versionNote is the sentence on a write's version, if the table has one.
func (d *resourceDoc) versionNote() string {
	if d.res.Versioned {
		return " `version` goes up by one."
	}
	return ""
}

// writtenResponse is the 200 of a PUT or PATCH.
func (d *resourceDoc) writtenResponse(what, key string, changed []tenantapi.Field) member {
	summary := "The " + d.n.noun + " after the change"
	if d.res.Versioned {
		summary = "The " + d.n.noun + " at version 2"
	}
	return member{"200", obj("description", "The "+what+" "+d.n.noun+".", "headers", headers(d.etag()...),
		"content", jsonContent(d.n.one, obj(key, example(summary, d.row(updated, changed)))))}
}

func (d *resourceDoc) replace() object {
	desc := "Replaces the " + d.n.noun + "'s " + quoteList(fieldNames(d.writable()), "and")
	if r := d.writeRules("goes back to"); r != "" {
		desc += "; " + r
	} else {
		desc += "."
	}
	desc += d.versionNote() + " 404 if the " + d.n.noun + " does not exist (PUT never creates). " +
		d.concurrency("Send `If-Match` with the ETag you read to avoid overwriting someone else's change (412 on mismatch).") + d.constraintRules()
	return d.operation("replace"+d.n.one, "Replace "+article(d.n.noun), desc, tenantParams(d.idParameter(), d.ifMatch())).
		with("requestBody", obj("required", true, "content", jsonContent(d.n.one+"Input", obj(
			"replace", example("New content", d.body(d.writable(), updated)))))).
		with("responses", append(object{d.writtenResponse("replaced", "replaced", d.replaced())}, d.writeProblems()...))
}

func (d *resourceDoc) patch() object {
	var resets, clears, required, merged []string
	for _, f := range d.writable() {
		switch {
		case f.HasDefault:
			resets = append(resets, f.Name)
		case !f.NotNull:
			clears = append(clears, f.Name)
		default:
			required = append(required, f.Name)
		}
		if f.Type.Kind == tenantapi.KindJSON && !f.Type.Array {
			merged = append(merged, f.Name)
		}
	}
	desc := "Applies a JSON Merge Patch (RFC 7396). The body must be `application/merge-patch+json`; anything else is 415 with `Accept-Patch: application/merge-patch+json`."
	var nulls []string
	if len(resets) > 0 {
		nulls = append(nulls, "`null` resets "+quoteList(resets, "or")+" to its default")
	}
	if len(clears) > 0 {
		nulls = append(nulls, "`null` clears "+quoteList(clears, "or"))
	}
	if len(required) > 0 {
		q := make([]string, len(required))
		for i, n := range required {
			q[i] = `"` + n + `": null`
		}
		nulls = append(nulls, quoteList(q, "or")+" is 422")
	}
	if len(nulls) > 0 {
		desc += " " + strings.Join(nulls, "; ") + "."
	}
	if len(merged) > 0 {
		desc += " An object sent for " + quoteList(merged, "or") + " is merged into the current one."
	}
	desc += d.versionNote() + " " + d.concurrency("Use `If-Match` for optimistic concurrency (412 on mismatch).") + d.constraintRules()

	examples := obj("merge", d.mergeExample())
	for _, f := range d.patched() {
		v, _ := d.value(f, updated).(object)
		if f.Type.Kind != tenantapi.KindJSON || f.Type.Array || len(v) == 0 {
			continue
		}
		examples = append(examples, member{"remove-" + singular(f.Name), example("Remove one member of `"+f.Name+"`",
			obj(f.Name, obj(v[len(v)-1].key, nil)))})
		break
	}
	if reset := d.resettable(); len(reset) > 0 {
		body := object{}
		for _, f := range reset {
			body = append(body, member{f.Name, nil})
		}
		examples = append(examples, member{"reset", example("Reset "+strings.ReplaceAll(quoteList(fieldNames(reset), "and"), "`", ""), body)})
	}
	return d.operation("patch"+d.n.one, "Update part of "+article(d.n.noun), desc, tenantParams(d.idParameter(), d.ifMatch())).
		with("requestBody", obj("required", true, "content", obj("application/merge-patch+json",
			obj("schema", schemaRef(d.n.one+"Patch"), "examples", examples)))).
		with("responses", append(object{d.writtenResponse("patched", "patched", d.patched())}, d.writeProblems()...))
}

// mergeExample is the PATCH example that changes the fields of patched.
func (d *resourceDoc) mergeExample() object {
	fields := d.patched()
	names := fieldNames(fields)
	ex := example("Change "+strings.ReplaceAll(quoteList(names, "and"), "`", ""), d.body(fields, updated))
	if len(fields) == 0 {
		ex = example("An empty patch", object{})
	}
	for _, f := range fields {
		before, _ := d.value(f, firstRow).(object)
		after, _ := d.value(f, updated).(object)
		if f.Type.Kind != tenantapi.KindJSON || f.Type.Array || after == nil {
			continue
		}
		var replaced, added []string
		for _, m := range after {
			if before.get(m.key) != nil {
				replaced = append(replaced, m.key)
			} else {
				added = append(added, m.key)
			}
		}
		var parts []string
		if len(replaced) > 0 {
			parts = append(parts, quoteList(replaced, "and")+" "+map[bool]string{true: "is", false: "are"}[len(replaced) == 1]+" replaced")
		}
		if len(added) > 0 {
			parts = append(parts, quoteList(added, "and")+" added")
		}
		return obj("summary", ex.get("summary"), "description", "`"+f.Name+"` is merged: "+strings.Join(parts, " and ")+"; its other members stay.",
			"value", ex.get("value"))
	}
	return ex
}

func (d *resourceDoc) deleteOp() object {
	desc := "Deletes the " + d.n.noun + ". 404 if it does not exist. " +
		d.concurrency("With `If-Match`, deletes only the version you read (412 otherwise).")
	var more []member
	if len(d.refBy) > 0 {
		desc += " While rows of " + quoteList(d.refBy, "or") + " still reference it, a foreign key that restricts deletes makes it 409 `conflict`."
		more = append(more, problemResponse(409, "conflict"))
	}
	more = append(more, problemResponse(412, "precondition-failed"))
	return d.operation("delete"+d.n.one, "Delete "+article(d.n.noun), desc, tenantParams(d.idParameter(), d.ifMatch())).
		with("responses", append(object{{"204", obj("description", "Deleted.", "headers", headers())}},
			problems([]string{"missing-tenant-id", "invalid-tenant-id", "invalid-query"}, []string{"tenant-not-found", "item-not-found"}, more...)...))
}

// options is the OPTIONS operation of the collection path, or with one
// of the row path.
func (d *resourceDoc) options(one bool) object {
	path, id, desc := d.collection(), "options"+d.n.many, "Answers 204 with `Allow`."
	var params []any
	allow, methods, acceptPatch := any(ref("headers", "Allow")), any(ref("headers", "Access-Control-Allow-Methods")), []any{}
	if one {
		path, id, desc = d.member(), "options"+d.n.one, "Answers 204 with `Allow` and `Accept-Patch`."
		params = []any{d.idParameter()}
		const methodList = "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"
		allow = obj("description", "The methods the path supports.", "required", true, "schema", obj("type", "string"), "example", methodList)
		methods = obj("description", "The methods the path supports; with an allowed `Origin` only.", "schema", obj("type", "string"), "example", methodList)
		acceptPatch = []any{"Accept-Patch", ref("headers", "Accept-Patch")}
	}
	params = append(params, ref("parameters", "X-Request-ID"), ref("parameters", "Origin"),
		ref("parameters", "Access-Control-Request-Method"), ref("parameters", "Access-Control-Request-Headers"))
	hs := append(obj("X-Request-ID", ref("headers", "X-Request-ID"), "Allow", allow), obj(acceptPatch...)...)
	hs = append(hs, obj("Vary", ref("headers", "Vary-Origin"), "Access-Control-Allow-Origin", ref("headers", "Access-Control-Allow-Origin"),
		"Access-Control-Allow-Methods", methods, "Access-Control-Allow-Headers", ref("headers", "Access-Control-Allow-Headers"),
		"Access-Control-Max-Age", ref("headers", "Access-Control-Max-Age"))...)
	desc += " A CORS preflight is answered here before any tenant or credential check, so it needs neither `X-Tenant-ID` nor `Authorization`; " +
		"the CORS headers are added only for an `Origin` listed in `CORS_ALLOWED_ORIGINS`."
	return obj("operationId", id, "tags", []any{d.n.tag}, "summary", "Allowed methods and CORS preflight for "+path,
		"description", desc, "security", []any{}, "parameters", params,
		"responses", obj("204", obj("description", "The methods of `"+path+"`, and CORS headers for an allowed origin.", "headers", hs)))
}

// schemas returns the resource's component schemas.
func (d *resourceDoc) schemas() object {
	return obj(d.n.one, d.rowSchema(), d.n.one+"Input", d.inputSchema(), d.n.one+"Patch", d.patchSchema(), d.n.one+"Page", d.pageSchema())
}

func (d *resourceDoc) rowSchema() object {
	desc := "A " + d.n.noun + " of a tenant, as the API answers it: `id`, the fields in column order, then the columns the server manages. Lists are ordered by `id`."
	if n, ok := resourceNotes[d.res.Name]; ok && n.schema != "" {
		desc = n.schema
	}
	props := obj("id", obj("type", "string", "format", "uuid", "readOnly", true, "description", "Server-generated UUIDv7; time-ordered.", "examples", []any{d.ids[0]}))
	required := []any{"id"}
	for _, f := range d.res.Fields {
		props = append(props, member{f.Name, d.fieldSchema(f, rowMode)})
		required = append(required, f.Name)
	}
	if d.res.Versioned {
		props = append(props, member{"version", obj("type", "integer", "format", "int64", "minimum", 1, "readOnly", true,
			"description", "1 on create; every successful write adds one. The `ETag` is this number, quoted.", "examples", []any{1})})
		required = append(required, "version")
	}
	for _, c := range d.timestamps() {
		props = append(props, member{c, obj("type", "string", "format", "date-time", "pattern", timestampPattern,
			"description", "UTC, RFC 3339, exactly 6 fractional digits and `Z`. Set by the server.", "examples", []any{exampleTimes[0]}, "readOnly", true)})
		required = append(required, c)
	}
	return obj("type", "object", "description", desc, "required", required, "properties", props, "examples", []any{d.row(firstRow, nil)})
}

// timestamps are the managed timestamp columns of the resource.
func (d *resourceDoc) timestamps() []string {
	var out []string
	if d.res.Created {
		out = append(out, "created_at")
	}
	if d.res.Updated {
		out = append(out, "updated_at")
	}
	return out
}

// readOnly are the managed members of a body: accepted and ignored.
func (d *resourceDoc) readOnly() object {
	o := obj("id", obj("type", "string", "format", "uuid", "readOnly", true,
		"description", "Read-only; accepted and ignored. In a PUT or PATCH it must equal the path's `"+d.n.idParam+"` (else 422)."))
	if d.res.Versioned {
		o = append(o, member{"version", obj("type", "integer", "readOnly", true, "description", "Read-only; accepted and ignored.")})
	}
	for _, c := range d.timestamps() {
		o = append(o, member{c, obj("type", "string", "readOnly", true, "description", "Read-only; accepted and ignored.")})
	}
	return o
}

func (d *resourceDoc) managedNames() string {
	names := []string{"id"}
	for _, m := range d.readOnly()[1:] {
		names = append(names, m.key)
	}
	for _, f := range d.res.Fields {
		if f.Generated {
			names = append(names, f.Name)
		}
	}
	return quoteList(names, "and")
}

func (d *resourceDoc) inputSchema() object {
	desc := "The body of `POST " + d.collection() + "` and `PUT " + d.member() + "`."
	if r := d.writeRules("takes"); r != "" {
		desc += " " + strings.ToUpper(r[:1]) + r[1:]
	}
	desc += " The read-only fields (" + d.managedNames() + ") are accepted and ignored, so a fetched " + d.n.noun +
		" can be sent back, except an `id` in a PUT that differs from the path (422); any other field is 422 naming it."
	props := object{}
	for _, f := range d.res.Fields {
		props = append(props, member{f.Name, d.fieldSchema(f, inputMode)})
	}
	props = append(props, d.readOnly()...)
	s := obj("type", "object", "description", desc)
	if req := fieldNames(d.required()); len(req) > 0 {
		s = append(s, member{"required", req})
	}
	return append(s, obj("properties", props, "additionalProperties", false, "examples", []any{d.body(d.writable(), firstRow)})...)
}

func (d *resourceDoc) patchSchema() object {
	desc := "A JSON Merge Patch (RFC 7396) of " + article(d.n.noun) + ", sent as `application/merge-patch+json`. Members present replace the " +
		d.n.noun + "'s; members absent stay; `null` resets a field to its default, or to null where it has none and is nullable, and is 422 for a required field. " +
		"An object sent for a JSON field is merged into its current value (a member set to `null` inside it is removed). " +
		"The result must satisfy the same rules as a PUT. Read-only fields are accepted and ignored, except an `id` that differs from the path (422); any other field is 422."
	props := object{}
	for _, f := range d.res.Fields {
		props = append(props, member{f.Name, d.fieldSchema(f, patchMode)})
	}
	props = append(props, d.readOnly()...)
	return obj("type", "object", "description", desc, "properties", props, "additionalProperties", false,
		"examples", []any{d.mergeExample().get("value")})
}

func (d *resourceDoc) pageSchema() object {
	return obj("type", "object",
		"description", "A page of "+d.n.nouns+" ordered by `id`. A page also ends before its JSON would exceed 4 MiB. "+
			strings.ToUpper(d.n.nouns[:1])+d.n.nouns[1:]+" created during a traversal may be missed; none is returned twice.",
		"required", []any{d.res.Name, "next_cursor"},
		"properties", obj(d.res.Name, obj("type", "array", "items", schemaRef(d.n.one)),
			"next_cursor", obj("type", []any{"string", "null"}, "description", "Pass as `cursor` to get the next page; `null` on the last page.")),
		"examples", []any{obj(d.res.Name, []any{d.row(firstRow, nil), d.row(secondRow, nil)}, "next_cursor", exampleCursor)})
}

// schemaMode says where a field's schema stands.
type schemaMode int

const (
	rowMode   schemaMode = iota // in an answer
	inputMode                   // in a POST or PUT body
	patchMode                   // in a merge patch
)

// fieldSchema is the JSON Schema of field f: its type, format and limits,
// null where the mode allows it, and a description of its rules.
func (d *resourceDoc) fieldSchema(f tenantapi.Field, mode schemaMode) object {
	nullable := !f.NotNull || (mode == patchMode && f.HasDefault)
	var s object
	if f.Type.Array {
		elem := f.Type
		elem.Array = false
		s = obj("type", "array", "items", withNull(valueSchema(elem)))
	} else {
		s = valueSchema(f.Type)
		if f.Type.Kind == tenantapi.KindTimestamp && mode == rowMode {
			s = append(s, member{"pattern", timestampPattern})
		}
	}
	if nullable && !f.Generated {
		s = withNull(s)
	}
	if f.Generated {
		s = append(s, member{"readOnly", true})
	}
	desc := d.fieldDescription(f, mode)
	if n, ok := noteOf(d.res, f); ok {
		desc = n.text
		if mode == patchMode {
			desc = n.patch
		}
	}
	s = append(s, member{"description", desc})
	return append(s, member{"examples", []any{d.value(f, firstRow)}})
}

// withNull lets s be null too: a type array with "null" (OpenAPI 3.1), and
// null among an enum's values.
func withNull(s object) object {
	out := slices.Clone(s)
	for i, m := range out {
		switch m.key {
		case "type":
			if t, ok := m.value.(string); ok {
				out[i].value = []any{t, "null"}
			}
		case "enum":
			out[i].value = append(slices.Clone(m.value.([]any)), nil)
		}
	}
	return out
}

// valueSchema is the JSON Schema of a (non-array) value of t, as the JSON
// encoding of each kind has it (postgres/rowsql.go).
func valueSchema(t tenantapi.Type) object {
	switch t.Kind {
	case tenantapi.KindString:
		s := obj("type", "string")
		if t.MaxLength > 0 {
			s = append(s, member{"maxLength", t.MaxLength})
		}
		return s
	case tenantapi.KindInteger:
		switch t.Bits {
		case 16:
			return obj("type", "integer", "format", "int16", "minimum", -1<<15, "maximum", 1<<15-1)
		case 32:
			return obj("type", "integer", "format", "int32", "minimum", -1<<31, "maximum", 1<<31-1)
		}
		return obj("type", "integer", "format", "int64")
	case tenantapi.KindNumeric:
		s := obj("type", "number", "format", "decimal")
		if t.Precision > 0 && t.Scale >= 0 && t.Scale <= t.Precision {
			bound := json.Number("1" + strings.Repeat("0", t.Precision-t.Scale))
			s = append(s, obj("exclusiveMinimum", json.Number("-"+string(bound)), "exclusiveMaximum", bound)...)
		}
		return s
	case tenantapi.KindFloat:
		if t.Bits == 32 {
			return obj("type", "number", "format", "float")
		}
		return obj("type", "number", "format", "double")
	case tenantapi.KindBoolean:
		return obj("type", "boolean")
	case tenantapi.KindJSON:
		return object{} // any JSON value
	case tenantapi.KindTimestamp:
		return obj("type", "string", "format", "date-time")
	case tenantapi.KindDate:
		return obj("type", "string", "format", "date")
	case tenantapi.KindUUID:
		return obj("type", "string", "format", "uuid")
	case tenantapi.KindEnum:
		labels := make([]any, len(t.Labels))
		for i, l := range t.Labels {
			labels[i] = l
		}
		return obj("type", "string", "enum", labels)
	}
	return object{}
}

// valueRules describes the values of t in a sentence.
func valueRules(t tenantapi.Type) string {
	switch t.Kind {
	case tenantapi.KindString:
		if t.MaxLength > 0 {
			return fmt.Sprintf("A string of at most %d Unicode code points; no U+0000.", t.MaxLength)
		}
		return "A string; no U+0000."
	case tenantapi.KindInteger:
		return "An integer within the column's range."
	case tenantapi.KindNumeric:
		s := "An exact decimal number, sent and answered as a JSON number without float rounding."
		if t.Precision > 0 && t.Scale >= 0 && t.Scale <= t.Precision {
			s += fmt.Sprintf(" At most %d digits before the decimal point and %d after.", t.Precision-t.Scale, t.Scale)
		}
		return s
	case tenantapi.KindFloat:
		return "A floating-point number."
	case tenantapi.KindBoolean:
		return "A boolean."
	case tenantapi.KindJSON:
		return "Any JSON value, at most 64 KiB when encoded compactly and nested at most 32 deep; no U+0000 in any string. It round-trips as equal JSON, not byte for byte."
	case tenantapi.KindTimestamp:
		return "An RFC 3339 date and time; answered in UTC with exactly 6 fractional digits and `Z`."
	case tenantapi.KindDate:
		return "A date, `YYYY-MM-DD`."
	case tenantapi.KindUUID:
		return "A UUID."
	case tenantapi.KindEnum:
		return "One of the labels of the enum type `" + t.Name + "`."
	}
	return ""
}

// fieldDescription says what the catalog tells of field f: its values,
// whether a write must give it, what null does, and its constraints.
func (d *resourceDoc) fieldDescription(f tenantapi.Field, mode schemaMode) string {
	var s []string
	if f.Type.Array {
		elem := f.Type
		elem.Array = false
		s = append(s, "A JSON array; an element may be null. Each element: "+strings.ToLower(valueRules(elem)[:1])+valueRules(elem)[1:])
	} else {
		s = append(s, valueRules(f.Type))
	}
	switch {
	case f.Generated:
		s = append(s, "Read-only: a generated column; accepted and ignored in a body.")
	case mode == patchMode && f.HasDefault:
		s = append(s, "`null` resets it to the column's default.")
	case mode == patchMode && !f.NotNull:
		s = append(s, "`null` clears it.")
	case mode == patchMode:
		s = append(s, "`null` is 422.")
	case f.Required():
		s = append(s, "Required.")
	case f.HasDefault:
		s = append(s, "Omitted, it takes the column's default.")
	case !f.NotNull:
		s = append(s, "Nullable; omitted, it is null.")
	}
	one := []string{f.Name}
	for _, c := range d.res.Checks {
		if slices.Equal(c.Columns, one) {
			s = append(s, "The CHECK constraint `"+c.Name+"` limits its values (422 when broken).")
		}
	}
	for _, u := range d.res.Uniques {
		if slices.Equal(u.Columns, one) {
			s = append(s, "Unique: a value another "+d.n.noun+" has is 409 `conflict`.")
		}
	}
	for _, fk := range d.res.ForeignKeys {
		if slices.Equal(fk.Columns, one) {
			s = append(s, "References a row of `"+fk.References+"`; a value naming none is 422.")
		}
	}
	if f.Filterable && mode == rowMode {
		s = append(s, "Filterable: `GET "+d.collection()+"?"+f.Name+"=…`.")
	}
	s = append(s, "Column type `"+f.Type.SQL+"`.")
	return strings.Join(s, " ")
}
