package postgres

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// A rowPlan is the SQL of one resource at one version of the application
// set, made once from its catalog entry: every identifier in it comes from
// the catalog and is quoted, every value is a parameter. Statements hold
// {{schema}} for the tenant's schema; rowStatements renders them.
type rowPlan struct {
	res   *tenantapi.Resource
	table string // {{schema}}."name"
	// row is the expression of a row's JSON text over alias t.
	row string
	// token is the row's version, or for a table without one xmin, which
	// changes with every write; returned is what RETURNING gives (0
	// without a version column).
	token, returned string
	// chunk, when not 0, splits each row's JSON over result rows of at
	// most chunk characters, for a driver that limits a row's size (the
	// Data API: 64 KB); see shaped.
	chunk int
	// members are the row's JSON members after id; fieldCols selects
	// their texts (see out), fieldNulls as many NULLs.
	members               []member
	fieldCols, fieldNulls string

	mu       sync.Mutex
	variants map[string]string
}

// timeFormat is to_char's spelling of the contract's timestamps: UTC,
// microseconds, Z.
const timeFormat = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`

func newRowPlan(res *tenantapi.Resource, chunk int) *rowPlan {
	p := &rowPlan{res: res, table: schemaPlaceholder + "." + ident(res.Name), variants: map[string]string{}, chunk: chunk}
	p.token, p.returned = `t.xmin::text::bigint`, `0::bigint`
	if res.Versioned {
		p.token, p.returned = "t.version", "t.version"
	}
	ts := tenantapi.Type{Kind: tenantapi.KindTimestamp}
	add := func(name string, t tenantapi.Type, c string) {
		key, _ := json.Marshal(name)
		p.members = append(p.members, member{key: append([]byte{','}, append(key, ':')...), t: t, col: c})
	}
	for _, f := range res.Fields {
		add(f.Name, f.Type, "t."+ident(f.Name))
	}
	if res.Versioned {
		add("version", tenantapi.Type{Kind: tenantapi.KindInteger}, "t.version")
	}
	if res.Created {
		add("created_at", ts, "t.created_at")
	}
	if res.Updated {
		add("updated_at", ts, "t.updated_at")
	}
	var b, cols, nulls strings.Builder
	b.WriteString(`'{"id":"' || t.id::text || '"'`)
	for i, m := range p.members {
		b.WriteString(" || " + sqlString(string(m.key)) + " || coalesce(" + outExpr(m.t, m.col) + ", 'null')")
		if i > 0 {
			cols.WriteString(", ")
			nulls.WriteString(", ")
		}
		cols.WriteString(textExpr(m.t, m.col) + " AS c" + strconv.Itoa(i))
		nulls.WriteString("NULL")
	}
	b.WriteString(` || '}'`)
	p.row = b.String()
	p.fieldCols, p.fieldNulls = cols.String(), nulls.String()
	return p
}

// member is a JSON member of the rows of a resource: its key (with the
// comma before and the colon after), type and column.
type member struct {
	key []byte
	t   tenantapi.Type
	col string
}

// out is the select list of a row's JSON, for a statement whose answer the
// store reads (named j, or c0, c1, … after the columns before it): built by
// PostgreSQL in chunk mode (the Data API's), else each member's text,
// which encode turns into the same JSON in Go. PostgreSQL parses and
// plans the long expression of the first at every statement; the casts of
// the second cost a fraction of that.
func (p *rowPlan) out() string {
	if p.chunk > 0 {
		return p.row + ` AS j`
	}
	return p.fieldCols
}

// cteOut is out's columns as a CTE named alias answers them.
func (p *rowPlan) cteOut(alias string) string {
	if p.chunk > 0 {
		return alias + `.j`
	}
	cols := make([]string, len(p.members))
	for i := range cols {
		cols[i] = alias + ".c" + strconv.Itoa(i)
	}
	return strings.Join(cols, ", ")
}

// outNull is out's shape with every value NULL (a branch of a UNION that
// has no row).
func (p *rowPlan) outNull() string {
	if p.chunk > 0 {
		return `NULL`
	}
	return p.fieldNulls
}

// textExpr is column c of type t as the text encode reads: its cast to
// text (numbers exact, booleans true or false, timestamps with their
// offset), or for arrays the JSON text outExpr gives.
func textExpr(t tenantapi.Type, c string) string {
	if t.Array {
		return outExpr(t, c)
	}
	return c + `::text`
}

// encode appends the JSON of a row to dst: id, then each member from its
// text (nil for NULL), byte for byte what p.row makes PostgreSQL build.
func (p *rowPlan) encode(dst []byte, id [16]byte, texts [][]byte) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendUUID(dst, id)
	dst = append(dst, '"')
	for i, m := range p.members {
		dst = append(dst, m.key...)
		dst = appendMember(dst, m.t, texts[i])
	}
	return append(dst, '}')
}

// appendMember appends the JSON of one value from its text.
func appendMember(dst []byte, t tenantapi.Type, text []byte) []byte {
	if text == nil {
		return append(dst, "null"...)
	}
	if t.Array {
		return append(dst, text...)
	}
	switch t.Kind {
	case tenantapi.KindInteger, tenantapi.KindNumeric, tenantapi.KindJSON:
		return append(dst, text...)
	case tenantapi.KindFloat:
		if s := string(text); s == "NaN" || s == "Infinity" || s == "-Infinity" {
			return appendJSONString(dst, text) // as to_jsonb answers them
		}
		return append(dst, text...)
	case tenantapi.KindBoolean:
		if len(text) > 0 && text[0] == 't' { // boolean::text is true or false; its output, t or f
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case tenantapi.KindTimestamp:
		if out, ok := appendUTCText(dst, text); ok {
			return out
		}
		ts, err := parseTimestamptz(string(text))
		if err != nil {
			return append(dst, "null"...)
		}
		dst = append(dst, '"')
		dst = ts.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
		return append(dst, '"')
	}
	return appendJSONString(dst, text)
}

// appendUTCText appends timestamptz text that is already in UTC, as a
// server whose TimeZone is UTC (Aurora's default, and initdb's on a machine
// in UTC) gives it ("2026-11-26 14:07:25.1234+00"), in the form
// encode answers, "2026-11-26T14:07:25.123400Z", by moving its bytes: the
// same answer as parsing it, at a fraction of the cost on every row read.
// It reports false for any other text (another offset, a year that is not
// four digits, BC), which the caller parses.
func appendUTCText(dst, text []byte) ([]byte, bool) {
	const head = len("2006-01-02 15:04:05")
	n := len(text)
	if n < head+3 || string(text[n-3:]) != "+00" {
		return dst, false
	}
	for i, c := range text[:head] {
		switch i {
		case 4, 7:
			if c != '-' {
				return dst, false
			}
		case 10:
			if c != ' ' {
				return dst, false
			}
		case 13, 16:
			if c != ':' {
				return dst, false
			}
		default:
			if c < '0' || c > '9' {
				return dst, false
			}
		}
	}
	frac := text[head : n-3]
	if len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 7 || frac[0] != '.' {
			return dst, false
		}
		for _, c := range frac[1:] {
			if c < '0' || c > '9' {
				return dst, false
			}
		}
		frac = frac[1:]
	}
	dst = append(dst, '"')
	dst = append(dst, text[:10]...)
	dst = append(dst, 'T')
	dst = append(dst, text[11:head]...)
	dst = append(dst, '.')
	dst = append(dst, frac...)
	dst = append(dst, "000000"[len(frac):]...)
	return append(dst, `Z"`...), true
}

// parseTimestamptz reads timestamptz's text output (DateStyle ISO, the
// default): "2026-11-26 14:07:25.123456+00", with an offset of hours,
// minutes or seconds.
func parseTimestamptz(s string) (time.Time, error) {
	var err error
	for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00:00"} {
		var ts time.Time
		if ts, err = time.Parse(layout, s); err == nil {
			return ts, nil
		}
	}
	return time.Time{}, err
}

// appendJSONString appends s as a JSON string escaped as PostgreSQL's
// escape_json does (so that both encodings of a row are the same bytes).
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		var esc string
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\b':
			esc = `\b`
		case c == '\f':
			esc = `\f`
		case c == '\n':
			esc = `\n`
		case c == '\r':
			esc = `\r`
		case c == '\t':
			esc = `\t`
		case c < ' ':
			esc = `\u00` + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&0xf])
		default:
			continue
		}
		dst = append(append(dst, s[start:i]...), esc...)
		start = i + 1
	}
	return append(append(dst, s[start:]...), '"')
}

// appendUUID appends id in its canonical 8-4-4-4-12 form.
func appendUUID(dst []byte, id [16]byte) []byte {
	const hexDigits = "0123456789abcdef"
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

// outExpr is the JSON text of column c of type t, NULL for NULL.
func outExpr(t tenantapi.Type, c string) string {
	switch {
	case t.Kind == tenantapi.KindTimestamp && t.Array:
		return `CASE WHEN ` + c + ` IS NOT NULL THEN coalesce((SELECT jsonb_agg(to_char(x AT TIME ZONE 'UTC', ` + timeFormat + `) ORDER BY n)
			FROM unnest(` + c + `) WITH ORDINALITY AS a(x, n))::text, '[]') END`
	case t.Kind == tenantapi.KindTimestamp:
		return `'"' || to_char(` + c + ` AT TIME ZONE 'UTC', ` + timeFormat + `) || '"'`
	case t.Kind == tenantapi.KindJSON && !t.Array:
		return c + `::text`
	case t.Kind == tenantapi.KindString && !t.Array:
		// As text: char(n)'s padding goes, as in textExpr.
		return `to_jsonb(` + c + `::text)::text`
	}
	return `to_jsonb(` + c + `)::text`
}

// inExpr is the SQL value of parameter p (text, as Value.Text spells it)
// for a column of type t.
func inExpr(t tenantapi.Type, p string) string {
	elem := castOf(t)
	if !t.Array {
		if elem == "text" {
			return p + `::text`
		}
		return p + `::text::` + elem
	}
	elems := `jsonb_array_elements_text`
	if t.Kind == tenantapi.KindJSON {
		elems = `jsonb_array_elements`
	}
	return `CASE WHEN ` + p + `::text IS NOT NULL THEN ARRAY(SELECT e::` + elem + ` FROM ` + elems + `(` + p +
		`::text::jsonb) WITH ORDINALITY AS a(e, n) ORDER BY n) END`
}

// castOf is the type a value of t (an element, for an array) is cast to.
func castOf(t tenantapi.Type) string {
	switch t.Kind {
	case tenantapi.KindInteger:
		return "bigint"
	case tenantapi.KindNumeric:
		return "numeric"
	case tenantapi.KindFloat:
		if t.Bits == 32 {
			return "real"
		}
		return "double precision"
	case tenantapi.KindBoolean:
		return "boolean"
	case tenantapi.KindJSON:
		if strings.HasPrefix(t.SQL, "json") && !strings.HasPrefix(t.SQL, "jsonb") {
			return "json"
		}
		return "jsonb"
	case tenantapi.KindTimestamp:
		return "timestamptz"
	case tenantapi.KindDate:
		return "date"
	case tenantapi.KindUUID:
		return "uuid"
	case tenantapi.KindEnum:
		return schemaPlaceholder + "." + ident(t.Name)
	}
	return "text"
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// sqlString is s as an SQL string literal (standard_conforming_strings,
// which pgx requires, is on).
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// variant returns the statement named key, making it with build the first
// time.
func (p *rowPlan) variant(key string, build func() string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.variants[key]
	if !ok {
		s = build()
		p.variants[key] = s
	}
	return s
}

// shaped is a statement whose answer ends with a row's JSON, j: ctes
// (may be "") and the final query, which names the columns before j cols.
// With chunk set, the answer has two more columns instead of j, a part
// number n from 1 and the part, each row of the answer repeating the
// columns before (see RowStore.each), ordered by order then n.
func (p *rowPlan) shaped(ctes, final string, cols []string, order string) string {
	if p.chunk == 0 {
		if ctes == "" {
			return final
		}
		return `WITH ` + ctes + ` ` + final
	}
	if ctes != "" {
		ctes += `, `
	}
	k := strconv.Itoa(p.chunk)
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = `r.` + c
	}
	if order != "" {
		order = `r.` + order + `, `
	}
	return `WITH ` + ctes + `r AS (` + final + `)
		SELECT ` + strings.Join(out, ", ") + `, c.n, c.part FROM r CROSS JOIN LATERAL (
			SELECT n, substr(r.j, (n - 1) * ` + k + ` + 1, ` + k + `) AS part
			FROM generate_series(1, greatest(1, ceil(length(r.j)::numeric / ` + k + `)::int)) AS n
		) AS c ORDER BY ` + order + `c.n`
}

func (p *rowPlan) getSQL() string {
	return p.variant("get", func() string {
		return p.shaped("", `SELECT t.id, `+p.token+` AS v, `+p.out()+` FROM `+p.table+` t WHERE t.id = $1`, []string{"id", "v"}, "")
	})
}

func (p *rowPlan) checkSQL() string {
	return p.variant("check", func() string {
		return `SELECT ` + p.token + ` FROM ` + p.table + ` t WHERE t.id = $1`
	})
}

// listSQL filters on fields (-1: id) with $3, $4, …; $1 is the id to start
// after, $2 the limit.
func (p *rowPlan) listSQL(fields []int) string {
	key := "list"
	for _, f := range fields {
		key += "," + strconv.Itoa(f)
	}
	return p.variant(key, func() string {
		var b strings.Builder
		b.WriteString(`SELECT t.id, ` + p.out() + ` FROM ` + p.table + ` t WHERE t.id > $1`)
		for i, f := range fields {
			param := "$" + strconv.Itoa(i+3)
			if f < 0 {
				b.WriteString(` AND t.id = ` + param + `::text::uuid`)
				continue
			}
			fd := p.res.Fields[f]
			b.WriteString(` AND t.` + ident(fd.Name) + ` = ` + inExpr(fd.Type, param))
		}
		b.WriteString(` ORDER BY t.id LIMIT $2`)
		return p.shaped("", b.String(), []string{"id"}, "id")
	})
}

// valuesKey names the columns vals set and which of them go to default.
func valuesKey(op string, vals []tenantapi.Value) string {
	var b strings.Builder
	b.WriteString(op)
	for _, v := range vals {
		b.WriteByte(',')
		if v.Default {
			b.WriteByte('d')
		}
		b.WriteString(strconv.Itoa(v.Field))
	}
	return b.String()
}

// stamped reports whether the table has a timestamp the server sets, so
// that its statements take the time as a parameter.
func (p *rowPlan) stamped() bool { return p.res.Created || p.res.Updated }

// insertColumns returns the column list and VALUES expressions of an
// insert of vals: $1 is the id, $2 the time when the table is stamped,
// then the values that are not defaults (a default is left to the column).
func (p *rowPlan) insertColumns(vals []tenantapi.Value) (cols, exprs string) {
	c := []string{"id"}
	e := []string{"$1::uuid"}
	if p.res.Versioned {
		c, e = append(c, "version"), append(e, "1")
	}
	if p.res.Created {
		c, e = append(c, "created_at"), append(e, "$2::timestamptz")
	}
	if p.res.Updated {
		c, e = append(c, "updated_at"), append(e, "$2::timestamptz")
	}
	n := 2
	if p.stamped() {
		n = 3
	}
	for _, v := range vals {
		if v.Default {
			continue
		}
		f := p.res.Fields[v.Field]
		c, e = append(c, ident(f.Name)), append(e, inExpr(f.Type, "$"+strconv.Itoa(n)))
		n++
	}
	return strings.Join(c, ", "), strings.Join(e, ", ")
}

func (p *rowPlan) insertSQL(vals []tenantapi.Value) string {
	return p.variant(valuesKey("insert", vals), func() string {
		cols, exprs := p.insertColumns(vals)
		return p.shaped("", `INSERT INTO `+p.table+` AS t (`+cols+`) VALUES (`+exprs+`) RETURNING t.id, `+p.returned+` AS v, `+p.out(),
			[]string{"id", "v"}, "")
	})
}

// insertIdemSQL claims the idempotency key (its parameters follow the
// values: key, hash, cutoff, resource, time) and inserts the row only when the
// claim succeeded, atomically. A key older than the cutoff is taken over
// in place. When the key is held, the second branch returns the holder's
// row as this statement's snapshot sees it; a holder that committed while
// the statement waited on it is not visible, which the caller reports as
// still in flight. The response is stored by storeResponseSQL, queued
// right after in the same transaction.
func (p *rowPlan) insertIdemSQL(vals []tenantapi.Value) string {
	return p.variant(valuesKey("idem", vals), func() string {
		n := len(valueArgs(nil, vals)) + 2
		if p.stamped() {
			n++
		}
		key, hash, cutoff, res, at := "$"+strconv.Itoa(n), "$"+strconv.Itoa(n+1), "$"+strconv.Itoa(n+2), "$"+strconv.Itoa(n+3), "$"+strconv.Itoa(n+4)
		cols, exprs := p.insertColumns(vals)
		ctes := `k AS (
			INSERT INTO ` + schemaPlaceholder + `._tenantapi_idempotency_keys AS k (key, request_hash, response, item_id, created_at, resource)
			VALUES (` + key + `, ` + hash + `, '\x'::bytea, $1, ` + at + `::timestamptz, ` + res + `)
			ON CONFLICT (key) DO UPDATE
				SET request_hash = excluded.request_hash, response = excluded.response, item_id = excluded.item_id,
				    created_at = excluded.created_at, resource = excluded.resource
				WHERE k.created_at <= ` + cutoff + `::timestamptz
			RETURNING 1
		), i AS (
			INSERT INTO ` + p.table + ` AS t (` + cols + `) SELECT ` + exprs + ` FROM k
			RETURNING t.id, ` + p.returned + ` AS v, ` + p.out() + `
		)`
		// The replay's answer is the stored one: j itself in chunk mode,
		// else a column of its own before the members' texts.
		created, replay := `i.j`, `convert_from(response, 'UTF8')`
		before := []string{"created", "hash", "at", "res", "id", "v"}
		if p.chunk == 0 {
			created, replay = `NULL::text AS stored, `+p.cteOut("i"), replay+`, `+p.outNull()
			before = nil
		}
		final := `SELECT true AS created, NULL::bytea AS hash, NULL::timestamptz AS at, NULL::text AS res, i.id, i.v, ` + created + ` FROM i
		UNION ALL
		SELECT false, request_hash, created_at, resource, item_id, NULL, ` + replay + `
		FROM ` + schemaPlaceholder + `._tenantapi_idempotency_keys
		WHERE key = ` + key + ` AND NOT EXISTS (SELECT 1 FROM k)`
		return p.shaped(ctes, final, before, "")
	})
}

// storeResponseSQL stores the new row's JSON as the key's response: $1 is
// the key, $2 the row's id.
func (p *rowPlan) storeResponseSQL() string {
	return p.variant("store", func() string {
		return `UPDATE ` + schemaPlaceholder + `._tenantapi_idempotency_keys k SET response = convert_to(` + p.row + `, 'UTF8')
			FROM ` + p.table + ` t WHERE k.key = $1 AND k.item_id = $2 AND t.id = $2`
	})
}

// updateSQL sets the columns of vals ($1 the id, $4 the time when the
// table has updated_at, then the values that are not defaults) when $2
// (any version) or the row's version is in $3. It tells "no such row" (no row) from "not written" (a
// false row, with the row's version as the statement's snapshot sees it)
// in one statement, as deleteSQL does. Under READ COMMITTED a writer that
// waited for a concurrent one re-checks the version on the row it then
// sees, so of two writers with the same If-Match exactly one wins. A loser
// that waited for a delete finds no row to re-check, yet the false branch
// still sees the row of its snapshot: the caller tells that race from a
// precondition that failed by the version returned (see write).
func (p *rowPlan) updateSQL(vals []tenantapi.Value) string {
	return p.variant(valuesKey("update", vals), func() string {
		var set []string
		if p.res.Versioned {
			set = append(set, "version = t.version + 1")
		}
		n := 4
		if p.res.Updated {
			set = append(set, "updated_at = $4::timestamptz")
			n = 5
		}
		for _, v := range vals {
			f := p.res.Fields[v.Field]
			if v.Default {
				set = append(set, ident(f.Name)+" = DEFAULT")
				continue
			}
			set = append(set, ident(f.Name)+" = "+inExpr(f.Type, "$"+strconv.Itoa(n)))
			n++
		}
		if len(set) == 0 {
			set = append(set, "id = t.id")
		}
		ctes := `upd AS (
			UPDATE ` + p.table + ` AS t SET ` + strings.Join(set, ", ") + `
			WHERE t.id = $1 AND ($2::boolean OR ` + p.token + ` = ANY($3::bigint[]))
			RETURNING t.id, ` + p.returned + ` AS v, ` + p.out() + `
		)`
		final := `SELECT true AS written, upd.id, upd.v, ` + p.cteOut("upd") + ` FROM upd
		UNION ALL
		SELECT false, t.id, ` + p.token + `, ` + p.outNull() + ` FROM ` + p.table + ` t
		WHERE t.id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`
		return p.shaped(ctes, final, []string{"written", "id", "v"}, "")
	})
}

// deleteSQL deletes the row $1 when $2 (any version) or its version is in
// $3, telling "no such row" from "not deleted" as updateSQL does.
func (p *rowPlan) deleteSQL() string {
	return p.variant("delete", func() string {
		return `WITH del AS (
			DELETE FROM ` + p.table + ` AS t
			WHERE t.id = $1 AND ($2::boolean OR ` + p.token + ` = ANY($3::bigint[]))
			RETURNING 1
		)
		SELECT true, NULL::bigint FROM del
		UNION ALL
		SELECT false, ` + p.token + ` FROM ` + p.table + ` t WHERE t.id = $1 AND NOT EXISTS (SELECT 1 FROM del)`
	})
}

// statementCache keeps statements rendered for a tenant's schema, bounded:
// rendering is cheap, so a full cache is simply emptied.
type statementCache struct {
	mu sync.RWMutex
	m  map[stmtKey]string
}

type stmtKey struct {
	tenant tenantapi.TenantID
	sql    string
}

const maxCachedStatements = 8192

// render returns sql for tenant id.
func (c *statementCache) render(id tenantapi.TenantID, sql string) string {
	k := stmtKey{id, sql}
	c.mu.RLock()
	s, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = forTenant(sql, id)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedStatements {
		c.m = make(map[stmtKey]string)
	}
	c.m[k] = s
	c.mu.Unlock()
	return s
}
