package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// The bodies of resource writes (SPEC §10): each member is decoded by its
// column's type into the text PostgreSQL reads (tenantapi.Value), strictly:
// nothing is coerced, and every problem is reported with its JSON Pointer.

// writeKind is the body a write carries.
type writeKind int

const (
	createBody  writeKind = iota // POST: every field, defaults for the rest
	replaceBody                  // PUT: the same, with the path's id
	patchBody                    // PATCH: the members present
)

// managedMember reports whether name is a managed column of res (or id),
// accepted in a body and ignored.
func managedMember(res *tenantapi.Resource, name string) bool {
	switch name {
	case "id":
		return true
	case "version":
		return res.Versioned
	case "created_at":
		return res.Created
	case "updated_at":
		return res.Updated
	}
	return false
}

// rowValues validates obj as a body of kind for res. pathID is the row id
// of a PUT or PATCH. For POST and PUT the values name every writable
// field (a left-out one as Default); for PATCH only the members present.
// merge lists the fields of a PATCH whose object value merges into the
// current one (RFC 7396): rowValues leaves them out, mergeValues fills
// them in.
func rowValues(res *tenantapi.Resource, obj map[string]any, kind writeKind, pathID *uuid.UUID) (vals []tenantapi.Value, merge []int, err error) {
	var fe fieldErrors
	for k, v := range obj {
		if managedMember(res, k) {
			if k == "id" && pathID != nil {
				s, _ := v.(string)
				if id, err := uuid.Parse(s); err != nil || id != *pathID {
					fe.add("/id", "must equal the id in the path")
				}
			}
			continue
		}
		if !slices.ContainsFunc(res.Fields, func(f tenantapi.Field) bool { return f.Name == k }) {
			fe.add("/"+pointerToken(truncate(k, 64)), "is not a known field")
		}
	}
	for i, f := range res.Fields {
		if f.Generated {
			continue
		}
		ptr := "/" + pointerToken(f.Name)
		v, present := obj[f.Name]
		switch {
		case !present && kind == patchBody:
			continue
		case !present && f.Required():
			fe.add(ptr, "is required")
			continue
		case !present:
			vals = append(vals, tenantapi.Value{Field: i, Default: true})
			continue
		case v == nil:
			switch {
			case f.HasDefault:
				vals = append(vals, tenantapi.Value{Field: i, Default: true})
			case !f.NotNull:
				vals = append(vals, tenantapi.Value{Field: i, Null: true})
			case kind == patchBody:
				fe.add(ptr, "must not be null")
			default:
				fe.add(ptr, "is required")
			}
			continue
		}
		if _, isObj := v.(map[string]any); isObj && kind == patchBody && f.Type.Kind == tenantapi.KindJSON && !f.Type.Array {
			merge = append(merge, i)
			continue
		}
		if text, ok := decodeValue(f.Type, v, ptr, &fe); ok {
			vals = append(vals, tenantapi.Value{Field: i, Text: text})
		}
	}
	return vals, merge, fe.err()
}

// mergeValues adds to vals the JSON fields of a PATCH that merge into the
// row's current values (cur is the row's JSON).
func mergeValues(res *tenantapi.Resource, obj map[string]any, merge []int, cur []byte, vals []tenantapi.Value) ([]tenantapi.Value, error) {
	stored, err := decodeStored(cur)
	if err != nil {
		return nil, tenantapi.Wrap(tenantapi.CodeInternal, err, "internal error")
	}
	row, _ := stored.(map[string]any)
	var fe fieldErrors
	for _, i := range merge {
		f := res.Fields[i]
		merged := mergePatch(deepCopy(row[f.Name]), obj[f.Name])
		if text, ok := decodeValue(f.Type, merged, "/"+pointerToken(f.Name), &fe); ok {
			vals = append(vals, tenantapi.Value{Field: i, Text: text})
		}
	}
	return vals, fe.err()
}

// decodeStored decodes JSON the database returned.
func decodeStored(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// mergePatch applies patch to target as RFC 7396 defines.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// deepCopy copies the objects of a decoded JSON value, which mergePatch
// changes in place.
func deepCopy(v any) any {
	if m, ok := v.(map[string]any); ok {
		c := make(map[string]any, len(m))
		for k, e := range m {
			c[k] = deepCopy(e)
		}
		return c
	}
	return v
}

var (
	dateText = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	intText  = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	numText  = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
)

// decodeValue checks v (a decoded JSON value, not null) against t and
// returns the text PostgreSQL reads for it; problems go to fe under ptr.
func decodeValue(t tenantapi.Type, v any, ptr string, fe *fieldErrors) (string, bool) {
	if t.Array {
		return decodeArray(t, v, ptr, fe)
	}
	if t.Kind == tenantapi.KindJSON {
		return decodeJSONValue(v, ptr, fe)
	}
	switch t.Kind {
	case tenantapi.KindBoolean:
		b, ok := v.(bool)
		if !ok {
			fe.add(ptr, "must be a boolean")
			return "", false
		}
		return strconv.FormatBool(b), true
	case tenantapi.KindInteger, tenantapi.KindNumeric, tenantapi.KindFloat:
		n, ok := v.(json.Number)
		if !ok {
			fe.add(ptr, "must be "+kindNoun(t))
			return "", false
		}
		if msg := checkNumber(t, string(n)); msg != "" {
			fe.add(ptr, msg)
			return "", false
		}
		return string(n), true
	}
	s, ok := v.(string)
	if !ok {
		fe.add(ptr, "must be "+kindNoun(t))
		return "", false
	}
	if msg := checkText(t, s); msg != "" {
		fe.add(ptr, msg)
		return "", false
	}
	if t.Kind == tenantapi.KindTimestamp {
		ts, _ := time.Parse(time.RFC3339Nano, s)
		return ts.UTC().Format(time.RFC3339Nano), true
	}
	return s, true
}

// kindNoun names what a value of t must be, for a message.
func kindNoun(t tenantapi.Type) string {
	switch t.Kind {
	case tenantapi.KindInteger:
		return "an integer"
	case tenantapi.KindNumeric, tenantapi.KindFloat:
		return "a number"
	case tenantapi.KindBoolean:
		return "a boolean"
	case tenantapi.KindTimestamp:
		return "an RFC 3339 date and time"
	case tenantapi.KindDate:
		return "a date (YYYY-MM-DD)"
	case tenantapi.KindUUID:
		return "a UUID"
	case tenantapi.KindEnum:
		return "one of " + strings.Join(t.Labels, ", ")
	}
	return "a string"
}

// checkNumber returns what is wrong with the JSON number literal n as a
// value of t, or "".
func checkNumber(t tenantapi.Type, n string) string {
	switch t.Kind {
	case tenantapi.KindInteger:
		if !intText.MatchString(n) {
			return "must be an integer"
		}
		bits := t.Bits
		if bits == 0 {
			bits = 64
		}
		if _, err := strconv.ParseInt(n, 10, bits); err != nil {
			return "must be an integer within the column's range"
		}
	case tenantapi.KindFloat:
		bits := t.Bits
		if bits == 0 {
			bits = 64
		}
		if f, err := strconv.ParseFloat(n, bits); err != nil || math.IsInf(f, 0) {
			return "must be a number within the column's range"
		}
	case tenantapi.KindNumeric:
		if !numericFits(n) {
			return "is a number out of range"
		}
		if t.Precision > 0 {
			msd, _, zero, _ := parseNumeric(n)
			if frac := significantScale(n); frac > int64(t.Scale) {
				return "must have at most " + strconv.Itoa(t.Scale) + " digits after the decimal point"
			}
			if !zero && msd+1 > int64(t.Precision-t.Scale) {
				return "must have at most " + strconv.Itoa(t.Precision-t.Scale) + " digits before the decimal point"
			}
		}
	}
	return ""
}

// significantScale is how many digits after the decimal point the number
// literal n needs, trailing zeros aside.
func significantScale(n string) int64 {
	mant, exp, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(n, "-")), "e")
	_, frac, _ := strings.Cut(mant, ".")
	frac = strings.TrimRight(frac, "0")
	e, _ := strconv.ParseInt(exp, 10, 64)
	return max(0, int64(len(frac))-e)
}

// checkText returns what is wrong with s as a value of t (a kind spelled
// as a string), or "".
func checkText(t tenantapi.Type, s string) string {
	if strings.ContainsRune(s, 0) {
		return "must not contain U+0000"
	}
	switch t.Kind {
	case tenantapi.KindString:
		if t.MaxLength > 0 && utf8.RuneCountInString(s) > t.MaxLength {
			return "must be at most " + strconv.Itoa(t.MaxLength) + " characters"
		}
	case tenantapi.KindEnum:
		if !slices.Contains(t.Labels, s) {
			return "must be " + kindNoun(t)
		}
	case tenantapi.KindUUID:
		if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
			return "must be a UUID"
		}
	case tenantapi.KindDate:
		if _, err := time.Parse("2006-01-02", s); err != nil || !dateText.MatchString(s) {
			return "must be a date (YYYY-MM-DD)"
		}
	case tenantapi.KindTimestamp:
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || ts.Year() < 1 || ts.Year() > 9999 {
			return "must be an RFC 3339 date and time"
		}
	}
	return ""
}

// decodeJSONValue checks a json or jsonb value: at most 64 KiB compact,
// nesting at most 32 deep, numbers PostgreSQL can hold, no U+0000.
func decodeJSONValue(v any, ptr string, fe *fieldErrors) (string, bool) {
	before := len(*fe)
	if depthOf(v) > tenantapi.MaxAttributeDepth {
		fe.add(ptr, "must nest at most 32 levels deep")
		return "", false
	}
	checkNUL(v, ptr, fe)
	checkNumbers(v, ptr, fe)
	if len(*fe) > before {
		return "", false
	}
	raw, err := encodeJSON(v)
	switch {
	case err != nil:
		fe.add(ptr, "must be valid JSON")
	case int64(len(raw))+numericGrowth(v, tenantapi.MaxAttributesSize) > tenantapi.MaxAttributesSize:
		fe.add(ptr, "must be at most 65536 bytes when encoded")
	default:
		return string(raw), true
	}
	return "", false
}

// decodeArray checks a JSON array of t's elements and returns it as the
// JSON array of their texts that the store unpacks (null elements stay
// null).
func decodeArray(t tenantapi.Type, v any, ptr string, fe *fieldErrors) (string, bool) {
	arr, ok := v.([]any)
	if !ok {
		fe.add(ptr, "must be an array")
		return "", false
	}
	elem := t
	elem.Array = false
	b := []byte{'['}
	good := true
	for i, e := range arr {
		if i > 0 {
			b = append(b, ',')
		}
		if e == nil {
			b = append(b, "null"...)
			continue
		}
		text, ok := decodeValue(elem, e, ptr+"/"+strconv.Itoa(i), fe)
		if !ok {
			good = false
			continue
		}
		switch elem.Kind {
		case tenantapi.KindJSON, tenantapi.KindInteger, tenantapi.KindNumeric, tenantapi.KindFloat, tenantapi.KindBoolean:
			b = append(b, text...)
		default:
			b = appendJSONString(b, text)
		}
	}
	if !good {
		return "", false
	}
	b = append(b, ']')
	if len(b) > MaxBodySize {
		fe.add(ptr, "is too large")
		return "", false
	}
	return string(b), true
}

// filterValue decodes a query parameter's value for a filter on a field
// of type t, or returns what is wrong with it.
func filterValue(t tenantapi.Type, s string) (string, string) {
	switch t.Kind {
	case tenantapi.KindInteger, tenantapi.KindNumeric, tenantapi.KindFloat:
		if !numText.MatchString(s) {
			return "", "must be " + kindNoun(t)
		}
		if msg := checkNumber(t, s); msg != "" && t.Kind != tenantapi.KindNumeric {
			return "", msg
		} else if t.Kind == tenantapi.KindNumeric && !numericFits(s) {
			return "", "is a number out of range"
		}
		return s, ""
	case tenantapi.KindBoolean:
		if s != "true" && s != "false" {
			return "", "must be true or false"
		}
		return s, ""
	}
	if !utf8.ValidString(s) {
		return "", "must be valid UTF-8"
	}
	if msg := checkText(t, s); msg != "" {
		return "", msg
	}
	if t.Kind == tenantapi.KindTimestamp {
		ts, _ := time.Parse(time.RFC3339Nano, s)
		return ts.UTC().Format(time.RFC3339Nano), ""
	}
	return s, ""
}
