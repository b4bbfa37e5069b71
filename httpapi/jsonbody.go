package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tenantapi/tenantapi"
)

// MaxBodySize is the largest request body accepted (SPEC §4: 413 above it).
const MaxBodySize = 1 << 20

// maxParseDepth bounds how deep the parser builds values; anything deeper
// becomes tooDeep, which validation reports. It keeps hostile nesting from
// costing more than its bytes.
const maxParseDepth = tenantapi.MaxAttributeDepth + 8

// tooDeep stands for a value nested deeper than maxParseDepth.
type tooDeep struct{}

// errTooLarge is the 413 of a body over MaxBodySize.
var errTooLarge = tenantapi.Errorf(tenantapi.CodePayloadTooLarge, "the body must be at most %d bytes", MaxBodySize)

// readBody returns the request body, at most MaxBodySize bytes (413 beyond).
// Its media type, and a size the request declares, the endpoint's
// declaration has checked before the query (checkShape).
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodySize {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil {
		return nil, tenantapi.Wrap(tenantapi.CodeMalformedJSON, err, "the body could not be read")
	}
	if len(body) > MaxBodySize {
		return nil, errTooLarge
	}
	return body, nil
}

// mediaType returns the media type a Content-Type header names, "" when
// it names none.
func mediaType(header string) string {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return ""
	}
	return mt
}

// parseJSON parses body strictly: valid UTF-8, exactly one JSON value, no
// duplicate key in any object. Objects become map[string]any, numbers
// json.Number. Anything else is CodeMalformedJSON.
//
// It reads the bytes itself, in one pass: encoding/json's Decoder.Token,
// which it replaces, builds an error message for almost every token.
// Strings with escapes are still unquoted by encoding/json.
func parseJSON(body []byte) (any, error) {
	if !utf8.Valid(body) {
		return nil, tenantapi.Errorf(tenantapi.CodeMalformedJSON, "the body is not valid UTF-8")
	}
	p := jsonParser{b: body}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.skipSpace(); p.i < len(p.b) {
		return nil, tenantapi.Errorf(tenantapi.CodeMalformedJSON, "the body has data after the JSON value")
	}
	return v, nil
}

var errMalformed = tenantapi.Errorf(tenantapi.CodeMalformedJSON, "the body is not valid JSON")

// jsonParser reads one JSON value (RFC 8259) from b at i.
type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and reports the next byte, 0 at the end.
func (p *jsonParser) next() byte {
	p.skipSpace()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// value parses the value at p.i. Objects and arrays at maxParseDepth and
// deeper become tooDeep: their syntax is checked (by skip, without
// recursion) but their keys are not checked for duplicates.
func (p *jsonParser) value(depth int) (any, error) {
	switch c := p.next(); {
	case (c == '{' || c == '[') && depth >= maxParseDepth:
		return tooDeep{}, p.skip()
	case c == '{':
		obj := map[string]any{}
		for more := p.open('}'); more; {
			if p.next() != '"' {
				return nil, errMalformed
			}
			k, err := p.string()
			if err != nil {
				return nil, err
			}
			if _, dup := obj[k]; dup {
				return nil, tenantapi.Errorf(tenantapi.CodeMalformedJSON, "the body has a duplicate key %s", strconv.Quote(truncate(k, 64)))
			}
			if p.next() != ':' {
				return nil, errMalformed
			}
			p.i++
			if obj[k], err = p.value(depth + 1); err != nil {
				return nil, err
			}
			if more, err = p.after('}'); err != nil {
				return nil, err
			}
		}
		return capDepth(obj, depth), nil
	case c == '[':
		arr := []any{}
		for more := p.open(']'); more; {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
			if more, err = p.after(']'); err != nil {
				return nil, err
			}
		}
		return capDepth(arr, depth), nil
	case c == '"':
		return p.string()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, errMalformed
}

// skip checks the syntax of the object or array at p.i and moves past it,
// keeping only a byte per open level: hostile nesting (a mebibyte of "[")
// costs no more than its bytes, where a level of recursion each would take
// a quarter of a gigabyte of stack.
func (p *jsonParser) skip() error {
	var open []byte // the closing byte of each open object or array
	for {
		// A value is expected at p.i.
		switch c := p.next(); {
		case c == '{' || c == '[':
			closing := byte('}')
			if c == '[' {
				closing = ']'
			}
			if !p.open(closing) {
				break // empty: a complete value
			}
			open = append(open, closing)
			if closing == '}' {
				if err := p.key(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if err := p.skipString(); err != nil {
				return err
			}
		case c == '-' || c >= '0' && c <= '9':
			if _, err := p.number(); err != nil {
				return err
			}
		case c == 't':
			if err := p.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := p.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := p.literal("null"); err != nil {
				return err
			}
		default:
			return errMalformed
		}
		// A value is complete: close what it completes, then expect the
		// next element, or stop when nothing is open.
		for {
			if len(open) == 0 {
				return nil
			}
			closing := open[len(open)-1]
			more, err := p.after(closing)
			if err != nil {
				return err
			}
			if more {
				if closing == '}' {
					if err := p.key(); err != nil {
						return err
					}
				}
				break
			}
			open = open[:len(open)-1]
		}
	}
}

// key checks an object's key and the colon after it.
func (p *jsonParser) key() error {
	if p.next() != '"' {
		return errMalformed
	}
	if err := p.skipString(); err != nil {
		return err
	}
	if p.next() != ':' {
		return errMalformed
	}
	p.i++
	return nil
}

// skipString checks the string at p.i without keeping it.
func (p *jsonParser) skipString() error {
	_, err := p.string()
	return err
}

// open consumes the opening byte of an object or array and reports whether
// elements follow; if the closing byte does, it consumes it too.
func (p *jsonParser) open(closing byte) bool {
	p.i++
	if p.next() == closing {
		p.i++
		return false
	}
	return true
}

// after consumes what follows an element of an object or array: a comma
// (more elements follow) or the closing byte.
func (p *jsonParser) after(closing byte) (more bool, err error) {
	switch p.next() {
	case ',':
		p.i++
		return true, nil
	case closing:
		p.i++
		return false, nil
	}
	return false, errMalformed
}

// capDepth returns v, an object or array at depth, or tooDeep beyond
// maxParseDepth.
func capDepth(v any, depth int) any {
	if depth >= maxParseDepth {
		return tooDeep{}
	}
	return v
}

func (p *jsonParser) literal(lit string) error {
	if !bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
		return errMalformed
	}
	p.i += len(lit)
	return nil
}

// string parses the string at p.i, its opening quote.
func (p *jsonParser) string() (string, error) {
	start := p.i
	p.i++
	escaped := false
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			if !escaped {
				return string(p.b[start+1 : p.i-1]), nil
			}
			// Escapes, surrogates included, are unquoted exactly as
			// encoding/json does, which also checks them.
			var s string
			if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
				return "", errMalformed
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.i++ // the escaped byte is never the closing quote
		case c < 0x20:
			return "", errMalformed
		}
	}
	return "", errMalformed
}

// number parses the number at p.i as json.Number, its text as it is.
func (p *jsonParser) number() (json.Number, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.digits() == 0:
		return "", errMalformed
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return "", errMalformed
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return "", errMalformed
		}
	}
	return json.Number(p.b[start:p.i]), nil
}

// digits skips decimal digits and returns how many there were.
func (p *jsonParser) digits() int {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// pointerToken escapes a key for a JSON Pointer (RFC 6901).
func pointerToken(k string) string {
	if !strings.ContainsAny(k, "~/") {
		return k // nearly every key: no allocation
	}
	return pointerEscaper.Replace(k)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// encodeJSON encodes v, a value parseJSON made (objects, arrays, strings,
// json.Number, booleans, nil), compactly without HTML escaping: the bytes
// encoding/json's Encoder (SetEscapeHTML(false)) writes for it, keys in
// sorted order, without its reflection (a third of a POST's decoding).
// Anything else is an error.
func encodeJSON(v any) ([]byte, error) {
	return appendJSON(make([]byte, 0, 64), v)
}

func appendJSON(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case json.Number:
		if !json.Valid([]byte(x)) {
			return nil, fmt.Errorf("invalid number %q", string(x))
		}
		return append(dst, x...), nil
	case string:
		return appendJSONString(dst, x), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSON(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(appendJSONString(dst, k), ':')
			var err error
			if dst, err = appendJSON(dst, x[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return nil, fmt.Errorf("cannot encode %T", v)
}

// hexDigits are the digits of \u escapes.
const hexDigits = "0123456789abcdef"

// appendJSONString appends s (valid UTF-8, as parseJSON checked) quoted as
// encoding/json quotes it without HTML escaping: \", \\, \b, \f, \n,
// \r, \t, other control characters as \u00XX, U+2028 and U+2029 as
// \u2028 and \u2029.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// fieldErrors collects validation problems of one body.
type fieldErrors []tenantapi.FieldError

func (fe *fieldErrors) add(field, message string) {
	if len(*fe) < 50 {
		*fe = append(*fe, tenantapi.FieldError{Field: field, Message: message})
	}
}

// err returns the collected problems as one CodeValidationFailed error, or nil.
func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &tenantapi.Error{Code: tenantapi.CodeValidationFailed, Detail: "the body has invalid fields", Fields: fe}
}

// checkNUL reports every string or key under v that contains U+0000.
func checkNUL(v any, ptr string, fe *fieldErrors) {
	switch t := v.(type) {
	case string:
		if strings.ContainsRune(t, 0) {
			fe.add(ptr, "must not contain U+0000")
		}
	case map[string]any:
		for k, e := range t {
			p := ptr + "/" + pointerToken(k)
			if strings.ContainsRune(k, 0) {
				fe.add(p, "keys must not contain U+0000")
			}
			checkNUL(e, p, fe)
		}
	case []any:
		for i, e := range t {
			checkNUL(e, ptr+"/"+strconv.Itoa(i), fe)
		}
	}
}

// checkNumbers reports every number under v that PostgreSQL's numeric type,
// which jsonb stores numbers in, cannot hold; the database would refuse the
// whole value.
func checkNumbers(v any, ptr string, fe *fieldErrors) {
	switch t := v.(type) {
	case json.Number:
		if !numericFits(string(t)) {
			fe.add(ptr, "is a number out of range")
		}
	case map[string]any:
		for k, e := range t {
			checkNumbers(e, ptr+"/"+pointerToken(k), fe)
		}
	case []any:
		for i, e := range t {
			checkNumbers(e, ptr+"/"+strconv.Itoa(i), fe)
		}
	}
}

// numericFits reports whether the JSON number literal n fits PostgreSQL's
// numeric: an exponent of magnitude below 2^30-1, at most 16383 digits after
// the decimal point once the exponent is applied, and a most significant
// digit at most 10^131071.
func numericFits(n string) bool {
	msd, scale, zero, ok := parseNumeric(n)
	return ok && scale <= 16383 && (zero || msd <= 131071)
}

// numericTextLen returns how many bytes PostgreSQL prints for the JSON
// number literal n. It prints numeric without an exponent, so 1e100000
// comes back as 100001 digits; n must fit (numericFits).
func numericTextLen(n string) int64 {
	msd, scale, zero, _ := parseNumeric(n)
	size := int64(1) // the integer part, at least "0"
	if !zero && msd > 0 {
		size = msd + 1
	}
	if scale > 0 {
		size += 1 + scale
	}
	if strings.HasPrefix(n, "-") && !zero {
		size++
	}
	return size
}

// parseNumeric reads a JSON number literal as PostgreSQL's numeric_in does:
// msd is the decimal exponent of its most significant non-zero digit, scale
// the number of digits after the decimal point once the exponent is applied
// (never negative). ok is false for an exponent PostgreSQL refuses outright.
func parseNumeric(n string) (msd, scale int64, zero, ok bool) {
	n = strings.TrimPrefix(n, "-")
	mant, exp, _ := strings.Cut(strings.ToLower(n), "e")
	e := int64(0)
	if exp != "" {
		neg := exp[0] == '-'
		exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
		if len(exp) > 10 {
			return 0, 0, false, false
		}
		if exp != "" {
			v, err := strconv.ParseInt(exp, 10, 64)
			if err != nil || v >= 1<<30-1 {
				return 0, 0, false, false
			}
			e = v
		}
		if neg {
			e = -e
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	scale = max(0, int64(len(frac))-e)
	digits := intPart + frac
	first := strings.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		return 0, scale, true, true
	}
	return int64(len(intPart)-1-first) + e, scale, false, true
}

// numericGrowth returns how many bytes longer than their literals the
// numbers under v come back from PostgreSQL, counting up to limit.
func numericGrowth(v any, limit int64) int64 {
	var grow int64
	var walk func(v any)
	walk = func(v any) {
		if grow > limit {
			return
		}
		switch t := v.(type) {
		case json.Number:
			if numericFits(string(t)) {
				grow += max(0, numericTextLen(string(t))-int64(len(t)))
			}
		case map[string]any:
			for _, e := range t {
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return grow
}

// depthOf returns how deep v nests: a scalar is 0, an empty object 1.
func depthOf(v any) int {
	switch t := v.(type) {
	case tooDeep:
		return maxParseDepth + 1
	case map[string]any:
		d := 0
		for _, e := range t {
			d = max(d, depthOf(e))
		}
		return d + 1
	case []any:
		d := 0
		for _, e := range t {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}

// decodeObject parses body and returns it as a JSON object; a valid JSON
// body that is not an object is a validation failure.
func decodeObject(body []byte) (map[string]any, error) {
	v, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &tenantapi.Error{Code: tenantapi.CodeValidationFailed, Detail: "the body must be a JSON object",
			Fields: []tenantapi.FieldError{{Field: "", Message: "must be a JSON object"}}}
	}
	return obj, nil
}

// asError reports whether err is an *Error with code.
func asError(err error, code tenantapi.Code) bool {
	var e *tenantapi.Error
	return errors.As(err, &e) && e.Code == code
}
