package fakerdsdata

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// appendField appends f as the Field union's JSON: one member.
func appendField(b []byte, f field) []byte {
	b = append(b, `{"`...)
	b = append(b, f.member...)
	b = append(b, `":`...)
	switch f.member {
	case "isNull", "booleanValue":
		b = strconv.AppendBool(b, f.b)
	case "longValue":
		b = strconv.AppendInt(b, f.n, 10)
	case "doubleValue":
		b = appendDouble(b, f.f)
	case "stringValue":
		b = appendString(b, f.s)
	case "blobValue":
		b = appendString(b, encodeBlob(f.blob))
	case "arrayValue":
		b = appendArray(b, f.array)
	}
	return append(b, '}')
}

// appendArray appends a as the ArrayValue union's JSON.
func appendArray(b []byte, a *arrayValue) []byte {
	b = append(b, `{"`...)
	b = append(b, a.member...)
	b = append(b, `":[`...)
	n := max(len(a.bools), len(a.longs), len(a.doubles), len(a.strings))
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		switch a.member {
		case "booleanValues":
			if a.bools[i] == nil {
				b = append(b, "null"...)
			} else {
				b = strconv.AppendBool(b, *a.bools[i])
			}
		case "longValues":
			if a.longs[i] == nil {
				b = append(b, "null"...)
			} else {
				b = strconv.AppendInt(b, *a.longs[i], 10)
			}
		case "doubleValues":
			if a.doubles[i] == nil {
				b = append(b, "null"...)
			} else {
				b = appendDouble(b, *a.doubles[i])
			}
		default:
			if a.strings[i] == nil {
				b = append(b, "null"...)
			} else {
				b = appendString(b, *a.strings[i])
			}
		}
	}
	return append(b, "]}"...)
}

// appendDouble appends a double as the service's Java side writes it
// (10.0, 4.9E-324); NaN and the infinities are strings, which the SDK
// decodes.
func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return append(b, javaDouble(f)...)
}

// javaDouble formats f like Java's Double.toString: plain between 10^-3
// and 10^7, computerized scientific notation otherwise, and always with a
// fractional digit.
func javaDouble(f float64) string {
	abs := math.Abs(f)
	if f == 0 || abs >= 1e-3 && abs < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mantissa, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mantissa, ".") {
		mantissa += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
	if neg {
		exp = "-" + exp
	}
	return mantissa + "E" + exp
}

func appendString(b []byte, s string) []byte {
	enc, _ := json.Marshal(s)
	return append(b, enc...)
}

// appendJSONValue appends f as a value of formattedRecords: numbers,
// strings, true, false, null and arrays, as the Data API's JSON format
// maps them.
func appendJSONValue(b []byte, f field) []byte {
	switch f.member {
	case "isNull":
		return append(b, "null"...)
	case "booleanValue":
		return strconv.AppendBool(b, f.b)
	case "longValue":
		return strconv.AppendInt(b, f.n, 10)
	case "doubleValue":
		return appendDouble(b, f.f)
	case "stringValue":
		return appendString(b, f.s)
	case "blobValue":
		return appendString(b, encodeBlob(f.blob))
	case "arrayValue":
		a := f.array
		b = append(b, '[')
		n := max(len(a.bools), len(a.longs), len(a.doubles), len(a.strings))
		for i := 0; i < n; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			switch {
			case a.member == "booleanValues" && a.bools[i] != nil:
				b = strconv.AppendBool(b, *a.bools[i])
			case a.member == "longValues" && a.longs[i] != nil:
				b = strconv.AppendInt(b, *a.longs[i], 10)
			case a.member == "doubleValues" && a.doubles[i] != nil:
				b = appendDouble(b, *a.doubles[i])
			case a.member == "stringValues" && a.strings[i] != nil:
				b = appendString(b, *a.strings[i])
			default:
				b = append(b, "null"...)
			}
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}
