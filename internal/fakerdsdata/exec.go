package fakerdsdata

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// result is what one statement returned, before it is turned into a
// response: its columns, its rows in text format, its command tag, and
// the first of the Data API's size limits its rows broke, if any.
type result struct {
	fields []pgconn.FieldDescription
	rows   [][][]byte
	tag    pgconn.CommandTag
	limit  *apiError
}

// run executes one statement with the extended protocol (so PostgreSQL
// itself refuses a string of several statements), every result column in
// text format.
//
// The size of a row is measured as the Data API measures it, which is the
// size of PostgreSQL's DataRow message: 2 bytes, plus 4 bytes a column,
// plus the bytes of every value. A row over MaxRowBytes, or rows adding up
// to more than MaxResponseBytes, make the call fail; the statement has run
// all the same, as it has on the service.
func (h *Handler) run(pg *pgconn.PgConn, sql string, args []bindValue) (*result, error) {
	oids := make([]uint32, len(args))
	values := make([][]byte, len(args))
	formats := make([]int16, len(args))
	for i, a := range args {
		oids[i], values[i] = a.oid, a.value
		if a.binary {
			formats[i] = 1
		}
	}
	rr := pg.ExecParams(context.Background(), sql, values, oids, formats, nil)
	res := &result{fields: append([]pgconn.FieldDescription(nil), rr.FieldDescriptions()...)}
	total := 0
	for rr.NextRow() {
		row := rr.Values()
		size := 2
		for _, v := range row {
			size += 4 + len(v)
		}
		total += size
		switch {
		case res.limit != nil:
		case h.opts.MaxRowBytes > 0 && size > h.opts.MaxRowBytes:
			res.limit = newError("UnsupportedResultException", "Packet for query is too large")
		case h.opts.MaxResponseBytes > 0 && total > h.opts.MaxResponseBytes:
			res.limit = newError("UnsupportedResultException", "The result exceeds the size limit 1 MB.")
		}
		if res.limit != nil {
			res.rows = nil
			continue
		}
		copied := make([][]byte, len(row))
		for i, v := range row {
			if v != nil {
				copied[i] = append([]byte{}, v...)
			}
		}
		res.rows = append(res.rows, copied)
	}
	tag, err := rr.Close()
	if err != nil {
		return nil, err
	}
	res.tag = tag
	return res, nil
}

// statement runs an ExecuteStatement call's statement on pg and builds its
// response.
func (h *Handler) statement(pg *pgconn.PgConn, c *cluster, database, sql string, args []bindValue, req *request) ([]byte, *apiError) {
	res, err := h.run(pg, sql, args)
	if err != nil {
		return nil, databaseError(err)
	}
	return h.respond(pg, c, database, res, req)
}

// respond turns a statement's result into ExecuteStatement's response.
func (h *Handler) respond(pg *pgconn.PgConn, c *cluster, database string, res *result, req *request) ([]byte, *apiError) {
	if len(res.fields) == 0 {
		// No result set: what the statement changed, and generatedFields,
		// which Aurora PostgreSQL leaves empty.
		return []byte(fmt.Sprintf(`{"generatedFields":[],"numberOfRecordsUpdated":%d}`, res.tag.RowsAffected())), nil
	}
	types, err := h.columnTypes(pg, c, database, res.fields)
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if t.kind == kindUnsupported {
			return nil, newError("UnsupportedResultException", "The result contains the unsupported data type %s.", unsupportedName(t))
		}
	}
	if res.limit != nil {
		return nil, res.limit
	}
	opts := resultOptions{}
	if o := req.ResultSetOptions; o != nil {
		opts.decimalAsNumber = o.DecimalReturnType == "DOUBLE_OR_LONG"
		opts.longAsString = o.LongReturnType == "STRING"
	}
	rows := make([][]field, len(res.rows))
	for i, raw := range res.rows {
		rows[i] = make([]field, len(raw))
		for j, v := range raw {
			f, err := convert(types[j], v, opts)
			if err != nil {
				return nil, err
			}
			rows[i][j] = f
		}
	}

	if req.FormatRecordsAs == "JSON" {
		return formatted(res.fields, rows)
	}
	b := []byte(`{"numberOfRecordsUpdated":0,"records":[`)
	for i, row := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, f := range row {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendField(b, f)
		}
		b = append(b, ']')
	}
	b = append(b, ']')
	if req.IncludeResultMetadata {
		meta, err := h.columnMetadata(pg, res.fields, types)
		if err != nil {
			return nil, err
		}
		enc, _ := json.Marshal(meta)
		b = append(b, `,"columnMetadata":`...)
		b = append(b, enc...)
	}
	return append(b, '}'), nil
}

// maxFormattedBytes is the limit of formattedRecords.
const maxFormattedBytes = 10 << 20

// formatted is the response of a call with formatRecordsAs JSON: the rows
// as one JSON string of objects keyed by column label, and no records or
// columnMetadata.
func formatted(fields []pgconn.FieldDescription, rows [][]field) ([]byte, *apiError) {
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.Name] {
			return nil, newError("BadRequestException", "The result set has more than one column named %q, which a JSON result cannot hold", f.Name)
		}
		seen[f.Name] = true
	}
	keys := make([][]byte, len(fields))
	for i, f := range fields {
		keys[i] = appendString(nil, f.Name)
	}
	s := []byte{'['}
	for i, row := range rows {
		if i > 0 {
			s = append(s, ',')
		}
		s = append(s, '{')
		for j, f := range row {
			if j > 0 {
				s = append(s, ',')
			}
			s = append(s, keys[j]...)
			s = append(s, ':')
			s = appendJSONValue(s, f)
		}
		s = append(s, '}')
	}
	s = append(s, ']')
	if len(s) > maxFormattedBytes {
		return nil, newError("BadRequestException", "The JSON-formatted result exceeds the size limit 10 MB.")
	}
	b := []byte(`{"formattedRecords":`)
	b = appendString(b, string(s))
	return append(b, `,"numberOfRecordsUpdated":0}`...), nil
}

// batch runs a BatchExecuteStatement call's statement once per parameter
// set on pg, which is already in a transaction.
func (h *Handler) batch(pg *pgconn.PgConn, sql string, sets [][]bindValue) ([]byte, *apiError) {
	b := []byte(`{"updateResults":[`)
	for i, args := range sets {
		if _, err := h.run(pg, sql, args); err != nil {
			return nil, databaseError(err)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"generatedFields":[]}`...)
	}
	return append(b, "]}"...), nil
}

// columnTypes resolves the types of a result's columns: the built-in ones
// from the table, the others (enums, domains, unsupported types) from
// pg_type, cached per cluster and database.
func (h *Handler) columnTypes(pg *pgconn.PgConn, c *cluster, database string, fields []pgconn.FieldDescription) ([]*pgType, *apiError) {
	types := make([]*pgType, len(fields))
	var unknown []uint32
	h.mu.Lock()
	for i, f := range fields {
		if t := builtinTypes[f.DataTypeOID]; t != nil {
			types[i] = t
		} else if t := c.typeCache[database][f.DataTypeOID]; t != nil {
			types[i] = t
		} else {
			unknown = append(unknown, f.DataTypeOID)
		}
	}
	h.mu.Unlock()
	if len(unknown) == 0 {
		return types, nil
	}
	found, err := lookupTypes(pg, unknown)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cache := c.typeCache[database]
	if cache == nil {
		cache = map[uint32]*pgType{}
		c.typeCache[database] = cache
	}
	for oid, t := range found {
		cache[oid] = t
	}
	for i, f := range fields {
		if types[i] == nil {
			types[i] = cache[f.DataTypeOID]
		}
		if types[i] == nil {
			types[i] = &pgType{oid: f.DataTypeOID, name: strconv.FormatUint(uint64(f.DataTypeOID), 10)}
		}
	}
	return types, nil
}

// typeQuery finds, for each type asked for, its name and the type it
// stands for once domains are resolved to their base.
const typeQuery = `WITH RECURSIVE t AS (
	SELECT oid AS start, typname AS name, oid, typtype, typbasetype FROM pg_catalog.pg_type WHERE oid = ANY($1::oid[])
	UNION ALL
	SELECT t.start, t.name, b.oid, b.typtype, b.typbasetype FROM t JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype WHERE t.typtype = 'd'
)
SELECT start, name, oid, typtype FROM t WHERE typtype <> 'd'`

// lookupTypes reads oids from pg_type. An enum is a string; a domain is
// its base type under its own name; any other type is unsupported, and so
// is an array of anything but the documented element types.
func lookupTypes(pg *pgconn.PgConn, oids []uint32) (map[uint32]*pgType, *apiError) {
	list := make([]string, len(oids))
	for i, o := range oids {
		list[i] = strconv.FormatUint(uint64(o), 10)
	}
	rr := pg.ExecParams(context.Background(), typeQuery,
		[][]byte{[]byte("{" + strings.Join(list, ",") + "}")}, nil, nil, nil)
	found := map[uint32]*pgType{}
	for rr.NextRow() {
		v := rr.Values()
		start, _ := strconv.ParseUint(string(v[0]), 10, 32)
		base, _ := strconv.ParseUint(string(v[2]), 10, 32)
		t := &pgType{oid: uint32(start), name: string(v[1]), jdbc: jdbcOther}
		if b := builtinTypes[uint32(base)]; b != nil {
			t.kind, t.elem, t.jdbc = b.kind, b.elem, b.jdbc
		} else if string(v[3]) == "e" {
			t.kind, t.jdbc = kindString, jdbcVarchar
		}
		found[t.oid] = t
	}
	if _, err := rr.Close(); err != nil {
		return nil, databaseError(err)
	}
	return found, nil
}
