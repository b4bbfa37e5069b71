package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// The catalog of one schema, read in one round trip: its tables, their
// columns with types, the indexes and the constraints. Every query filters
// by the schema's namespace (through pg_class's and pg_constraint's
// namespace indexes), so its cost does not grow with the number of tenant
// schemas in the database.

const catalogTablesSQL = `SELECT c.oid, c.relname::text FROM pg_catalog.pg_class c
	WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
	ORDER BY c.relname`

const catalogColumnsSQL = `SELECT a.attrelid, a.attname::text, a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod),
		a.atttypmod, a.attnotnull, a.atthasdef OR a.attidentity <> '', a.attgenerated <> '' OR a.attidentity = 'a',
		coalesce(e.oid, t.oid), coalesce(e.typtype, t.typtype)::text, e.oid IS NOT NULL,
		coalesce(e.typname, t.typname)::text,
		coalesce((SELECT array_agg(l.enumlabel::text ORDER BY l.enumsortorder) FROM pg_catalog.pg_enum l
			WHERE l.enumtypid = coalesce(e.oid, t.oid)), '{}')
	FROM pg_catalog.pg_attribute a
	JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
	JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
	LEFT JOIN pg_catalog.pg_type e ON t.typcategory = 'A' AND e.oid = t.typelem
	WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
	ORDER BY a.attrelid, a.attnum`

const catalogIndexesSQL = `SELECT i.indrelid, ic.relname::text, i.indisprimary, i.indisunique,
		i.indkey::int2[], i.indexprs IS NULL AND i.indpred IS NULL
	FROM pg_catalog.pg_index i
	JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
	WHERE ic.relnamespace = to_regnamespace($1)
	ORDER BY ic.relname`

const catalogConstraintsSQL = `SELECT k.conrelid, k.conname::text, k.contype::text, coalesce(k.conkey, '{}'),
		coalesce(r.relname::text, '')
	FROM pg_catalog.pg_constraint k
	LEFT JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
	WHERE k.connamespace = to_regnamespace($1) AND k.contype IN ('c', 'u', 'f') AND k.conrelid <> 0
	ORDER BY k.conname`

// productTablePrefix starts the names of the product's own per-tenant
// tables (see tracks.go); readSchema leaves them out.
const productTablePrefix = "_tenantapi_"

type catalogColumn struct {
	table      uint32
	name       string
	num        int16
	sqlType    string
	typmod     int32
	notNull    bool
	hasDefault bool
	generated  bool
	typeOID    uint32 // of the element type, for an array
	typtype    string // 'b' base, 'e' enum, …
	array      bool
	typname    string
	labels     []string
}

type catalogIndex struct {
	table           uint32
	name            string
	primary, unique bool
	keys            []int16
	plain           bool // no expression, no predicate
}

type catalogConstraint struct {
	table      uint32
	name       string
	kind       string
	keys       []int16
	references string
}

// readSchema reads the catalog of schema (unquoted) and returns what it
// serves: each table a resource or private with its reason.
func readSchema(ctx context.Context, c batcher, schema string) (tenantapi.Schema, error) {
	var (
		tables  = map[uint32]string{}
		order   []uint32
		columns []catalogColumn
		indexes []catalogIndex
		constrs []catalogConstraint
	)
	b := &pgx.Batch{}
	b.Queue(catalogTablesSQL, schema).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				oid  uint32
				name string
			)
			if err := rows.Scan(&oid, &name); err != nil {
				return err
			}
			tables[oid] = name
			order = append(order, oid)
		}
		return rows.Err()
	})
	b.Queue(catalogColumnsSQL, schema).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var col catalogColumn
			if err := rows.Scan(&col.table, &col.name, &col.num, &col.sqlType, &col.typmod, &col.notNull, &col.hasDefault,
				&col.generated, &col.typeOID, &col.typtype, &col.array, &col.typname, &col.labels); err != nil {
				return err
			}
			columns = append(columns, col)
		}
		return rows.Err()
	})
	b.Queue(catalogIndexesSQL, schema).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var ix catalogIndex
			if err := rows.Scan(&ix.table, &ix.name, &ix.primary, &ix.unique, &ix.keys, &ix.plain); err != nil {
				return err
			}
			indexes = append(indexes, ix)
		}
		return rows.Err()
	})
	b.Queue(catalogConstraintsSQL, schema).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k catalogConstraint
			if err := rows.Scan(&k.table, &k.name, &k.kind, &k.keys, &k.references); err != nil {
				return err
			}
			constrs = append(constrs, k)
		}
		return rows.Err()
	})
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		return tenantapi.Schema{}, err
	}

	s := tenantapi.Schema{Resources: []tenantapi.Resource{}, Private: []tenantapi.PrivateTable{}}
	for _, oid := range order {
		name := tables[oid]
		if strings.HasPrefix(name, productTablePrefix) {
			continue // the product's own, not the application set's
		}
		cols := ofTable(columns, oid, func(c catalogColumn) uint32 { return c.table })
		ixs := ofTable(indexes, oid, func(ix catalogIndex) uint32 { return ix.table })
		ks := ofTable(constrs, oid, func(k catalogConstraint) uint32 { return k.table })
		r, reason := resourceOf(name, cols, ixs, ks)
		if reason != "" {
			s.Private = append(s.Private, tenantapi.PrivateTable{Name: name, Reason: reason})
			continue
		}
		s.Resources = append(s.Resources, r)
	}
	return s, nil
}

// ofTable returns the rows of rows that belong to the table oid.
func ofTable[T any](rows []T, oid uint32, table func(T) uint32) []T {
	var out []T
	for _, r := range rows {
		if table(r) == oid {
			out = append(out, r)
		}
	}
	return out
}

// Built-in type OIDs (pg_type.h); they are fixed across PostgreSQL versions.
const (
	oidBool        = 16
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTimestamptz = 1184
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// typeOf maps a column's type to a field type; ok is false for a type no
// JSON type maps to.
func typeOf(col catalogColumn) (t tenantapi.Type, ok bool) {
	t = tenantapi.Type{SQL: col.sqlType, Array: col.array}
	if col.typtype == "e" {
		t.Kind, t.Labels, t.Name = tenantapi.KindEnum, col.labels, col.typname
		return t, true
	}
	// An array column's typmod is its element's.
	switch col.typeOID {
	case oidText:
		t.Kind = tenantapi.KindString
	case oidVarchar, oidBpchar:
		t.Kind = tenantapi.KindString
		if col.typmod >= 4 {
			t.MaxLength = int(col.typmod - 4)
		}
	case oidInt2:
		t.Kind, t.Bits = tenantapi.KindInteger, 16
	case oidInt4:
		t.Kind, t.Bits = tenantapi.KindInteger, 32
	case oidInt8:
		t.Kind, t.Bits = tenantapi.KindInteger, 64
	case oidNumeric:
		t.Kind = tenantapi.KindNumeric
		if col.typmod >= 4 {
			t.Precision, t.Scale = int((col.typmod-4)>>16&0xffff), int((col.typmod-4)&0xffff)
		}
	case oidFloat4:
		t.Kind, t.Bits = tenantapi.KindFloat, 32
	case oidFloat8:
		t.Kind, t.Bits = tenantapi.KindFloat, 64
	case oidBool:
		t.Kind = tenantapi.KindBoolean
	case oidJSON, oidJSONB:
		t.Kind = tenantapi.KindJSON
	case oidTimestamptz:
		t.Kind = tenantapi.KindTimestamp
	case oidDate:
		t.Kind = tenantapi.KindDate
	case oidUUID:
		t.Kind = tenantapi.KindUUID
	default:
		return t, false
	}
	return t, true
}

// resourceOf decides whether a table is a resource (SPEC §10) and builds it,
// or returns the reason it stays private.
func resourceOf(name string, cols []catalogColumn, ixs []catalogIndex, ks []catalogConstraint) (tenantapi.Resource, string) {
	if why := tenantapi.ResourceNameProblem(name); why != "" {
		return tenantapi.Resource{}, why
	}
	byNum := map[int16]catalogColumn{}
	for _, col := range cols {
		byNum[col.num] = col
	}
	names := func(keys []int16) []string {
		out := make([]string, 0, len(keys))
		for _, k := range keys {
			out = append(out, byNum[k].name)
		}
		return out
	}
	pk := slices.IndexFunc(ixs, func(ix catalogIndex) bool { return ix.primary })
	if pk < 0 || len(ixs[pk].keys) != 1 || byNum[ixs[pk].keys[0]].name != "id" || byNum[ixs[pk].keys[0]].typeOID != oidUUID || byNum[ixs[pk].keys[0]].array {
		return tenantapi.Resource{}, "its primary key is not one column id of type uuid"
	}
	r := tenantapi.Resource{Name: name, Fields: []tenantapi.Field{}}
	leads := map[string]bool{}
	for _, ix := range ixs {
		if len(ix.keys) > 0 && ix.keys[0] != 0 && ix.plain {
			leads[byNum[ix.keys[0]].name] = true
		}
		if ix.unique && !ix.primary && ix.plain && !slices.Contains(ix.keys, 0) {
			r.Uniques = append(r.Uniques, tenantapi.Constraint{Name: ix.name, Columns: names(ix.keys)})
		}
	}
	managed := map[string]struct {
		oid  uint32
		want string
		set  *bool
	}{
		"version":    {oidInt8, "bigint", &r.Versioned},
		"created_at": {oidTimestamptz, "timestamp with time zone", &r.Created},
		"updated_at": {oidTimestamptz, "timestamp with time zone", &r.Updated},
	}
	for _, col := range cols {
		if col.name == "id" {
			continue
		}
		if m, ok := managed[col.name]; ok {
			if col.typeOID != m.oid || col.array {
				return tenantapi.Resource{}, fmt.Sprintf("column %s is managed by tenantapi and must be %s, not %s", col.name, m.want, col.sqlType)
			}
			*m.set = true
			continue
		}
		t, ok := typeOf(col)
		if !ok {
			return tenantapi.Resource{}, fmt.Sprintf("column %s has type %s, which no JSON type maps to", col.name, col.sqlType)
		}
		r.Fields = append(r.Fields, tenantapi.Field{Name: col.name, Type: t, NotNull: col.notNull, HasDefault: col.hasDefault,
			Generated: col.generated, Filterable: leads[col.name] && filterableType(t) && col.name != "limit" && col.name != "cursor"})
	}
	for _, k := range ks {
		c := tenantapi.Constraint{Name: k.name, Columns: names(k.keys), References: k.references}
		switch k.kind {
		case "c":
			r.Checks = append(r.Checks, c)
		case "f":
			r.ForeignKeys = append(r.ForeignKeys, c)
		}
	}
	slices.SortFunc(r.Uniques, func(a, b tenantapi.Constraint) int { return cmp.Compare(a.Name, b.Name) })
	return r, ""
}

// filterableType reports whether ?<column>=<value> can compare a column of
// type t: a scalar other than JSON, whose value one query parameter spells.
func filterableType(t tenantapi.Type) bool { return !t.Array && t.Kind != tenantapi.KindJSON }

// scratchSchema is where Schemas applies the application set. It exists
// only inside a transaction that is always rolled back, so no other session
// ever sees it; a concurrent call waits for the name.
const scratchSchema = "_tenantapi_scratch"

// Schemas returns what each version of m's application set serves: the
// application set is applied, file after file, to a schema that exists
// only inside one transaction, which is rolled back; after each file the
// catalog of that schema alone is read. Schemas[i] is the set at its i-th
// file. A file that fails gives an error naming it. It costs the same
// whatever the number of tenants, and writes nothing.
func (m *Migrator) Schemas(ctx context.Context) ([]tenantapi.Schema, error) {
	var out []tenantapi.Schema
	tx, err := m.db.owner.Begin(ctx)
	if err != nil {
		return nil, translate(err, publicScope)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	q := pgx.Identifier{scratchSchema}.Sanitize()
	b := &pgx.Batch{}
	b.Queue(`CREATE SCHEMA ` + q)
	b.Queue(setSearchPath, q)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, translate(err, publicScope)
	}
	for _, mg := range productMigrations {
		if _, err := tx.Exec(ctx, mg.SQL); err != nil {
			return nil, migrationError("product migration", mg, err)
		}
	}
	for _, mg := range m.app {
		if _, err := tx.Exec(ctx, mg.SQL); err != nil {
			return nil, migrationError("tenant migration", mg, err)
		}
		s, err := readSchema(ctx, tx, scratchSchema)
		if err != nil {
			return nil, translate(err, publicScope)
		}
		s.Version = mg.Version
		out = append(out, s)
	}
	return out, nil
}
