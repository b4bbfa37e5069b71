package fakerdsdata

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// request is the union of the five operations' JSON inputs, as
// aws-sdk-go-v2's service/rdsdata serializes them.
type request struct {
	ResourceArn           *string          `json:"resourceArn"`
	SecretArn             *string          `json:"secretArn"`
	SQL                   *string          `json:"sql"`
	Database              *string          `json:"database"`
	Schema                *string          `json:"schema"`
	Parameters            []sqlParameter   `json:"parameters"`
	ParameterSets         [][]sqlParameter `json:"parameterSets"`
	TransactionID         *string          `json:"transactionId"`
	IncludeResultMetadata bool             `json:"includeResultMetadata"`
	ContinueAfterTimeout  bool             `json:"continueAfterTimeout"`
	ResultSetOptions      *struct {
		DecimalReturnType string `json:"decimalReturnType"`
		LongReturnType    string `json:"longReturnType"`
	} `json:"resultSetOptions"`
	FormatRecordsAs string `json:"formatRecordsAs"`
}

type sqlParameter struct {
	Name     string          `json:"name"`
	Value    json.RawMessage `json:"value"`
	TypeHint string          `json:"typeHint"`
}

// The model's length constraints, which the SDK does not check itself.
const (
	maxSQLLength = 65536
	maxDBName    = 64
)

func decodeRequest(body []byte) (*request, *apiError) {
	var req request
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&req); err != nil {
		return nil, newError("BadRequestException", "Unable to parse the request body: %v", err)
	}
	return &req, nil
}

// validate checks what the model requires of every operation, with the
// service's ValidationException wording.
func (req *request) validate(op string) *apiError {
	var missing []string
	if req.ResourceArn == nil {
		missing = append(missing, "resourceArn")
	}
	if req.SecretArn == nil {
		missing = append(missing, "secretArn")
	}
	switch op {
	case opExecute, opBatch:
		if req.SQL == nil {
			missing = append(missing, "sql")
		}
	case opCommit, opRollback:
		if req.TransactionID == nil {
			missing = append(missing, "transactionId")
		}
	}
	if len(missing) > 0 {
		return validationError(missing, "Member must not be null")
	}
	if req.SQL != nil && len(*req.SQL) > maxSQLLength {
		return validationError([]string{"sql"}, "Member must have length less than or equal to "+strconv.Itoa(maxSQLLength))
	}
	if req.Database != nil && len(*req.Database) > maxDBName {
		return validationError([]string{"database"}, "Member must have length less than or equal to "+strconv.Itoa(maxDBName))
	}
	if req.Schema != nil {
		return newError("ValidationException", "The schema parameter isn't supported")
	}
	return nil
}

func validationError(members []string, constraint string) *apiError {
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = "Value null at '" + m + "' failed to satisfy constraint: " + constraint
		if constraint != "Member must not be null" {
			parts[i] = "Value at '" + m + "' failed to satisfy constraint: " + constraint
		}
	}
	count := strconv.Itoa(len(members)) + " validation error"
	if len(members) > 1 {
		count += "s"
	}
	return newError("ValidationException", "%s detected: %s", count, strings.Join(parts, "; "))
}

// bindValue is one parameter as PostgreSQL receives it.
type bindValue struct {
	oid    uint32
	value  []byte // nil for NULL
	binary bool
}

// The formats the Data API documents for its time type hints.
var (
	dateFormat      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	timeFormat      = regexp.MustCompile(`^\d{2}:\d{2}:\d{2}(\.\d{1,9})?$`)
	timestampFormat = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$`)
)

// bind turns a Field into a PostgreSQL parameter of the type the Data API
// gives it: longValue is bigint, doubleValue double precision, booleanValue
// boolean, blobValue bytea and stringValue character varying unless
// typeHint names another type (UUID uuid, JSON json, DECIMAL numeric, DATE
// date, TIME time, TIMESTAMP timestamp without time zone). isNull is a
// NULL of no type, for PostgreSQL to infer.
func bind(p sqlParameter) (bindValue, *apiError) {
	var members map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(p.Value))
	d.UseNumber()
	if len(p.Value) == 0 || d.Decode(&members) != nil {
		return bindValue{}, newError("BadRequestException", "Parameter %q has no value", p.Name)
	}
	var member string
	var raw json.RawMessage
	for k, v := range members {
		if string(v) == "null" {
			continue
		}
		if member != "" {
			return bindValue{}, newError("BadRequestException", "Parameter %q has more than one value", p.Name)
		}
		member, raw = k, v
	}
	switch member {
	case "isNull":
		return bindValue{}, nil
	case "booleanValue":
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return bindValue{}, badValue(p)
		}
		return bindValue{oid: pgtype.BoolOID, value: []byte(map[bool]string{true: "t", false: "f"}[b])}, nil
	case "longValue":
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return bindValue{}, badValue(p)
		}
		return bindValue{oid: pgtype.Int8OID, value: []byte(strconv.FormatInt(n, 10))}, nil
	case "doubleValue":
		var text string
		if json.Unmarshal(raw, &text) == nil {
			switch text {
			case "NaN", "Infinity", "-Infinity":
				return bindValue{oid: pgtype.Float8OID, value: []byte(text)}, nil
			}
			return bindValue{}, badValue(p)
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return bindValue{}, badValue(p)
		}
		return bindValue{oid: pgtype.Float8OID, value: []byte(strconv.FormatFloat(f, 'g', -1, 64))}, nil
	case "blobValue":
		var text string
		if json.Unmarshal(raw, &text) != nil {
			return bindValue{}, badValue(p)
		}
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return bindValue{}, badValue(p)
		}
		if b == nil {
			b = []byte{}
		}
		return bindValue{oid: pgtype.ByteaOID, value: b, binary: true}, nil
	case "stringValue":
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return bindValue{}, badValue(p)
		}
		return bindString(p, s)
	case "arrayValue":
		return bindValue{}, newError("BadRequestException", "Array parameters are not supported.")
	}
	return bindValue{}, newError("BadRequestException", "Parameter %q has no value", p.Name)
}

func bindString(p sqlParameter, s string) (bindValue, *apiError) {
	v := []byte(s)
	switch p.TypeHint {
	case "":
		return bindValue{oid: pgtype.VarcharOID, value: v}, nil
	case "UUID":
		return bindValue{oid: pgtype.UUIDOID, value: v}, nil
	case "JSON":
		return bindValue{oid: pgtype.JSONOID, value: v}, nil
	case "DECIMAL":
		return bindValue{oid: pgtype.NumericOID, value: v}, nil
	case "DATE":
		if !dateFormat.MatchString(s) {
			return bindValue{}, newError("BadRequestException", "Date format must be yyyy-mm-dd: %q", s)
		}
		return bindValue{oid: pgtype.DateOID, value: v}, nil
	case "TIME":
		if !timeFormat.MatchString(s) {
			return bindValue{}, newError("BadRequestException", "Time format must be hh:mm:ss[.fffffffff]: %q", s)
		}
		return bindValue{oid: pgtype.TimeOID, value: v}, nil
	case "TIMESTAMP":
		if !timestampFormat.MatchString(s) {
			return bindValue{}, newError("BadRequestException", "Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]: %q", s)
		}
		return bindValue{oid: pgtype.TimestampOID, value: v}, nil
	}
	return bindValue{}, newError("BadRequestException", "Invalid type hint %q for parameter %q", p.TypeHint, p.Name)
}

func badValue(p sqlParameter) *apiError {
	return newError("BadRequestException", "Invalid value for parameter %q", p.Name)
}

// bindAll orders the parameters for the $n placeholders of a rewritten
// statement. A placeholder with no parameter of its name gets no value (so
// PostgreSQL reports the missing one); a parameter the statement does not
// use is ignored.
func bindAll(names []string, params []sqlParameter) ([]bindValue, *apiError) {
	byName := map[string]sqlParameter{}
	for _, p := range params {
		if p.Name == "" {
			return nil, newError("BadRequestException", "Parameter name is required")
		}
		if _, dup := byName[p.Name]; !dup {
			byName[p.Name] = p
		}
	}
	var values []bindValue
	for _, name := range names {
		p, ok := byName[name]
		if !ok {
			break
		}
		v, err := bind(p)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
	}
	// Values for every parameter, so that a bad one is refused even when
	// the statement does not use it.
	for _, p := range params {
		if _, err := bind(p); err != nil {
			return nil, err
		}
	}
	return values, nil
}
