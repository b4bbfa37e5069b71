package fakerdsdata

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// columnMetadata is one element of ExecuteStatement's columnMetadata. The
// service fills it from JDBC's ResultSetMetaData (PgJDBC's, for Aurora
// PostgreSQL); these values follow PgJDBC's.
type columnMetadata struct {
	ArrayBaseColumnType int32  `json:"arrayBaseColumnType"`
	IsAutoIncrement     bool   `json:"isAutoIncrement"`
	IsCaseSensitive     bool   `json:"isCaseSensitive"`
	IsCurrency          bool   `json:"isCurrency"`
	IsSigned            bool   `json:"isSigned"`
	Label               string `json:"label"`
	Name                string `json:"name"`
	Nullable            int32  `json:"nullable"`
	Precision           int32  `json:"precision"`
	Scale               int32  `json:"scale"`
	SchemaName          string `json:"schemaName"`
	TableName           string `json:"tableName"`
	Type                int32  `json:"type"`
	TypeName            string `json:"typeName"`
}

// JDBC's ResultSetMetaData.isNullable answers.
const (
	columnNoNulls         = 0
	columnNullable        = 1
	columnNullableUnknown = 2
)

// tableColumn is what the catalog says of a result column that comes
// straight from a table.
type tableColumn struct {
	table         string
	notNull, auto bool
}

const columnQuery = `SELECT a.attrelid, a.attnum, c.relname, a.attnotnull,
	a.attidentity <> '' OR COALESCE(pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)
FROM unnest($1::oid[], $2::int2[]) AS k(rel, num)
JOIN pg_catalog.pg_attribute a ON a.attrelid = k.rel AND a.attnum = k.num
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum`

// columnMetadata describes a result's columns, reading the catalog for
// the ones that come from a table (its name, NOT NULL, serial or identity).
func (h *Handler) columnMetadata(pg *pgconn.PgConn, fields []pgconn.FieldDescription, types []*pgType) ([]columnMetadata, *apiError) {
	type key struct {
		rel uint32
		num uint16
	}
	var rels, nums []string
	for _, f := range fields {
		if f.TableOID != 0 && f.TableAttributeNumber > 0 {
			rels = append(rels, strconv.FormatUint(uint64(f.TableOID), 10))
			nums = append(nums, strconv.Itoa(int(f.TableAttributeNumber)))
		}
	}
	columns := map[key]tableColumn{}
	if len(rels) > 0 {
		rr := pg.ExecParams(context.Background(), columnQuery, [][]byte{
			[]byte("{" + strings.Join(rels, ",") + "}"),
			[]byte("{" + strings.Join(nums, ",") + "}"),
		}, nil, nil, nil)
		for rr.NextRow() {
			v := rr.Values()
			rel, _ := strconv.ParseUint(string(v[0]), 10, 32)
			num, _ := strconv.ParseUint(string(v[1]), 10, 16)
			columns[key{uint32(rel), uint16(num)}] = tableColumn{
				table: string(v[2]), notNull: string(v[3]) == "t", auto: string(v[4]) == "t",
			}
		}
		if _, err := rr.Close(); err != nil {
			return nil, databaseError(err)
		}
	}
	meta := make([]columnMetadata, len(fields))
	for i, f := range fields {
		t := types[i]
		m := columnMetadata{
			Label: f.Name, Name: f.Name, Type: t.jdbc, TypeName: t.name,
			Nullable: columnNullableUnknown,
		}
		if c, ok := columns[key{f.TableOID, f.TableAttributeNumber}]; ok {
			m.TableName = c.table
			m.Nullable = columnNullable
			if c.notNull {
				m.Nullable = columnNoNulls
			}
			m.IsAutoIncrement = c.auto
			if c.auto {
				switch t.oid {
				case pgtype.Int2OID:
					m.TypeName = "smallserial"
				case pgtype.Int4OID:
					m.TypeName = "serial"
				case pgtype.Int8OID:
					m.TypeName = "bigserial"
				}
			}
		}
		switch t.kind {
		case kindInt, kindFloat, kindNumeric:
			m.IsSigned = true
		case kindString:
			switch t.oid {
			case pgtype.UUIDOID, pgtype.InetOID, pgtype.CIDROID, pgtype.TimeOID:
			default:
				m.IsCaseSensitive = true
			}
		}
		if t.kind == kindArray {
			m.ArrayBaseColumnType = t.elem.jdbc
		}
		m.Precision, m.Scale = precision(t, f.TypeModifier)
		meta[i] = m
	}
	return meta, nil
}

// unbounded is PgJDBC's precision for a type of no declared length.
const unbounded = 2147483647

// precision is PgJDBC's precision and scale for a column of type t with
// type modifier typmod.
func precision(t *pgType, typmod int32) (int32, int32) {
	switch t.oid {
	case pgtype.Int2OID:
		return 5, 0
	case pgtype.Int4OID, pgtype.OIDOID:
		return 10, 0
	case pgtype.Int8OID:
		return 19, 0
	case pgtype.Float4OID:
		return 8, 8
	case pgtype.Float8OID:
		return 17, 17
	case pgtype.BoolOID:
		return 1, 0
	case pgtype.NumericOID:
		if typmod < 4 {
			return 0, 0
		}
		return ((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff
	case pgtype.VarcharOID, pgtype.BPCharOID:
		if typmod < 4 {
			return unbounded, 0
		}
		return typmod - 4, 0
	case pgtype.NameOID:
		return 63, 0
	case pgtype.DateOID:
		return 13, 0
	case pgtype.TimeOID:
		return 15, 6
	case pgtype.TimestampOID:
		return 29, 6
	case pgtype.TimestamptzOID:
		return 35, 6
	}
	return unbounded, 0
}
