package fakerdsdata

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata/types"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// Every Field member goes in as a parameter and comes back as the Data API
// returns it.
func TestFieldsBothWays(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE v (
		l bigint, i integer, s smallint, d double precision, r real, b boolean,
		t text, vc varchar(10), bl bytea, n integer)`)
	f.exec(t, `INSERT INTO v VALUES (:l, :i, :s, :d, :r, :b, :t, :vc, :bl, :n)`,
		param("l", &types.FieldMemberLongValue{Value: math.MaxInt64}),
		param("i", &types.FieldMemberLongValue{Value: -2147483648}),
		param("s", &types.FieldMemberLongValue{Value: 7}),
		param("d", &types.FieldMemberDoubleValue{Value: 2.5e-10}),
		param("r", &types.FieldMemberDoubleValue{Value: 1.5}),
		param("b", &types.FieldMemberBooleanValue{Value: true}),
		param("t", &types.FieldMemberStringValue{Value: "héllo \"quoted\"\n"}),
		param("vc", &types.FieldMemberStringValue{Value: "short"}),
		param("bl", &types.FieldMemberBlobValue{Value: []byte{0, 1, 2, 255}}),
		param("n", &types.FieldMemberIsNull{Value: true}),
	)
	out := f.exec(t, `SELECT l, i, s, d, r, b, t, vc, bl, n FROM v`)
	want := []types.Field{
		&types.FieldMemberLongValue{Value: math.MaxInt64},
		&types.FieldMemberLongValue{Value: -2147483648},
		&types.FieldMemberLongValue{Value: 7},
		&types.FieldMemberDoubleValue{Value: 2.5e-10},
		&types.FieldMemberDoubleValue{Value: 1.5},
		&types.FieldMemberBooleanValue{Value: true},
		&types.FieldMemberStringValue{Value: "héllo \"quoted\"\n"},
		&types.FieldMemberStringValue{Value: "short"},
		&types.FieldMemberBlobValue{Value: []byte{0, 1, 2, 255}},
		&types.FieldMemberIsNull{Value: true},
	}
	if len(out.Records) != 1 || !reflect.DeepEqual(out.Records[0], want) {
		t.Fatalf("records = %#v\nwant %#v", out.Records, want)
	}
	if out.NumberOfRecordsUpdated != 0 || out.ColumnMetadata != nil {
		t.Fatalf("a query answers numberOfRecordsUpdated 0 and no metadata unasked: %+v", out)
	}

	// Doubles that JSON has no number for travel as strings.
	out = f.exec(t, `SELECT :a::float8, :b::float8, :c::float8`,
		param("a", &types.FieldMemberDoubleValue{Value: math.NaN()}),
		param("b", &types.FieldMemberDoubleValue{Value: math.Inf(1)}),
		param("c", &types.FieldMemberDoubleValue{Value: math.Inf(-1)}))
	row := out.Records[0]
	if !math.IsNaN(row[0].(*types.FieldMemberDoubleValue).Value) ||
		!math.IsInf(row[1].(*types.FieldMemberDoubleValue).Value, 1) ||
		!math.IsInf(row[2].(*types.FieldMemberDoubleValue).Value, -1) {
		t.Fatalf("special doubles = %#v", row)
	}
}

// PostgreSQL's other types come back as the Data API maps them.
func TestResultTypes(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TYPE mood AS ENUM ('happy', 'sad')`)
	f.exec(t, `CREATE DOMAIN positive AS integer CHECK (VALUE > 0)`)
	out := f.exec(t, `SELECT
		12.50::numeric(10,2), 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f'::uuid,
		'{"b": 1,  "a": [true]}'::json, '{"b": 1,  "a": [true]}'::jsonb,
		'2026-11-26 14:07:25.123456'::timestamp, '2024-01-15 12:34:56+09'::timestamptz,
		'2026-11-26 00:00:00.5+00'::timestamptz, '2026-11-26'::date, '14:07:25.5'::time,
		'ab'::char(4), 'happy'::mood, 3::positive, 'x'::name, '10.0.0.1'::inet, 42::oid,
		ARRAY[1, NULL, 3]::int4[], ARRAY['a', 'b c', NULL, '"q"']::text[], ARRAY[true, false],
		ARRAY[1.5, 2]::float8[], ARRAY[1.10, 2]::numeric[], '{}'::int8[],
		'[2:3]={7,8}'::int2[], ARRAY['2026-01-02'::date]`)
	want := []types.Field{
		&types.FieldMemberStringValue{Value: "12.50"},
		&types.FieldMemberStringValue{Value: "f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f"},
		&types.FieldMemberStringValue{Value: `{"b": 1,  "a": [true]}`},
		&types.FieldMemberStringValue{Value: `{"a": [true], "b": 1}`},
		&types.FieldMemberStringValue{Value: "2026-11-26 14:07:25.123456"},
		&types.FieldMemberStringValue{Value: "2024-01-15 03:34:56"},
		&types.FieldMemberStringValue{Value: "2026-11-26 00:00:00.5"},
		&types.FieldMemberStringValue{Value: "2026-11-26"},
		&types.FieldMemberStringValue{Value: "14:07:25.5"},
		&types.FieldMemberStringValue{Value: "ab  "},
		&types.FieldMemberStringValue{Value: "happy"},
		&types.FieldMemberLongValue{Value: 3},
		&types.FieldMemberStringValue{Value: "x"},
		&types.FieldMemberStringValue{Value: "10.0.0.1"},
		&types.FieldMemberLongValue{Value: 42},
		&types.FieldMemberArrayValue{Value: &types.ArrayValueMemberLongValues{Value: []*int64{aws.Int64(1), nil, aws.Int64(3)}}},
		&types.FieldMemberArrayValue{Value: &types.ArrayValueMemberStringValues{Value: []*string{aws.String("a"), aws.String("b c"), nil, aws.String(`"q"`)}}},
		&types.FieldMemberArrayValue{Value: &types.ArrayValueMemberBooleanValues{Value: []*bool{aws.Bool(true), aws.Bool(false)}}},
		&types.FieldMemberArrayValue{Value: &types.ArrayValueMemberDoubleValues{Value: []*float64{aws.Float64(1.5), aws.Float64(2)}}},
		&types.FieldMemberArrayValue{Value: &types.ArrayValueMemberStringValues{Value: []*string{aws.String("1.10"), aws.String("2")}}},
		&types.FieldMemberArrayValue{Value: &types.ArrayValueMemberLongValues{Value: []*int64{}}},
		&types.FieldMemberArrayValue{Value: &types.ArrayValueMemberLongValues{Value: []*int64{aws.Int64(7), aws.Int64(8)}}},
		&types.FieldMemberArrayValue{Value: &types.ArrayValueMemberStringValues{Value: []*string{aws.String("2026-01-02")}}},
	}
	got := out.Records[0]
	if len(got) != len(want) {
		t.Fatalf("%d columns, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("column %d = %#v, want %#v", i+1, got[i], want[i])
		}
	}
}

// A type hint sends a string as the type it names; without one a string is
// character varying, which PostgreSQL does not compare with a uuid.
func TestTypeHints(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE h (id uuid PRIMARY KEY, doc jsonb, at timestamptz, day date, tm time, amount numeric(12,3))`)
	const id = "0190f0e2-7f6a-7cc1-9f3e-222222222222"
	f.exec(t, `INSERT INTO h VALUES (:id, :doc, :at, :day, :tm, :amount)`,
		hinted("id", id, types.TypeHintUuid),
		hinted("doc", `{"k": [1, 2]}`, types.TypeHintJson),
		hinted("at", "2026-11-26 14:07:25.123456", types.TypeHintTimestamp),
		hinted("day", "2026-11-26", types.TypeHintDate),
		hinted("tm", "14:07:25.5", types.TypeHintTime),
		hinted("amount", "12345678.125", types.TypeHintDecimal))
	out := f.exec(t, `SELECT doc, at, day, tm, amount, pg_typeof(:id)::text FROM h WHERE id = :id`,
		hinted("id", id, types.TypeHintUuid))
	want := []string{`{"k": [1, 2]}`, "2026-11-26 14:07:25.123456", "2026-11-26", "14:07:25.5", "12345678.125", "uuid"}
	for i, w := range want {
		if got := out.Records[0][i].(*types.FieldMemberStringValue).Value; got != w {
			t.Errorf("column %d = %q, want %q", i+1, got, w)
		}
	}
	for hint, typ := range map[types.TypeHint]string{
		types.TypeHintJson: "json", types.TypeHintDecimal: "numeric", types.TypeHintDate: "date",
		types.TypeHintTime: "time without time zone", types.TypeHintTimestamp: "timestamp without time zone",
	} {
		v := map[types.TypeHint]string{types.TypeHintJson: "{}", types.TypeHintDecimal: "1",
			types.TypeHintDate: "2026-01-01", types.TypeHintTime: "01:02:03", types.TypeHintTimestamp: "2026-01-01 01:02:03"}[hint]
		out := f.exec(t, `SELECT pg_typeof(:p)::text`, hinted("p", v, hint))
		if got := out.Records[0][0].(*types.FieldMemberStringValue).Value; got != typ {
			t.Errorf("%s is sent as %s, want %s", hint, got, typ)
		}
	}
	out = f.exec(t, `SELECT pg_typeof(:s)::text, pg_typeof(:l)::text, pg_typeof(:d)::text, pg_typeof(:b)::text, pg_typeof(:x)::text`,
		param("s", &types.FieldMemberStringValue{Value: "s"}), param("l", &types.FieldMemberLongValue{Value: 1}), param("d", &types.FieldMemberDoubleValue{Value: 1}),
		param("b", &types.FieldMemberBooleanValue{Value: true}), param("x", &types.FieldMemberBlobValue{Value: []byte("x")}))
	for i, w := range []string{"character varying", "bigint", "double precision", "boolean", "bytea"} {
		if got := out.Records[0][i].(*types.FieldMemberStringValue).Value; got != w {
			t.Errorf("parameter %d is %s, want %s", i+1, got, w)
		}
	}

	// No hint: a varchar, which uuid = refuses, as on the service.
	_, err := f.try(t, `SELECT 1 FROM h WHERE id = :p`, str(id))
	wantError(t, err, "DatabaseErrorException", `ERROR: operator does not exist: uuid = character varying; Hint: `)
	// The time hints take the documented formats only.
	_, err = f.try(t, `SELECT :p`, hinted("p", "2026-11-26T14:07:25Z", types.TypeHintTimestamp))
	wantError(t, err, "BadRequestException", "Timestamp format must be yyyy-mm-dd hh:mm:ss")
	_, err = f.try(t, `SELECT :p`, hinted("p", "26/11/2026", types.TypeHintDate))
	wantError(t, err, "BadRequestException", "Date format must be yyyy-mm-dd")
	// An array parameter is refused.
	_, err = f.try(t, `SELECT :p`, param("p", &types.FieldMemberArrayValue{Value: &types.ArrayValueMemberLongValues{Value: []*int64{aws.Int64(1)}}}))
	wantError(t, err, "BadRequestException", "Array parameters are not supported.")
}

func TestResultSetOptions(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	in := f.input(`SELECT 12.50::numeric(10,2), 42::numeric, 9007199254740993::bigint, 5::int4`)
	in.ResultSetOptions = &types.ResultSetOptions{DecimalReturnType: types.DecimalReturnTypeDoubleOrLong, LongReturnType: types.LongReturnTypeString}
	out, err := f.client.ExecuteStatement(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []types.Field{
		&types.FieldMemberDoubleValue{Value: 12.5},
		&types.FieldMemberLongValue{Value: 42},
		&types.FieldMemberStringValue{Value: "9007199254740993"},
		&types.FieldMemberLongValue{Value: 5},
	}
	if !reflect.DeepEqual(out.Records[0], want) {
		t.Fatalf("records = %#v, want %#v", out.Records[0], want)
	}
}

func TestFormatRecordsAsJSON(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	in := f.input(`SELECT 17 AS a, 10.0::float8 AS b, 1.25E-4::float8 AS tiny, 'x"y' AS s, true AS t, NULL AS n,
		'hello world'::bytea AS blob, 1.50::numeric AS dec, ARRAY[1,2] AS arr, 9223372036854775807 AS big`)
	in.FormatRecordsAs = types.RecordsFormatTypeJson
	in.IncludeResultMetadata = true
	out, err := f.client.ExecuteStatement(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"a":17,"b":10.0,"tiny":1.25E-4,"s":"x\"y","t":true,"n":null,"blob":"aGVsbG8gd29ybGQ=","dec":"1.50","arr":[1,2],"big":9223372036854775807}]`
	if got := aws.ToString(out.FormattedRecords); got != want {
		t.Fatalf("formattedRecords = %s\nwant %s", got, want)
	}
	if out.Records != nil || out.ColumnMetadata != nil {
		t.Fatalf("JSON results carry no records or metadata: %+v", out)
	}
	var parsed []map[string]any
	if err := json.Unmarshal([]byte(want), &parsed); err != nil {
		t.Fatal(err)
	}

	in = f.input(`SELECT 1 AS a, 2 AS a`)
	in.FormatRecordsAs = types.RecordsFormatTypeJson
	_, err = f.client.ExecuteStatement(t.Context(), in)
	wantError(t, err, "BadRequestException", "more than one column")
}

func TestColumnMetadata(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE m (id serial PRIMARY KEY, name varchar(20) NOT NULL, price numeric(10,2), tags text[], seen timestamptz)`)
	in := f.input(`SELECT id, name, price, tags, seen, 1 + 1 AS two FROM m`)
	in.IncludeResultMetadata = true
	out, err := f.client.ExecuteStatement(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Records == nil || len(out.Records) != 0 {
		t.Fatalf("an empty result answers records: [], got %#v", out.Records)
	}
	want := []types.ColumnMetadata{
		{Name: aws.String("id"), Label: aws.String("id"), Type: jdbcInteger, TypeName: aws.String("serial"), TableName: aws.String("m"),
			SchemaName: aws.String(""), IsAutoIncrement: true, IsSigned: true, Nullable: columnNoNulls, Precision: 10},
		{Name: aws.String("name"), Label: aws.String("name"), Type: jdbcVarchar, TypeName: aws.String("varchar"), TableName: aws.String("m"),
			SchemaName: aws.String(""), IsCaseSensitive: true, Nullable: columnNoNulls, Precision: 20},
		{Name: aws.String("price"), Label: aws.String("price"), Type: jdbcNumeric, TypeName: aws.String("numeric"), TableName: aws.String("m"),
			SchemaName: aws.String(""), IsSigned: true, Nullable: columnNullable, Precision: 10, Scale: 2},
		{Name: aws.String("tags"), Label: aws.String("tags"), Type: jdbcArray, TypeName: aws.String("_text"), TableName: aws.String("m"),
			SchemaName: aws.String(""), Nullable: columnNullable, Precision: unbounded, ArrayBaseColumnType: jdbcVarchar},
		{Name: aws.String("seen"), Label: aws.String("seen"), Type: jdbcTimestamp, TypeName: aws.String("timestamptz"), TableName: aws.String("m"),
			SchemaName: aws.String(""), Nullable: columnNullable, Precision: 35, Scale: 6},
		{Name: aws.String("two"), Label: aws.String("two"), Type: jdbcInteger, TypeName: aws.String("int4"), TableName: aws.String(""),
			SchemaName: aws.String(""), IsSigned: true, Nullable: columnNullableUnknown, Precision: 10},
	}
	if !reflect.DeepEqual(out.ColumnMetadata, want) {
		got, _ := json.MarshalIndent(out.ColumnMetadata, "", " ")
		t.Fatalf("columnMetadata = %s", got)
	}
}

// A statement without a result set answers what it changed; one with
// RETURNING answers its rows.
func TestChangesAndReturning(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	out := f.exec(t, `CREATE TABLE c (id int PRIMARY KEY, v text)`)
	if out.NumberOfRecordsUpdated != 0 || out.Records != nil {
		t.Fatalf("DDL: %+v", out)
	}
	out = f.exec(t, `INSERT INTO c SELECT g, 'v' FROM generate_series(1, 3) g`)
	if out.NumberOfRecordsUpdated != 3 || out.Records != nil || out.GeneratedFields == nil || len(out.GeneratedFields) != 0 {
		t.Fatalf("INSERT: %+v", out)
	}
	out = f.exec(t, `UPDATE c SET v = :v WHERE id >= 2 RETURNING id`, param("v", &types.FieldMemberStringValue{Value: "w"}))
	if len(out.Records) != 2 || out.NumberOfRecordsUpdated != 0 {
		t.Fatalf("UPDATE RETURNING: %+v", out)
	}
}

// Named parameters are rewritten where the service rewrites them.
func TestRewriteNamed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, out string
		names   []string
	}{
		{`SELECT :a, :b, :a`, `SELECT $1, $2, $1`, []string{"a", "b"}},
		{`SELECT ':a', ":a", E'\':a', x::text, y := 1`, `SELECT ':a', ":a", E'\':a', x::text, y := 1`, nil},
		{"SELECT 1 -- :a\n, /* :b /* :c */ */ :d", "SELECT 1 -- :a\n, /* :b /* :c */ */ $1", []string{"d"}},
		{`SELECT 'it''s :a', :b_1`, `SELECT 'it''s :a', $1`, []string{"b_1"}},
		{`SELECT $$ :a $$, arr[1:2]`, `SELECT $$ $1 $$, arr[1$2]`, []string{"a", "2"}},
	} {
		got, names := rewriteNamed(c.in)
		if got != c.out || !reflect.DeepEqual(names, c.names) {
			t.Errorf("rewriteNamed(%q) = %q %q, want %q %q", c.in, got, names, c.out, c.names)
		}
	}
}

func TestJavaDouble(t *testing.T) {
	t.Parallel()
	for f, want := range map[float64]string{
		10: "10.0", 0: "0.0", 1.5: "1.5", -2.25: "-2.25", 1e7: "1.0E7", 1.25e-4: "1.25E-4",
		1.7976931348623157e308: "1.7976931348623157E308", 0.001: "0.001", 1234567.5: "1234567.5",
	} {
		if got := javaDouble(f); got != want {
			t.Errorf("javaDouble(%v) = %s, want %s", f, got, want)
		}
	}
}

// The database parameter picks the database; the secret picks the user.
func TestDatabaseAndSecrets(t *testing.T) {
	t.Parallel()
	const runtimeSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:runtime-XyZ"
	other := testdb.New(t)
	var role string
	f := start(t, func(o *Options) {
		role = uniqueRole(t, o.DatabaseURL, "runtime-pw")
		o.Secrets[runtimeSecret] = Credentials{Username: role, Password: "runtime-pw"}
		o.Secrets["arn:aws:secretsmanager:us-east-1:123456789012:secret:wrong"] = Credentials{Username: role, Password: "nope"}
	})
	otherName := databaseName(t, other)
	in := f.input(`SELECT current_database(), current_user`)
	in.Database = aws.String(otherName)
	out, err := f.client.ExecuteStatement(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Records[0][0].(*types.FieldMemberStringValue).Value; got != otherName {
		t.Fatalf("database = %s, want %s", got, otherName)
	}

	f.exec(t, `CREATE TABLE secret_stuff (x int)`)
	in = f.input(`SELECT current_user`)
	in.SecretArn = aws.String(runtimeSecret)
	out, err = f.client.ExecuteStatement(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Records[0][0].(*types.FieldMemberStringValue).Value; got != role {
		t.Fatalf("the runtime secret logs in as %s, want %s", got, role)
	}
	in = f.input(`SELECT x FROM secret_stuff`)
	in.SecretArn = aws.String(runtimeSecret)
	_, err = f.client.ExecuteStatement(t.Context(), in)
	wantError(t, err, "DatabaseErrorException", "ERROR: permission denied for table secret_stuff; SQLState: 42501")

	in.SecretArn = aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:wrong")
	_, err = f.client.ExecuteStatement(t.Context(), in)
	wantError(t, err, "DatabaseErrorException", `FATAL: password authentication failed for user "`+role+`"; SQLState: 28P01`)

	const later = "arn:aws:secretsmanager:us-east-1:123456789012:secret:later"
	in = f.input(`SELECT current_user`)
	in.SecretArn = aws.String(later)
	_, err = f.client.ExecuteStatement(t.Context(), in)
	var secretsErr *types.SecretsErrorException
	if !errors.As(err, &secretsErr) || secretsErr.ErrorMessage() != "Secrets Manager can't find the specified secret." {
		t.Fatalf("an unknown secret: %v", err)
	}
	f.srv.PutSecret(later, Credentials{Username: role, Password: "runtime-pw"})
	if out, err := f.client.ExecuteStatement(t.Context(), in); err != nil || out.Records[0][0].(*types.FieldMemberStringValue).Value != role {
		t.Fatalf("a secret put later: %v", err)
	}

	in = f.input(`SELECT 1`)
	in.ResourceArn = aws.String("arn:aws:rds:us-east-1:123456789012:cluster:other")
	_, err = f.client.ExecuteStatement(t.Context(), in)
	wantError(t, err, "BadRequestException", "Invalid cluster arn")
}

// What a call sets in its session is gone by the next call, and sessions
// run in UTC.
func TestSessionsAreReset(t *testing.T) {
	t.Parallel()
	f := start(t, func(o *Options) { o.MaxConnsPerUser = 1 })
	f.exec(t, `SET search_path TO nowhere`)
	out := f.exec(t, `SELECT current_setting('search_path'), current_setting('TimeZone'), current_setting('application_name')`)
	got := []string{}
	for _, v := range out.Records[0] {
		got = append(got, v.(*types.FieldMemberStringValue).Value)
	}
	if !reflect.DeepEqual(got, []string{`"$user", public`, "UTC", ApplicationName}) {
		t.Fatalf("session settings = %q", got)
	}
}

// BatchExecuteStatement runs each parameter set, all or none.
func TestBatchExecute(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE b (id int PRIMARY KEY, v text)`)
	set := func(id int64, v string) []types.SqlParameter {
		return []types.SqlParameter{param("id", &types.FieldMemberLongValue{Value: id}), param("v", &types.FieldMemberStringValue{Value: v})}
	}
	in := &rdsdata.BatchExecuteStatementInput{
		ResourceArn:   aws.String(f.srv.ClusterARN()),
		SecretArn:     aws.String(ownerSecret),
		Sql:           aws.String(`INSERT INTO b VALUES (:id, :v)`),
		ParameterSets: [][]types.SqlParameter{set(1, "a"), set(2, "b"), set(3, "c")},
	}
	out, err := f.client.BatchExecuteStatement(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.UpdateResults) != 3 || len(out.UpdateResults[0].GeneratedFields) != 0 {
		t.Fatalf("updateResults = %+v", out.UpdateResults)
	}
	in.ParameterSets = [][]types.SqlParameter{set(4, "d"), set(1, "dup")}
	_, err = f.client.BatchExecuteStatement(t.Context(), in)
	wantError(t, err, "DatabaseErrorException", `duplicate key value violates unique constraint "b_pkey"; SQLState: 23505`)
	if n := f.count(t, `SELECT count(*) FROM b`); n != 3 {
		t.Fatalf("a failed batch left %d rows, want 3", n)
	}

	id := f.begin(t)
	in.ParameterSets = [][]types.SqlParameter{set(5, "e")}
	in.TransactionId = aws.String(id)
	if _, err := f.client.BatchExecuteStatement(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM b`); n != 3 {
		t.Fatalf("an uncommitted batch is visible: %d rows", n)
	}
	if _, err := f.commit(t, id); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM b`); n != 4 {
		t.Fatalf("after commit %d rows, want 4", n)
	}
}
