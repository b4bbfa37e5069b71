package httpapi

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Log lines and traces share one id, trace_id, so that an operator can go
// from a slow trace to its log lines and back, with or without an
// exporter. requestTraceID reads it from the request once, in accessLog,
// and the access line and the error line of the request both carry it:
//
//   - X-Amzn-Trace-Id with a valid Root (1-<8 hex>-<24 hex>): the Root as
//     it came, in X-Ray's form. API Gateway and load balancers send it; on
//     Lambda it is the invocation's header (awslambda puts it on the
//     request), so the id is that of the function's X-Ray trace.
//   - else a valid W3C traceparent: its trace id, 32 hex digits.
//   - else none: the lines leave trace_id out. No id is made up for them,
//     since no trace would have it; X-Request-ID is the request's handle.
//
// With tracing on, the request's span decides (spanTraceID): the lines carry
// the span's trace, in X-Ray's form when the span continues the X-Ray
// header, else as 32 hex digits (a trace the span started, or one of a
// header the propagator did not take). Header values that fail these checks
// never reach the log: they are the caller's input.

// TraceID returns the trace id of the log lines of the request that ctx
// belongs to, or "" outside a request or for a request without one. Other
// packages' lines written during a request add it with this.
func TraceID(ctx context.Context) string {
	if info, ok := ctx.Value(logInfoKey).(*logInfo); ok {
		return info.trace
	}
	return ""
}

// Canonical header names, so that reading them costs a map lookup only.
const (
	headerXRayTrace   = "X-Amzn-Trace-Id"
	headerTraceparent = "Traceparent"
)

// requestTraceID returns the trace id of a request's headers, or "". It
// never allocates: the id is a part of the header value.
func requestTraceID(h http.Header) string {
	if v := h[headerXRayTrace]; len(v) > 0 {
		if id := xrayRoot(v[0]); id != "" {
			return id
		}
	}
	if v := h[headerTraceparent]; len(v) > 0 {
		return traceparentID(v[0])
	}
	return ""
}

// xrayRoot returns the Root of an X-Amzn-Trace-Id value ("Root=1-…-…;
// Parent=…;Sampled=…", in any order, spaces allowed around fields) when it
// is a valid X-Ray trace id: "1-", 8 lowercase hex digits (the start time),
// "-", 24 lowercase hex digits, not all zero. Else "".
func xrayRoot(v string) string {
	for v != "" {
		var field string
		field, v, _ = strings.Cut(v, ";")
		field = strings.TrimSpace(field)
		if root, ok := strings.CutPrefix(field, "Root="); ok {
			if len(root) != 35 || root[0] != '1' || root[1] != '-' || root[10] != '-' {
				return ""
			}
			epoch, nz1 := lowerHex(root[2:10])
			unique, nz2 := lowerHex(root[11:])
			if !epoch || !unique || !nz1 && !nz2 {
				return ""
			}
			return root
		}
	}
	return ""
}

// traceparentID returns the trace id of a W3C traceparent value
// ("<version>-<trace id>-<parent id>-<flags>") as the propagator takes it:
// a version other than ff, a trace id of 32 and a parent id of 16
// lowercase hex digits, neither all zero, two hex digits of flags; version
// 00 has nothing after the flags and no flags beyond 03, a later version
// may have more fields after a "-". Else "".
func traceparentID(v string) string {
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return ""
	}
	version, _ := lowerHex(v[:2])
	traceID, nzTrace := lowerHex(v[3:35])
	parentID, nzParent := lowerHex(v[36:52])
	flags, _ := lowerHex(v[53:55])
	if !version || v[:2] == "ff" || !traceID || !nzTrace || !parentID || !nzParent || !flags {
		return ""
	}
	if v[:2] == "00" && (len(v) != 55 || v[53] != '0' || v[54] > '3') {
		return ""
	}
	if len(v) > 55 && v[55] != '-' {
		return ""
	}
	return v[3:35]
}

// lowerHex reports whether s is all lowercase hex digits, and whether one
// of them is not 0.
func lowerHex(s string) (ok, nonZero bool) {
	all, some := uint8(hexDigit), uint8(0)
	for i := 0; i < len(s); i++ {
		c := hexClass[s[i]]
		all &= c
		some |= c
	}
	return all&hexDigit != 0, some&hexNonZero != 0
}

// hexClass classes bytes for lowerHex, without a branch per byte.
var hexClass = func() (t [256]uint8) {
	for _, c := range []byte("0123456789abcdef") {
		t[c] = hexDigit | hexNonZero
	}
	t['0'] = hexDigit
	return t
}()

const (
	hexDigit   = 1 << iota // a lowercase hex digit
	hexNonZero             // one other than 0
)

// spanTraceID returns the trace id the log lines of a request with a span
// of trace id carry, given the one its headers gave (logged): logged when
// it names the same trace, so that the X-Ray form stays, else the span's
// as 32 hex digits. An invalid id (no span) leaves logged.
func spanTraceID(logged string, id trace.TraceID) string {
	if !id.IsValid() {
		return logged
	}
	var buf [32]byte
	hex.Encode(buf[:], id[:])
	switch {
	case len(logged) == 35 && string(buf[:8]) == logged[2:10] && string(buf[8:]) == logged[11:]:
		return logged
	case string(buf[:]) == logged:
		return logged
	}
	return string(buf[:])
}
