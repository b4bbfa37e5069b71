package postgres

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tenantapi/tenantapi"
)

// DataAPI configures the RDS Data API driver (SPEC §11): no connection is
// held; every statement is an HTTPS call that the service runs on the
// cluster as the user of a Secrets Manager secret.
type DataAPI struct {
	// Client is the rdsdata client, made from the AWS configuration (it
	// honours AWS_ENDPOINT_URL_RDS_DATA like every SDK endpoint setting).
	Client *rdsdata.Client
	// ClusterARN is the Aurora cluster; Database the database on it.
	ClusterARN, Database string
	// OwnerSecretARN is the owner's secret and OwnerUser its user name;
	// RuntimeSecretARN and RuntimeUser the runtime role's ("" for none:
	// the owner serves tenants).
	OwnerSecretARN, OwnerUser     string
	RuntimeSecretARN, RuntimeUser string
}

// dataAPI is a driver on the RDS Data API, as one secret's user.
type dataAPI struct {
	c                      *rdsdata.Client
	cluster, secret, db, u string
}

var _ driver = (*dataAPI)(nil)

// The Data API's limits the driver works around (SPEC §11): one statement
// a call, a response of at most 1 MiB, a row of at most 64 KB.
var (
	// dataAPIRowChunk is how many characters of a row's JSON one row of an
	// answer carries: at 4 bytes a character at most, with the other
	// columns, under the 64 KiB a row may have.
	dataAPIRowChunk = 15000
	// errResultTooLarge is a result over the response or row limit. The
	// statement has run; a caller may ask again for less, or in parts.
	errResultTooLarge = errors.New("the Data API refused a result over its size limits")
)

func (d *dataAPI) database() string                    { return d.db }
func (d *dataAPI) user() string                        { return d.u }
func (d *dataAPI) retryable(error) bool                { return false } // the service reads the secret
func (d *dataAPI) forTenant(tenantapi.TenantID) driver { return d }
func (d *dataAPI) stat() (PoolStat, bool)              { return PoolStat{}, false }
func (d *dataAPI) Close()                              {}
func (d *dataAPI) Ping(ctx context.Context) error {
	_, err := d.Exec(ctx, `SELECT 1`)
	return err
}

// call runs one statement, in transaction tx when it is not "". While the
// cluster resumes from zero capacity the call is retried with backoff for
// as long as ctx allows, then answers the resuming error (unavailable).
func (d *dataAPI) call(ctx context.Context, tx, sql string, args []any) (*rdsdata.ExecuteStatementOutput, error) {
	named, n, err := namedParams(sql)
	if err != nil {
		return nil, err
	}
	if n != len(args) {
		return nil, fmt.Errorf("statement takes %d parameters, got %d", n, len(args))
	}
	params := make([]types.SqlParameter, len(args))
	for i, a := range args {
		if params[i], err = sqlParameter("p"+strconv.Itoa(i+1), a); err != nil {
			return nil, err
		}
	}
	in := &rdsdata.ExecuteStatementInput{
		ResourceArn: &d.cluster, SecretArn: &d.secret, Database: &d.db, Sql: &named,
		Parameters: params, IncludeResultMetadata: true,
	}
	if tx != "" {
		in.TransactionId = &tx
	}
	var out *rdsdata.ExecuteStatementOutput
	err = d.retry(ctx, func() error {
		var err error
		out, err = d.c.ExecuteStatement(ctx, in)
		return err
	})
	if err != nil {
		return nil, dataAPIError(err)
	}
	return out, nil
}

// retry runs fn again while the cluster is resuming, with backoff from
// 100 ms doubling to 2 s, as long as ctx's deadline leaves room for the
// wait (without a deadline, for 20 s).
func (d *dataAPI) retry(ctx context.Context, fn func() error) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(20 * time.Second)
	}
	wait := 100 * time.Millisecond
	for {
		err := fn()
		var resuming *types.DatabaseResumingException
		if !errors.As(err, &resuming) || time.Until(deadline) < wait+100*time.Millisecond {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (d *dataAPI) begin(ctx context.Context) (string, error) {
	var out *rdsdata.BeginTransactionOutput
	err := d.retry(ctx, func() error {
		var err error
		out, err = d.c.BeginTransaction(ctx, &rdsdata.BeginTransactionInput{ResourceArn: &d.cluster, SecretArn: &d.secret, Database: &d.db})
		return err
	})
	if err != nil {
		return "", dataAPIError(err)
	}
	return aws.ToString(out.TransactionId), nil
}

func (d *dataAPI) commit(ctx context.Context, tx string) error {
	_, err := d.c.CommitTransaction(ctx, &rdsdata.CommitTransactionInput{ResourceArn: &d.cluster, SecretArn: &d.secret, TransactionId: &tx})
	if err != nil {
		return dataAPIError(err)
	}
	return nil
}

func (d *dataAPI) rollback(ctx context.Context, tx string) error {
	_, err := d.c.RollbackTransaction(ctx, &rdsdata.RollbackTransactionInput{ResourceArn: &d.cluster, SecretArn: &d.secret, TransactionId: &tx})
	var gone *types.TransactionNotFoundException
	if err != nil && !errors.As(err, &gone) { // an expired one is rolled back
		return dataAPIError(err)
	}
	return nil
}

// run runs sql in transaction tx ("" for none). A script of several
// statements (a migration file) is run statement by statement, in a
// transaction of its own when tx is "".
func (d *dataAPI) run(ctx context.Context, tx, sql string, args []any) (*rdsdata.ExecuteStatementOutput, error) {
	if len(args) > 0 {
		return d.call(ctx, tx, sql, args)
	}
	stmts, err := splitStatements(sql)
	if err != nil {
		return nil, err
	}
	if len(stmts) == 1 {
		return d.call(ctx, tx, stmts[0], nil)
	}
	own := tx == ""
	if own {
		if tx, err = d.begin(ctx); err != nil {
			return nil, err
		}
	}
	var out *rdsdata.ExecuteStatementOutput
	for _, s := range stmts {
		if out, err = d.call(ctx, tx, s, nil); err != nil {
			if own {
				_ = d.rollback(context.WithoutCancel(ctx), tx)
			}
			return nil, err
		}
	}
	if own {
		if err := d.commit(ctx, tx); err != nil {
			return nil, err
		}
	}
	if out == nil {
		out = &rdsdata.ExecuteStatementOutput{}
	}
	return out, nil
}

func (d *dataAPI) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	out, err := d.run(ctx, "", sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return commandTag(sql, out), nil
}

func (d *dataAPI) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	out, err := d.run(ctx, "", sql, args)
	if err != nil {
		return nil, err
	}
	return newDataRows(out), nil
}

func (d *dataAPI) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := d.Query(ctx, sql, args...)
	return dataRow{rows, err}
}

// SendBatch runs b's statements in one Data API transaction (one call
// when it holds one statement).
func (d *dataAPI) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if len(b.QueuedQueries) == 1 {
		return d.batch(ctx, "", b)
	}
	tx, err := d.begin(ctx)
	if err != nil {
		return &dataBatch{err: err, b: b}
	}
	br := d.batch(ctx, tx, b)
	if br.err != nil {
		_ = d.rollback(context.WithoutCancel(ctx), tx)
	} else if err := d.commit(ctx, tx); err != nil {
		br.err = err
	}
	return br
}

// batch runs b's statements one by one in transaction tx, stopping at
// the first error, as PostgreSQL stops a pipeline.
func (d *dataAPI) batch(ctx context.Context, tx string, b *pgx.Batch) *dataBatch {
	br := &dataBatch{b: b}
	for _, q := range b.QueuedQueries {
		out, err := d.run(ctx, tx, q.SQL, q.Arguments)
		if err != nil {
			br.err = err
			break
		}
		br.outs = append(br.outs, out)
	}
	return br
}

func (d *dataAPI) Begin(ctx context.Context) (pgx.Tx, error) {
	id, err := d.begin(ctx)
	if err != nil {
		return nil, err
	}
	return &dataTx{d: d, id: id}, nil
}

func (d *dataAPI) session(context.Context) (session, error) { return &dataSession{d: d}, nil }

// dataSession is a session on the Data API: BEGIN, COMMIT and ROLLBACK,
// alone or in a batch, become its transaction calls.
type dataSession struct {
	d  *dataAPI
	tx string
}

func (s *dataSession) inTx() bool { return s.tx != "" }
func (s *dataSession) release() {
	if s.tx != "" {
		_ = s.d.rollback(context.Background(), s.tx)
	}
}

// control runs sql when it is transaction control and reports whether it
// was.
func (s *dataSession) control(ctx context.Context, sql string) (pgconn.CommandTag, bool, error) {
	switch strings.ToUpper(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(sql), ";"))) {
	case "BEGIN":
		id, err := s.d.begin(ctx)
		if err == nil {
			s.tx = id
		}
		return pgconn.NewCommandTag("BEGIN"), true, err
	case "COMMIT":
		tx := s.tx
		s.tx = ""
		return pgconn.NewCommandTag("COMMIT"), true, s.d.commit(ctx, tx)
	case "ROLLBACK":
		tx := s.tx
		s.tx = ""
		return pgconn.NewCommandTag("ROLLBACK"), true, s.d.rollback(ctx, tx)
	}
	return pgconn.CommandTag{}, false, nil
}

func (s *dataSession) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tag, ok, err := s.control(ctx, sql); ok {
		return tag, err
	}
	out, err := s.d.run(ctx, s.tx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return commandTag(sql, out), nil
}

func (s *dataSession) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	out, err := s.d.run(ctx, s.tx, sql, args)
	if err != nil {
		return nil, err
	}
	return newDataRows(out), nil
}

func (s *dataSession) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := s.Query(ctx, sql, args...)
	return dataRow{rows, err}
}

// SendBatch runs b in the session's transaction; a BEGIN in it starts one.
func (s *dataSession) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	br := &dataBatch{b: b}
	for _, q := range b.QueuedQueries {
		if _, ok, err := s.control(ctx, q.SQL); ok {
			if err != nil {
				br.err = err
				break
			}
			br.outs = append(br.outs, &rdsdata.ExecuteStatementOutput{})
			continue
		}
		out, err := s.d.run(ctx, s.tx, q.SQL, q.Arguments)
		if err != nil {
			br.err = err
			break
		}
		br.outs = append(br.outs, out)
	}
	return br
}

// dataTx is a Data API transaction as a pgx.Tx.
type dataTx struct {
	d    *dataAPI
	id   string
	done bool
}

func (t *dataTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("the Data API driver has no savepoints")
}

func (t *dataTx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	return t.d.commit(ctx, t.id)
}

func (t *dataTx) Rollback(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	return t.d.rollback(ctx, t.id)
}

func (t *dataTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errors.New("the Data API driver has no COPY")
}

func (t *dataTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.d.batch(ctx, t.id, b)
}

func (t *dataTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *dataTx) Prepare(context.Context, string, string) (*pgconn.StatementDescription, error) {
	return nil, errors.New("the Data API driver has no prepared statements")
}

func (t *dataTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	out, err := t.d.run(ctx, t.id, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return commandTag(sql, out), nil
}

func (t *dataTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	out, err := t.d.run(ctx, t.id, sql, args)
	if err != nil {
		return nil, err
	}
	return newDataRows(out), nil
}

func (t *dataTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return dataRow{rows, err}
}

func (t *dataTx) Conn() *pgx.Conn { return nil }

// commandTag is the tag PostgreSQL would give sql: its first word and the
// rows it touched.
func commandTag(sql string, out *rdsdata.ExecuteStatementOutput) pgconn.CommandTag {
	word, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	word = strings.ToUpper(word)
	n := out.NumberOfRecordsUpdated
	if out.Records != nil {
		n = int64(len(out.Records))
	}
	switch word {
	case "INSERT":
		return pgconn.NewCommandTag("INSERT 0 " + strconv.FormatInt(n, 10))
	case "UPDATE", "DELETE", "SELECT", "WITH", "MERGE":
		return pgconn.NewCommandTag(word + " " + strconv.FormatInt(n, 10))
	}
	return pgconn.NewCommandTag(word)
}

// dataBatch is the results of a batch the Data API ran: one output per
// statement up to the first that failed.
type dataBatch struct {
	b      *pgx.Batch
	outs   []*rdsdata.ExecuteStatementOutput
	err    error
	next   int
	closed bool
}

// result returns the next statement's output.
func (br *dataBatch) result() (*rdsdata.ExecuteStatementOutput, error) {
	i := br.next
	br.next++
	switch {
	case i < len(br.outs):
		return br.outs[i], nil
	case br.err != nil:
		return nil, br.err
	}
	return nil, errors.New("no result left in the batch")
}

func (br *dataBatch) Exec() (pgconn.CommandTag, error) {
	i := br.next
	out, err := br.result()
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return commandTag(br.b.QueuedQueries[i].SQL, out), nil
}

// Query returns rows that carry the error too, as pgx's do: a queued
// query's callback reads the error from them.
func (br *dataBatch) Query() (pgx.Rows, error) {
	out, err := br.result()
	if err != nil {
		return failedRows(err), err
	}
	return newDataRows(out), nil
}

func (br *dataBatch) QueryRow() pgx.Row {
	rows, err := br.Query()
	return dataRow{rows, err}
}

// Close reads what is left, calling each statement's callback until one
// fails, as pgx's batches do, and returns the first error.
func (br *dataBatch) Close() error {
	if br.closed {
		return br.err
	}
	br.closed = true
	for br.next < len(br.b.QueuedQueries) {
		q := br.b.QueuedQueries[br.next]
		var err error
		if q.Fn != nil {
			err = q.Fn(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			br.err = err
			return err
		}
	}
	return br.err
}

// Tx implements pgx.BatchResults: these batches begin no pgx.Tx.
func (br *dataBatch) Tx() pgx.Tx { return nil }

// dataRows is a Data API result as pgx.Rows. Each value is turned into
// PostgreSQL's text form and decoded by pgx's own type map, by the
// column's type name, so that a destination scans as it does from a
// connection.
type dataRows struct {
	out    *rdsdata.ExecuteStatementOutput
	oids   []uint32
	fields []pgconn.FieldDescription
	i      int
	err    error
}

var typeMap = pgtype.NewMap()

// failedRows are the rows of a statement that failed with err.
func failedRows(err error) *dataRows {
	return &dataRows{out: &rdsdata.ExecuteStatementOutput{}, i: -1, err: err}
}

func newDataRows(out *rdsdata.ExecuteStatementOutput) *dataRows {
	r := &dataRows{out: out, i: -1}
	for _, c := range out.ColumnMetadata {
		oid := oidOfTypeName(aws.ToString(c.TypeName))
		r.oids = append(r.oids, oid)
		r.fields = append(r.fields, pgconn.FieldDescription{Name: aws.ToString(c.Name), DataTypeOID: oid, Format: pgtype.TextFormatCode})
	}
	return r
}

// oidOfTypeName is the type OID of a Data API column's type name (JDBC's:
// "int4", "serial", "_text", an enum's name); text for any other type.
func oidOfTypeName(name string) uint32 {
	switch name {
	case "serial":
		name = "int4"
	case "bigserial":
		name = "int8"
	case "smallserial":
		name = "int2"
	}
	if t, ok := typeMap.TypeForName(strings.TrimPrefix(name, "_")); ok && !strings.HasPrefix(name, "_") {
		return t.OID
	}
	if strings.HasPrefix(name, "_") {
		if t, ok := typeMap.TypeForName("_" + strings.TrimPrefix(name, "_")); ok {
			return t.OID
		}
		return pgtype.TextArrayOID
	}
	return pgtype.TextOID
}

func (r *dataRows) Close()     {}
func (r *dataRows) Err() error { return r.err }
func (r *dataRows) CommandTag() pgconn.CommandTag {
	return pgconn.NewCommandTag("SELECT " + strconv.Itoa(len(r.out.Records)))
}
func (r *dataRows) FieldDescriptions() []pgconn.FieldDescription { return r.fields }
func (r *dataRows) Conn() *pgx.Conn                              { return nil }
func (r *dataRows) TypeMap() *pgtype.Map                         { return typeMap }

func (r *dataRows) Next() bool {
	if r.err != nil || r.i+1 >= len(r.out.Records) {
		return false
	}
	r.i++
	return true
}

func (r *dataRows) RawValues() [][]byte {
	rec := r.out.Records[r.i]
	raw := make([][]byte, len(rec))
	for j, f := range rec {
		raw[j] = fieldText(f, r.oid(j))
	}
	return raw
}

func (r *dataRows) oid(j int) uint32 {
	if j < len(r.oids) {
		return r.oids[j]
	}
	return pgtype.TextOID
}

func (r *dataRows) Scan(dest ...any) error {
	rec := r.out.Records[r.i]
	if len(dest) != len(rec) {
		r.err = fmt.Errorf("%d destinations for %d columns", len(dest), len(rec))
		return r.err
	}
	for j, f := range rec {
		if dest[j] == nil {
			continue
		}
		if err := typeMap.Scan(r.oid(j), pgtype.TextFormatCode, fieldText(f, r.oid(j)), dest[j]); err != nil {
			r.err = fmt.Errorf("column %d: %w", j, err)
			return r.err
		}
	}
	return nil
}

func (r *dataRows) Values() ([]any, error) {
	rec := r.out.Records[r.i]
	vals := make([]any, len(rec))
	for j, f := range rec {
		t, ok := typeMap.TypeForOID(r.oid(j))
		src := fieldText(f, r.oid(j))
		if !ok || src == nil {
			if src != nil {
				vals[j] = string(src)
			}
			continue
		}
		v, err := t.Codec.DecodeValue(typeMap, r.oid(j), pgtype.TextFormatCode, src)
		if err != nil {
			return nil, err
		}
		vals[j] = v
	}
	return vals, nil
}

// dataRow is the first row of a result as pgx.Row.
type dataRow struct {
	rows pgx.Rows
	err  error
}

func (r dataRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	return r.rows.Scan(dest...)
}

// fieldText is a result value in PostgreSQL's text form (nil for NULL).
// The Data API answers timestamptz in UTC without the offset.
func fieldText(f types.Field, oid uint32) []byte {
	switch v := f.(type) {
	case *types.FieldMemberIsNull:
		return nil
	case *types.FieldMemberStringValue:
		if oid == pgtype.TimestamptzOID {
			return []byte(v.Value + "+00")
		}
		return []byte(v.Value)
	case *types.FieldMemberLongValue:
		return strconv.AppendInt(nil, v.Value, 10)
	case *types.FieldMemberDoubleValue:
		return strconv.AppendFloat(nil, v.Value, 'g', -1, 64)
	case *types.FieldMemberBooleanValue:
		if v.Value {
			return []byte("t")
		}
		return []byte("f")
	case *types.FieldMemberBlobValue:
		return append([]byte(`\x`), hex.EncodeToString(v.Value)...)
	case *types.FieldMemberArrayValue:
		return arrayText(v.Value)
	}
	return nil
}

// arrayText is an array value in PostgreSQL's array literal form.
func arrayText(a types.ArrayValue) []byte {
	var elems []string
	add := func(isNull bool, text string) {
		if isNull {
			text = "NULL"
		}
		elems = append(elems, text)
	}
	switch v := a.(type) {
	case *types.ArrayValueMemberStringValues:
		for _, s := range v.Value {
			add(s == nil, `"`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(aws.ToString(s))+`"`)
		}
	case *types.ArrayValueMemberLongValues:
		for _, n := range v.Value {
			add(n == nil, strconv.FormatInt(aws.ToInt64(n), 10))
		}
	case *types.ArrayValueMemberDoubleValues:
		for _, n := range v.Value {
			add(n == nil, strconv.FormatFloat(aws.ToFloat64(n), 'g', -1, 64))
		}
	case *types.ArrayValueMemberBooleanValues:
		for _, b := range v.Value {
			add(b == nil, map[bool]string{true: "t", false: "f"}[aws.ToBool(b)])
		}
	case *types.ArrayValueMemberArrayValues:
		for _, e := range v.Value {
			add(false, string(arrayText(e)))
		}
	}
	return []byte("{" + strings.Join(elems, ",") + "}")
}

// sqlParameter is a Go value as a Data API parameter, typed as the
// statement needs it: uuid, timestamp and JSON values carry their type
// hint; arrays, which the Data API does not take, go as PostgreSQL array
// literals, which the statements cast.
func sqlParameter(name string, v any) (types.SqlParameter, error) {
	p := types.SqlParameter{Name: &name}
	switch x := v.(type) {
	case nil:
		p.Value = &types.FieldMemberIsNull{Value: true}
	case string:
		p.Value = &types.FieldMemberStringValue{Value: x}
	case []byte:
		if x == nil {
			p.Value = &types.FieldMemberIsNull{Value: true}
		} else {
			p.Value = &types.FieldMemberBlobValue{Value: x}
		}
	case json.RawMessage:
		p.Value, p.TypeHint = &types.FieldMemberStringValue{Value: string(x)}, types.TypeHintJson
	case bool:
		p.Value = &types.FieldMemberBooleanValue{Value: x}
	case int:
		p.Value = &types.FieldMemberLongValue{Value: int64(x)}
	case int32:
		p.Value = &types.FieldMemberLongValue{Value: int64(x)}
	case int64:
		p.Value = &types.FieldMemberLongValue{Value: x}
	case float64:
		p.Value = &types.FieldMemberDoubleValue{Value: x}
	case time.Time:
		p.Value = &types.FieldMemberStringValue{Value: x.UTC().Format("2006-01-02 15:04:05.999999")}
		p.TypeHint = types.TypeHintTimestamp
	case uuid.UUID:
		p.Value, p.TypeHint = &types.FieldMemberStringValue{Value: x.String()}, types.TypeHintUuid
	case [16]byte:
		p.Value, p.TypeHint = &types.FieldMemberStringValue{Value: uuid.UUID(x).String()}, types.TypeHintUuid
	case pgtype.UUID:
		if !x.Valid {
			return sqlParameter(name, nil)
		}
		return sqlParameter(name, x.Bytes)
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Pointer:
			if rv.IsNil() {
				return sqlParameter(name, nil)
			}
			return sqlParameter(name, rv.Elem().Interface())
		case reflect.String:
			return sqlParameter(name, rv.String())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return sqlParameter(name, rv.Int())
		case reflect.Float32, reflect.Float64:
			return sqlParameter(name, rv.Float())
		case reflect.Slice:
			if lit, ok := arrayLiteral(rv); ok {
				p.Value = &types.FieldMemberStringValue{Value: lit}
				return p, nil
			}
		}
		return p, fmt.Errorf("the Data API driver cannot send a %T", v)
	}
	return p, nil
}

// arrayLiteral is a slice of integers or strings as a PostgreSQL array
// literal ({1,2}, {"a","b"}), which the statements cast to their type.
func arrayLiteral(rv reflect.Value) (string, bool) {
	elems := make([]string, rv.Len())
	for i := range elems {
		e := rv.Index(i)
		switch e.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			elems[i] = strconv.FormatInt(e.Int(), 10)
		case reflect.String:
			elems[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(e.String()) + `"`
		default:
			return "", false
		}
	}
	return "{" + strings.Join(elems, ",") + "}", true
}

// sqlStateOf reads the SQLSTATE the Data API puts at the end of a SQL
// error's message ("...; SQLState: 23505").
var sqlStateOf = regexp.MustCompile(`SQLState: ([0-9A-Z]{5})`)

// The names PostgreSQL's messages quote for the constraint and column a
// statement broke; the Data API has no fields for them.
var (
	constraintOf = regexp.MustCompile(`constraint "((?:[^"]|"")+)"`)
	columnOf     = regexp.MustCompile(`null value in column "((?:[^"]|"")+)"`)
)

// dataAPIUnavailable is a Data API answer that means "try again later":
// resuming, unavailable, throttled, timed out. translate maps it to 503.
type dataAPIUnavailable struct{ name string }

func (e *dataAPIUnavailable) Error() string { return "Data API: " + e.name }

// dataAPIFailure is any other Data API error, by its exception name and,
// for the exceptions whose messages are the service's own fixed texts,
// the message: another's may quote SQL or values, and never reaches a log
// or caller.
type dataAPIFailure struct{ name, msg string }

func (e *dataAPIFailure) Error() string {
	if e.msg != "" {
		return "Data API: " + e.name + ": " + e.msg
	}
	return "Data API: " + e.name
}

// dataAPIError turns an error of the rdsdata client into what a
// connection would have reported: a SQL error becomes a *pgconn.PgError
// with its SQLSTATE (and the constraint or column it names), without the
// message; anything transient a dataAPIUnavailable.
func dataAPIError(err error) error {
	var apiErr interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if !errors.As(err, &apiErr) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return &pgconn.PgError{Severity: "ERROR", Code: sqlQueryCanceled, Message: "canceled"}
		}
		return &dataAPIUnavailable{name: "unreachable"}
	}
	name, msg := apiErr.ErrorCode(), apiErr.ErrorMessage()
	if m := sqlStateOf.FindStringSubmatch(msg); m != nil {
		if strings.HasPrefix(msg, "FATAL:") {
			// The service could not log in as the secret's user, or
			// lost the session: what a connection reports as failing to
			// connect, unavailable.
			return &dataAPIUnavailable{name: name + " (FATAL, SQLSTATE " + m[1] + ")"}
		}
		pe := &pgconn.PgError{Severity: "ERROR", Code: m[1], Message: "statement failed (the Data API's message is withheld)"}
		if c := constraintOf.FindStringSubmatch(msg); c != nil {
			pe.ConstraintName = strings.ReplaceAll(c[1], `""`, `"`)
		}
		if c := columnOf.FindStringSubmatch(msg); c != nil {
			pe.ColumnName = strings.ReplaceAll(c[1], `""`, `"`)
		}
		return pe
	}
	switch name {
	case "DatabaseResumingException", "DatabaseUnavailableException", "ServiceUnavailableError",
		"StatementTimeoutException", "ThrottlingException", "TooManyRequestsException",
		"InternalServerErrorException", "TransactionNotFoundException", "InternalFailure":
		return &dataAPIUnavailable{name: name}
	case "UnsupportedResultException":
		if strings.Contains(msg, "size limit") || strings.Contains(msg, "too large") || strings.Contains(msg, "allowed response size") {
			return errResultTooLarge
		}
	case "BadRequestException":
		if strings.Contains(msg, "allowed response size") {
			return errResultTooLarge
		}
	}
	switch name {
	case "UnsupportedResultException", "ValidationException":
		return &dataAPIFailure{name: name, msg: msg}
	}
	return &dataAPIFailure{name: name}
}
