package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// readOnlyItemFields are accepted in bodies and ignored (an "id" in a PUT or
// PATCH body must still equal the path's).
var readOnlyItemFields = map[string]bool{"id": true, "version": true, "created_at": true, "updated_at": true}

// itemInput validates a POST or PUT body. pathID is the item id of a PUT, or
// nil for a POST. Every problem is reported, each with its JSON Pointer.
func itemInput(obj map[string]any, pathID *uuid.UUID) (tenantapi.ItemInput, error) {
	var fe fieldErrors
	checkItemKeys(obj, pathID, &fe)
	in := tenantapi.ItemInput{Attributes: json.RawMessage("{}")}
	switch name := obj["name"].(type) {
	case string:
		in.Name = name
	case nil:
		fe.add("/name", "is required")
	default:
		fe.add("/name", "must be a string")
	}
	if v, ok := obj["description"]; ok && v != nil {
		if d, ok := v.(string); ok {
			in.Description = d
		} else {
			fe.add("/description", "must be a string")
		}
	}
	attrs := obj["attributes"]
	if attrs == nil {
		attrs = map[string]any{}
	}
	return finishItemInput(in, attrs, fe)
}

// checkItemKeys reports unknown fields and an "id" that differs from the path.
func checkItemKeys(obj map[string]any, pathID *uuid.UUID, fe *fieldErrors) {
	for k, v := range obj {
		switch {
		case k == "name" || k == "description" || k == "attributes":
		case k == "id" && pathID != nil:
			s, _ := v.(string)
			if id, err := uuid.Parse(s); err != nil || id != *pathID {
				fe.add("/id", "must equal the item id in the path")
			}
		case readOnlyItemFields[k]:
		default:
			fe.add("/"+pointerToken(truncate(k, 64)), "is not a known field")
		}
	}
}

// finishItemInput checks the limits of name, description and attributes and
// encodes the attributes compactly.
func finishItemInput(in tenantapi.ItemInput, attrs any, fe fieldErrors) (tenantapi.ItemInput, error) {
	if n := utf8.RuneCountInString(in.Name); n == 0 && fe.missing("/name") {
		fe.add("/name", "must not be empty")
	} else if n > tenantapi.MaxNameLen {
		fe.add("/name", "must be at most 200 characters")
	}
	checkNUL(in.Name, "/name", &fe)
	if utf8.RuneCountInString(in.Description) > tenantapi.MaxDescriptionLen {
		fe.add("/description", "must be at most 10000 characters")
	}
	checkNUL(in.Description, "/description", &fe)
	if _, ok := attrs.(map[string]any); !ok {
		fe.add("/attributes", "must be a JSON object")
	} else if depthOf(attrs) > tenantapi.MaxAttributeDepth {
		fe.add("/attributes", "must nest at most 32 levels deep")
	} else {
		checkNUL(attrs, "/attributes", &fe)
		checkNumbers(attrs, "/attributes", &fe)
		raw, err := encodeJSON(attrs)
		switch {
		case err != nil:
			fe.add("/attributes", "must be valid JSON")
		case int64(len(raw))+numericGrowth(attrs, tenantapi.MaxAttributesSize) > tenantapi.MaxAttributesSize:
			// PostgreSQL prints numbers in full: 1e100000 is 100001 bytes.
			fe.add("/attributes", "must be at most 65536 bytes when encoded")
		default:
			in.Attributes = raw
		}
	}
	return in, fe.err()
}

// missing reports whether no problem is recorded for field yet.
func (fe fieldErrors) missing(field string) bool {
	for _, e := range fe {
		if e.Field == field {
			return false
		}
	}
	return true
}

// applyItemPatch applies an RFC 7396 merge patch to item and validates the
// result. "name": null is a validation failure; null description and
// attributes go back to their defaults.
func applyItemPatch(item tenantapi.Item, patch map[string]any) (tenantapi.ItemInput, error) {
	var fe fieldErrors
	checkItemKeys(patch, &item.ID, &fe)
	in := tenantapi.ItemInput{Name: item.Name, Description: item.Description}
	if v, ok := patch["name"]; ok {
		switch name := v.(type) {
		case string:
			in.Name = name
		case nil:
			fe.add("/name", "must not be null")
		default:
			fe.add("/name", "must be a string")
		}
	}
	if v, ok := patch["description"]; ok {
		switch d := v.(type) {
		case string:
			in.Description = d
		case nil:
			in.Description = ""
		default:
			fe.add("/description", "must be a string")
		}
	}
	var attrs any = map[string]any{}
	if v, ok := patch["attributes"]; !ok || v != nil {
		current, err := decodeStored(item.Attributes)
		if err != nil {
			return tenantapi.ItemInput{}, err
		}
		attrs = current
		if ok {
			attrs = mergePatch(current, v)
		}
	}
	return finishItemInput(in, attrs, fe)
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

// timeFormat is RFC 3339 in UTC with exactly 6 fractional digits.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// appendItem appends the JSON of an item. It is hand-written because it is
// on every request's path and the shape never changes. The attributes are
// copied as they are (the database's jsonb text), never re-encoded.
func appendItem(b []byte, it tenantapi.Item) []byte {
	b = appendItemHead(b, it)
	if len(it.Attributes) == 0 {
		b = append(b, "{}"...)
	} else {
		b = append(b, it.Attributes...)
	}
	return appendItemTail(b, it)
}

// appendItemHead appends the JSON of an item up to its attributes, and
// appendItemTail what follows them: an idempotent create stores the body in
// these two parts, with the database's text of the attributes between.
func appendItemHead(b []byte, it tenantapi.Item) []byte {
	b = append(b, `{"id":"`...)
	b = appendUUID(b, it.ID)
	b = append(b, `","name":`...)
	b = appendString(b, it.Name)
	b = append(b, `,"description":`...)
	b = appendString(b, it.Description)
	return append(b, `,"attributes":`...)
}

func appendItemTail(b []byte, it tenantapi.Item) []byte {
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, it.Version, 10)
	b = append(b, `,"created_at":"`...)
	b = appendTime(b, it.CreatedAt)
	b = append(b, `","updated_at":"`...)
	b = appendTime(b, it.UpdatedAt)
	return append(b, `"}`...)
}

// appendTime appends t in timeFormat. It writes the digits itself, several
// times faster than AppendFormat (two per item, fifty items to a page);
// years outside 0–9999, which that layout prints otherwise, go through
// AppendFormat.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeFormat)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends the n low decimal digits of v (0 ≤ v < 10ⁿ), with
// leading zeros.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "000000"[:n]...)
	for i := len(b) - 1; v > 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// appendUUID appends id in its canonical 8-4-4-4-12 form.
func appendUUID(b []byte, id uuid.UUID) []byte {
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. s is valid UTF-8 (it came from
// PostgreSQL text); control characters, quotes and backslashes are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// formatTime formats t as the API does.
func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }
