package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

func attrOf(kvs []attribute.KeyValue, key string) string {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTracing serves requests with tracing on and an in-memory exporter:
// one server span per request that continues the X-Ray trace of the
// caller, with the route and tenant, and a client span per database call
// beneath it.
func TestTracing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter()
	tr := newTracingWith(sdktrace.NewSimpleSpanProcessor(exp), "tenantapi", "test")
	t.Cleanup(tr.shutdown)

	url := testdb.New(t)
	db, err := postgres.Open(ctx, postgres.Config{URL: url, TenantRoles: true, TracerProvider: tr.provider})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := migrate(ctx, db, "", 4, nil); err != nil {
		t.Fatal(err)
	}
	cfg := newEnv(func(string) string { return "" }).server()
	cfg.AdminToken = testAdminToken
	cfg.tracing = tr
	logs := &syncBuffer{}
	api, err := newAPI(cfg, db, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e := &apiEnv{t: t, url: url, db: db, srv: srv, api: api, logs: logs, cfg: cfg, keyOf: map[string]string{}}
	e.tenant("acme")
	exp.Reset()

	const xrayHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	r := e.as("acme", "GET", "/items", "", "X-Amzn-Trace-Id", xrayHeader)
	expect(t, r, 200, "")

	spans := exp.GetSpans()
	for _, s := range spans {
		t.Logf("span %q kind=%s trace=%s span=%s parent=%s remote=%v attrs=%v", s.Name, s.SpanKind, s.SpanContext.TraceID(),
			s.SpanContext.SpanID(), s.Parent.SpanID(), s.Parent.IsRemote(), s.Attributes)
	}
	var server *tracetest.SpanStub
	for i := range spans {
		if spans[i].SpanKind == trace.SpanKindServer {
			server = &spans[i]
		}
	}
	if server == nil {
		t.Fatalf("no server span among %d", len(spans))
	}
	if got := server.SpanContext.TraceID().String(); got != "5759e988bd862e3fe1be46a994272793" {
		t.Errorf("trace id %s does not continue the X-Ray header", got)
	}
	if got := accessLine(t, logs, r)["trace_id"]; got != "1-5759e988-bd862e3fe1be46a994272793" {
		t.Errorf("access line trace_id %v, want the X-Ray Root", got)
	}
	if got := server.Parent.SpanID().String(); got != "53995c3f42cd8ad8" || !server.Parent.IsRemote() {
		t.Errorf("parent %s (remote %v), want the caller's 53995c3f42cd8ad8", got, server.Parent.IsRemote())
	}
	if server.Name != "GET /items" || attrOf(server.Attributes, "tenant.id") != "acme" ||
		attrOf(server.Attributes, "http.route") != "/items" || attrOf(server.Attributes, "http.response.status_code") != "200" ||
		attrOf(server.Attributes, "tenantapi.request_id") != r.header.Get("X-Request-ID") {
		t.Errorf("server span %q %v", server.Name, server.Attributes)
	}
	if got := server.Resource.Attributes(); attrOf(got, "service.name") != "tenantapi" {
		t.Errorf("resource %v", got)
	}
	dbSpans := 0
	for _, s := range spans {
		if s.SpanKind != trace.SpanKindClient {
			continue
		}
		dbSpans++
		if s.Parent.SpanID() != server.SpanContext.SpanID() || s.SpanContext.TraceID() != server.SpanContext.TraceID() {
			t.Errorf("db span %q is not a child of the request span", s.Name)
		}
		if attrOf(s.Attributes, "db.system.name") != "postgresql" {
			t.Errorf("db span %q attributes %v", s.Name, s.Attributes)
		}
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), e.keyOf["acme"]) {
				t.Errorf("db span %q carries the API key", s.Name)
			}
		}
	}
	if dbSpans == 0 {
		t.Errorf("no database spans among %d spans", len(spans))
	}

	// A W3C traceparent works too, and the access line names its trace;
	// of both headers, X-Ray's wins, in the span as in the log; without
	// either, the line names the trace the span started.
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, tc := range []struct {
		name      string
		headers   []string
		spanTrace string // "" for a new one
		logTrace  string // "" for the span's
	}{
		{"traceparent", []string{"traceparent", traceparent}, "0af7651916cd43dd8448eb211c80319c", "0af7651916cd43dd8448eb211c80319c"},
		{"both", []string{"traceparent", traceparent, "X-Amzn-Trace-Id", xrayHeader}, "5759e988bd862e3fe1be46a994272793", "1-5759e988-bd862e3fe1be46a994272793"},
		{"none", nil, "", ""},
	} {
		exp.Reset()
		r := e.as("acme", "GET", "/items", "", tc.headers...)
		var got string
		for _, s := range exp.GetSpans() {
			if s.SpanKind == trace.SpanKindServer {
				got = s.SpanContext.TraceID().String()
			}
		}
		if got == "" || tc.spanTrace != "" && got != tc.spanTrace {
			t.Errorf("%s: server span trace %q, want %q", tc.name, got, tc.spanTrace)
		}
		want := tc.logTrace
		if want == "" {
			want = got
		}
		if line := accessLine(t, logs, r); line["trace_id"] != want {
			t.Errorf("%s: access line trace_id %v, want %s", tc.name, line["trace_id"], want)
		}
	}
	exp.Reset()
	e.as("acme", "GET", "/items", "", "X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8;Sampled=0")
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Errorf("%d spans recorded for an unsampled trace", len(spans))
	}
}

// accessLine returns the access line of the request that r answers.
func accessLine(t *testing.T, logs *syncBuffer, r response) map[string]any {
	t.Helper()
	id := r.header.Get("X-Request-ID")
	for _, m := range jsonLines(t, logs.String()) {
		if m["msg"] == "request" && m["request_id"] == id {
			return m
		}
	}
	t.Fatalf("no access line for %s in:\n%s", id, logs.String())
	return nil
}

func TestTracingConfig(t *testing.T) {
	tests := []struct {
		env      map[string]string
		on       bool
		endpoint string
		bad      bool
	}{
		{env: nil},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, on: true, endpoint: "http://collector:4318/v1/traces"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://x/traces", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://y"}, on: true, endpoint: "https://x/traces"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, endpoint: "http://c/v1/traces"},
		{env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, endpoint: "http://c/v1/traces"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, bad: true},
	}
	for _, tt := range tests {
		e := newEnv(func(k string) string { return tt.env[k] })
		c := e.tracing()
		if c.Enabled != tt.on || c.EndpointURL != tt.endpoint || (e.err() != nil) != tt.bad || c.ServiceName != "tenantapi" {
			t.Errorf("%v: %+v, err %v", tt.env, c, e.err())
		}
	}
	// Off: no provider reaches the server (a typed nil would turn it on).
	if tracerProvider(nil) != nil {
		t.Error("tracerProvider(nil) is not a nil interface")
	}
	tr, err := newTracing(context.Background(), tracingConfig{}, "v")
	if tr != nil || err != nil {
		t.Errorf("newTracing(off) = %v, %v", tr, err)
	}
}

// BenchmarkTracingOff shows that a request without tracing pays nothing for
// it: compare with BenchmarkTracingOn.
func BenchmarkTracingOff(b *testing.B) { benchmarkHealthz(b, nil) }

func BenchmarkTracingOn(b *testing.B) {
	benchmarkHealthz(b, newTracingWith(sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter()), "tenantapi", "bench"))
}

func benchmarkHealthz(b *testing.B, tr *tracing) {
	cfg := newEnv(func(string) string { return "" }).server()
	cfg.tracing = tr
	api, err := newAPI(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	b.ReportAllocs()
	for b.Loop() {
		api.ServeHTTP(httptest.NewRecorder(), req)
	}
}
