package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	testXRayRoot   = "1-5759e988-bd862e3fe1be46a994272793"
	testXRayHeader = "Root=" + testXRayRoot + ";Parent=53995c3f42cd8ad8;Sampled=1"
	testW3CTrace   = "0af7651916cd43dd8448eb211c80319c"
	testW3CHeader  = "00-" + testW3CTrace + "-b7ad6b7169203331-01"
)

// traceIDCases are trace headers and the trace id the log lines take from
// them ("" for none).
var traceIDCases = []struct {
	name, xray, traceparent, want string
}{
	{name: "none"},
	{name: "xray", xray: testXRayHeader, want: testXRayRoot},
	{name: "xray root only (a load balancer)", xray: "Root=" + testXRayRoot, want: testXRayRoot},
	{name: "xray fields in another order, spaces", xray: "Sampled=1; Parent=53995c3f42cd8ad8 ;  Root=" + testXRayRoot + " ", want: testXRayRoot},
	{name: "xray Self before Root", xray: "Self=1-67891234-12456789abcdef012345678;Root=" + testXRayRoot, want: testXRayRoot},
	{name: "traceparent", traceparent: testW3CHeader, want: testW3CTrace},
	{name: "traceparent unsampled", traceparent: "00-" + testW3CTrace + "-b7ad6b7169203331-00", want: testW3CTrace},
	{name: "traceparent of a later version with more fields", traceparent: "01-" + testW3CTrace + "-b7ad6b7169203331-01-later", want: testW3CTrace},
	{name: "both: X-Ray wins", xray: testXRayHeader, traceparent: testW3CHeader, want: testXRayRoot},
	{name: "bad X-Ray, good traceparent", xray: "Root=1-5759e988-BD862E3FE1BE46A994272793;Parent=53995c3f42cd8ad8", traceparent: testW3CHeader, want: testW3CTrace},

	{name: "xray uppercase hex", xray: "Root=1-5759E988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
	{name: "xray short", xray: "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8;Sampled=1"},
	{name: "xray long", xray: "Root=1-5759e988-bd862e3fe1be46a9942727933;Parent=53995c3f42cd8ad8;Sampled=1"},
	{name: "xray version 2", xray: "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
	{name: "xray all zero", xray: "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8;Sampled=1"},
	{name: "xray not hex", xray: "Root=1-5759e988-bd862e3fe1be46a99427279g;Parent=53995c3f42cd8ad8;Sampled=1"},
	{name: "xray misplaced dash", xray: "Root=1-5759e98-8bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
	{name: "xray no Root", xray: "Parent=53995c3f42cd8ad8;Sampled=1"},
	{name: "xray garbage", xray: `Root=not-a-trace-id;Parent=x`},
	{name: "xray markup", xray: `<script>alert("x")</script>`},
	{name: "traceparent all-zero trace", traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01"},
	{name: "traceparent all-zero parent", traceparent: "00-" + testW3CTrace + "-0000000000000000-01"},
	{name: "traceparent version ff", traceparent: "ff-" + testW3CTrace + "-b7ad6b7169203331-01"},
	{name: "traceparent uppercase", traceparent: "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"},
	{name: "traceparent 00 with more fields", traceparent: testW3CHeader + "-later"},
	{name: "traceparent 00 with reserved flags", traceparent: "00-" + testW3CTrace + "-b7ad6b7169203331-09"},
	{name: "traceparent later version, no dash after flags", traceparent: "01-" + testW3CTrace + "-b7ad6b7169203331-01x"},
	{name: "traceparent short", traceparent: "00-" + testW3CTrace[1:] + "-b7ad6b7169203331-01"},
	{name: "traceparent garbage", traceparent: "00-zzzz"},
}

// TestRequestTraceID checks the parsing against the cases, and against the
// propagators that start the span: a header the log takes is one they
// continue, with the same trace, and one it refuses they refuse too.
func TestRequestTraceID(t *testing.T) {
	for _, tc := range traceIDCases {
		h := http.Header{}
		if tc.xray != "" {
			h.Set("X-Amzn-Trace-Id", tc.xray)
		}
		if tc.traceparent != "" {
			h.Set("traceparent", tc.traceparent)
		}
		if got := requestTraceID(h); got != tc.want {
			t.Errorf("%s: trace id %q, want %q", tc.name, got, tc.want)
		}
		if tc.traceparent != "" {
			sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h)))
			if got := traceparentID(tc.traceparent); sc.IsValid() != (got != "") || got != "" && sc.TraceID().String() != got {
				t.Errorf("%s: log trace %q, the propagator's %v (valid %v)", tc.name, got, sc.TraceID(), sc.IsValid())
			}
		}
		if tc.xray != "" && strings.Contains(tc.xray, "Parent=") && !strings.Contains(tc.xray, " ") {
			sc := trace.SpanContextFromContext(xray.Propagator{}.Extract(context.Background(), propagation.HeaderCarrier(h)))
			got := xrayRoot(tc.xray)
			if sc.IsValid() != (got != "") || got != "" && spanTraceID(got, sc.TraceID()) != got {
				t.Errorf("%s: log trace %q, the propagator's %v (valid %v)", tc.name, got, sc.TraceID(), sc.IsValid())
			}
		}
	}
}

// logLines returns the JSON log lines of logs by message.
func logLines(t *testing.T, logs string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out[m["msg"].(string)] = append(out[m["msg"].(string)], m)
	}
	return out
}

// serveTraced serves one request with the trace headers given to path on
// a server whose /readyz fails as fail says ("", "error" with a cause, 503,
// or "panic", 500), with tracing on when tp is set, and returns its access
// line and its error line (nil when there is none). No header value reaches
// the log as it came.
func serveTraced(t *testing.T, tp trace.TracerProvider, path, fail, xrayHeader, traceparent string) (access, failed map[string]any) {
	t.Helper()
	var logs bytes.Buffer // ServeHTTP logs on this goroutine
	s, err := NewServer(Config{TracerProvider: tp, Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, xray.Propagator{})},
		Stores{Ready: func(context.Context) error {
			switch fail {
			case "error":
				return errors.New("the database is gone")
			case "panic":
				panic("boom")
			}
			return nil
		}}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if xrayHeader != "" {
		r.Header.Set("X-Amzn-Trace-Id", xrayHeader)
	}
	if traceparent != "" {
		r.Header.Set("traceparent", traceparent)
	}
	s.ServeHTTP(httptest.NewRecorder(), r)
	lines := logLines(t, logs.String())
	if len(lines["request"]) != 1 {
		t.Fatalf("want one access line, got:\n%s", logs.String())
	}
	access = lines["request"][0]
	if fail != "" {
		if len(lines["request failed"]) != 1 {
			t.Fatalf("want one error line, got:\n%s", logs.String())
		}
		failed = lines["request failed"][0]
	}
	for _, v := range []string{xrayHeader, traceparent} {
		if v != "" && strings.Contains(logs.String(), v) {
			t.Errorf("the header value %q reached the log: %s", v, logs.String())
		}
	}
	return access, failed
}

// TestTraceIDInLogLines checks, with tracing off, that the access line and
// the error line (a failure with a cause, and a panic) carry the trace id
// of the request's headers, or none.
func TestTraceIDInLogLines(t *testing.T) {
	for _, tc := range traceIDCases {
		for _, fail := range []string{"", "error", "panic"} {
			access, failed := serveTraced(t, nil, "/readyz", fail, tc.xray, tc.traceparent)
			for _, line := range []map[string]any{access, failed} {
				if line == nil {
					continue
				}
				got, ok := line["trace_id"]
				if tc.want == "" && ok || tc.want != "" && got != tc.want {
					t.Errorf("%s, %q: %s line trace_id %v, want %q", tc.name, fail, line["msg"], got, tc.want)
				}
			}
		}
	}
}

// TestTraceIDFollowsTheSpan checks, with tracing on, that the lines carry
// the trace of the request's span: the header's when the span continues
// it (X-Ray's form kept), else the span's own as 32 hex digits.
func TestTraceIDFollowsTheSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(exp)), sdktrace.WithIDGenerator(xray.NewIDGenerator()))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	cases := append(traceIDCases[:0:0], traceIDCases...)
	cases = append(cases, struct{ name, xray, traceparent, want string }{
		name: "xray root only, with traceparent", xray: "Root=" + testXRayRoot, traceparent: testW3CHeader, want: testW3CTrace})
	for _, tc := range cases {
		exp.Reset()
		access, failed := serveTraced(t, tp, "/readyz", "error", tc.xray, tc.traceparent)
		spans := exp.GetSpans()
		want := tc.want
		if strings.HasSuffix(tc.traceparent, "-00") && tc.xray == "" {
			// Not sampled: no span is recorded; the lines keep the
			// caller's trace, which the unrecorded span continues.
			if len(spans) != 0 || access["trace_id"] != want || failed["trace_id"] != want {
				t.Errorf("%s: %d spans, lines %v, %v", tc.name, len(spans), access["trace_id"], failed["trace_id"])
			}
			continue
		}
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans", tc.name, len(spans))
		}
		span := spans[0].SpanContext.TraceID().String()
		if want == "" || strings.ReplaceAll(strings.TrimPrefix(want, "1-"), "-", "") != span {
			// The span did not continue a header (none came, or the
			// propagator refused an X-Ray header without a Parent).
			want = span
		}
		for _, line := range []map[string]any{access, failed} {
			if line["trace_id"] != want {
				t.Errorf("%s: %s line trace_id %v, want %s (span trace %s)", tc.name, line["msg"], line["trace_id"], want, span)
			}
		}
	}
}

// benchTraceHeaders are the headers of the benchmarks: none and each kind
// of trace header.
var benchTraceHeaders = []struct {
	name   string
	header http.Header
}{
	{"none", http.Header{}},
	{"xray", http.Header{"X-Amzn-Trace-Id": {testXRayHeader}}},
	{"traceparent", http.Header{"Traceparent": {testW3CHeader}}},
}

// BenchmarkAccessLog measures a request whose access line is written (a
// JSON handler at INFO), without a trace header and with each kind.
//
//	go test ./httpapi -run '^$' -bench AccessLog -benchmem
func BenchmarkAccessLog(b *testing.B) {
	s, err := NewServer(Config{}, Stores{}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range benchTraceHeaders {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			req.Header = bc.header
			b.ReportAllocs()
			for b.Loop() {
				s.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// BenchmarkRequestTraceID measures reading the trace id of each kind of
// header, which every request pays.
func BenchmarkRequestTraceID(b *testing.B) {
	for _, bc := range benchTraceHeaders {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				requestTraceID(bc.header)
			}
		})
	}
}
