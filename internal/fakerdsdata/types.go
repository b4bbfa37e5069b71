package fakerdsdata

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// kind is how the Data API returns a PostgreSQL type.
type kind int

const (
	kindUnsupported kind = iota
	kindBool             // booleanValue
	kindInt              // longValue
	kindFloat            // doubleValue
	kindNumeric          // stringValue, or long/double with DOUBLE_OR_LONG
	kindString           // stringValue, the text form
	kindTemporal         // stringValue; infinity makes the call fail
	kindTimestamptz      // stringValue in UTC without the offset
	kindBytea            // blobValue
	kindArray            // arrayValue
)

// pgType is what the endpoint knows of a result column's type.
type pgType struct {
	oid  uint32
	name string // typname, as JDBC's getColumnTypeName gives it
	kind kind
	elem *pgType // of an array
	jdbc int32   // java.sql.Types
}

// java.sql.Types codes, which columnMetadata.type reports.
const (
	jdbcBit       = -7
	jdbcSmallint  = 5
	jdbcInteger   = 4
	jdbcBigint    = -5
	jdbcReal      = 7
	jdbcDouble    = 8
	jdbcNumeric   = 2
	jdbcChar      = 1
	jdbcVarchar   = 12
	jdbcDate      = 91
	jdbcTime      = 92
	jdbcTimestamp = 93
	jdbcBinary    = -2
	jdbcOther     = 1111
	jdbcArray     = 2003
)

// builtinTypes are the supported types with fixed OIDs: the scalar types
// the Data API documents for Aurora PostgreSQL, timestamptz (which it
// returns in UTC) and oid, and the array types it documents.
var builtinTypes = map[uint32]*pgType{}

func init() {
	scalars := []pgType{
		{pgtype.BoolOID, "bool", kindBool, nil, jdbcBit},
		{pgtype.ByteaOID, "bytea", kindBytea, nil, jdbcBinary},
		{pgtype.NameOID, "name", kindString, nil, jdbcVarchar},
		{pgtype.Int8OID, "int8", kindInt, nil, jdbcBigint},
		{pgtype.Int2OID, "int2", kindInt, nil, jdbcSmallint},
		{pgtype.Int4OID, "int4", kindInt, nil, jdbcInteger},
		{pgtype.TextOID, "text", kindString, nil, jdbcVarchar},
		{pgtype.OIDOID, "oid", kindInt, nil, jdbcBigint},
		{pgtype.JSONOID, "json", kindString, nil, jdbcOther},
		{pgtype.Float4OID, "float4", kindFloat, nil, jdbcReal},
		{pgtype.Float8OID, "float8", kindFloat, nil, jdbcDouble},
		{pgtype.InetOID, "inet", kindString, nil, jdbcOther},
		{pgtype.CIDROID, "cidr", kindString, nil, jdbcOther},
		{pgtype.BPCharOID, "bpchar", kindString, nil, jdbcChar},
		{pgtype.VarcharOID, "varchar", kindString, nil, jdbcVarchar},
		{pgtype.DateOID, "date", kindTemporal, nil, jdbcDate},
		{pgtype.TimeOID, "time", kindString, nil, jdbcTime},
		{pgtype.TimestampOID, "timestamp", kindTemporal, nil, jdbcTimestamp},
		{pgtype.TimestamptzOID, "timestamptz", kindTimestamptz, nil, jdbcTimestamp},
		{pgtype.NumericOID, "numeric", kindNumeric, nil, jdbcNumeric},
		{pgtype.UUIDOID, "uuid", kindString, nil, jdbcOther},
		{pgtype.JSONBOID, "jsonb", kindString, nil, jdbcOther},
	}
	for i := range scalars {
		builtinTypes[scalars[i].oid] = &scalars[i]
	}
	arrays := map[uint32]uint32{
		pgtype.BoolArrayOID:      pgtype.BoolOID,
		pgtype.DateArrayOID:      pgtype.DateOID,
		pgtype.NumericArrayOID:   pgtype.NumericOID,
		pgtype.Float8ArrayOID:    pgtype.Float8OID,
		pgtype.Int4ArrayOID:      pgtype.Int4OID,
		pgtype.Int2ArrayOID:      pgtype.Int2OID,
		pgtype.Int8ArrayOID:      pgtype.Int8OID,
		pgtype.JSONArrayOID:      pgtype.JSONOID,
		pgtype.Float4ArrayOID:    pgtype.Float4OID,
		pgtype.TextArrayOID:      pgtype.TextOID,
		pgtype.BPCharArrayOID:    pgtype.BPCharOID,
		pgtype.VarcharArrayOID:   pgtype.VarcharOID,
		pgtype.NameArrayOID:      pgtype.NameOID,
		pgtype.TimeArrayOID:      pgtype.TimeOID,
		pgtype.TimestampArrayOID: pgtype.TimestampOID,
		pgtype.UUIDArrayOID:      pgtype.UUIDOID,
	}
	for oid, elem := range arrays {
		e := builtinTypes[elem]
		builtinTypes[oid] = &pgType{oid: oid, name: "_" + e.name, kind: kindArray, elem: e, jdbc: jdbcArray}
	}
}

// unsupportedName is how the service names an unsupported type in its
// error ("char" is reported as "CHAR").
func unsupportedName(t *pgType) string {
	if t.name == "char" {
		return `"CHAR"`
	}
	return t.name
}

// field is one value of the Field union, ready to encode.
type field struct {
	member string // isNull, booleanValue, longValue, doubleValue, stringValue, blobValue, arrayValue
	b      bool
	n      int64
	f      float64
	s      string
	blob   []byte
	array  *arrayValue
}

// arrayValue is one value of the ArrayValue union.
type arrayValue struct {
	member  string // booleanValues, longValues, doubleValues, stringValues
	bools   []*bool
	longs   []*int64
	doubles []*float64
	strings []*string
}

// resultOptions are the request's resultSetOptions.
type resultOptions struct {
	decimalAsNumber bool // decimalReturnType DOUBLE_OR_LONG
	longAsString    bool // longReturnType STRING
}

// convert turns a value in PostgreSQL's text format into the Field the
// Data API returns for it.
func convert(t *pgType, v []byte, o resultOptions) (field, *apiError) {
	if v == nil {
		return field{member: "isNull", b: true}, nil
	}
	s := string(v)
	switch t.kind {
	case kindBool:
		return field{member: "booleanValue", b: s == "t"}, nil
	case kindInt:
		if o.longAsString && t.jdbc == jdbcBigint {
			return field{member: "stringValue", s: s}, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return field{}, newError("InternalServerErrorException", "")
		}
		return field{member: "longValue", n: n}, nil
	case kindFloat:
		return field{member: "doubleValue", f: parseFloat(s)}, nil
	case kindNumeric:
		if !o.decimalAsNumber {
			return field{member: "stringValue", s: s}, nil
		}
		if !strings.ContainsAny(s, ".eEN") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return field{member: "longValue", n: n}, nil
			}
		}
		return field{member: "doubleValue", f: parseFloat(s)}, nil
	case kindTemporal, kindTimestamptz:
		if s == "infinity" || s == "-infinity" {
			// The service fails the call with a bare InternalFailure.
			return field{}, newError("InternalFailure", "")
		}
		if t.kind == kindTimestamptz {
			s = strings.TrimSuffix(s, "+00")
		}
		return field{member: "stringValue", s: s}, nil
	case kindString:
		return field{member: "stringValue", s: s}, nil
	case kindBytea:
		b, err := hex.DecodeString(strings.TrimPrefix(s, `\x`))
		if err != nil {
			return field{}, newError("InternalServerErrorException", "")
		}
		return field{member: "blobValue", blob: b}, nil
	case kindArray:
		a, err := convertArray(t.elem, s)
		if err != nil {
			return field{}, err
		}
		return field{member: "arrayValue", array: a}, nil
	}
	return field{}, newError("UnsupportedResultException", "The result contains the unsupported data type %s.", unsupportedName(t))
}

func parseFloat(s string) float64 {
	switch s {
	case "NaN":
		return math.NaN()
	case "Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// convertArray parses a one-dimensional array in PostgreSQL's text format
// into the ArrayValue of its element type. The service cannot return
// arrays of more dimensions.
func convertArray(elem *pgType, s string) (*arrayValue, *apiError) {
	if strings.HasPrefix(s, "[") { // explicit bounds: [0:2]={...}
		i := strings.Index(s, "=")
		if strings.Count(s[:i], "[") > 1 {
			return nil, newError("UnsupportedResultException", "The result contains a multidimensional array")
		}
		s = s[i+1:]
	}
	elems, ok := splitArray(s)
	if !ok {
		return nil, newError("UnsupportedResultException", "The result contains a multidimensional array")
	}
	a := &arrayValue{}
	switch elem.kind {
	case kindBool:
		a.member = "booleanValues"
	case kindInt:
		a.member = "longValues"
	case kindFloat:
		a.member = "doubleValues"
	default:
		a.member = "stringValues"
	}
	for _, e := range elems {
		if e == nil {
			switch a.member {
			case "booleanValues":
				a.bools = append(a.bools, nil)
			case "longValues":
				a.longs = append(a.longs, nil)
			case "doubleValues":
				a.doubles = append(a.doubles, nil)
			default:
				a.strings = append(a.strings, nil)
			}
			continue
		}
		f, err := convert(elem, []byte(*e), resultOptions{})
		if err != nil {
			return nil, err
		}
		switch a.member {
		case "booleanValues":
			a.bools = append(a.bools, &f.b)
		case "longValues":
			a.longs = append(a.longs, &f.n)
		case "doubleValues":
			a.doubles = append(a.doubles, &f.f)
		default:
			a.strings = append(a.strings, &f.s)
		}
	}
	return a, nil
}

// splitArray splits {a,"b c",NULL} into its elements (nil for NULL). It
// reports false for a nested array.
func splitArray(s string) ([]*string, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	var out []*string
	if body == "" {
		return out, true
	}
	for i := 0; i <= len(body); {
		if i < len(body) && body[i] == '{' {
			return nil, false
		}
		var b strings.Builder
		quoted := false
		if i < len(body) && body[i] == '"' {
			quoted = true
			i++
			for i < len(body) && body[i] != '"' {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				b.WriteByte(body[i])
				i++
			}
			i++ // closing quote
		} else {
			for i < len(body) && body[i] != ',' {
				b.WriteByte(body[i])
				i++
			}
		}
		e := b.String()
		if !quoted && e == "NULL" {
			out = append(out, nil)
		} else {
			out = append(out, &e)
		}
		i++ // the comma
	}
	return out, true
}

// encodeBlob is a blobValue as JSON carries it.
func encodeBlob(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
