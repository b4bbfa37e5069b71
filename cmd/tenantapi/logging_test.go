package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/postgres"
)

// jsonLines decodes every log line of a JSON handler.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// parseTextLine parses one line of slog's text handler (logfmt: key=value,
// values quoted when they need it).
func parseTextLine(t *testing.T, line string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for s := strings.TrimSpace(line); s != ""; s = strings.TrimLeft(s, " ") {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			t.Fatalf("text log line %q: no key=value at %q", line, s)
		}
		key, rest := s[:eq], s[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("text log line %q: bad quoting at %q", line, rest)
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		out[key] = val
		s = rest
	}
	return out
}

// TestAccessLogJSON checks the default format: one JSON access line per
// request with the fields operators filter on, and nothing secret.
func TestAccessLogJSON(t *testing.T) {
	e := setup(t)
	key := e.tenant("acme")
	r := e.as("acme", "GET", "/items/0193a6f1-0000-7000-8000-000000000000", "", "X-Request-ID", "log-test-1")
	expect(t, r, 404, "item-not-found")

	var line map[string]any
	for _, m := range jsonLines(t, e.logs.String()) {
		if m["msg"] == "request" && m["request_id"] == "log-test-1" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access line for log-test-1 in:\n%s", e.logs.String())
	}
	want := map[string]any{"level": "INFO", "tenant_id": "acme", "method": "GET", "route": "/items/{id}",
		"status": 404.0, "bytes": float64(len(r.body)), "error_code": "item-not-found"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access line %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms = %v", line["duration_ms"])
	}
	if _, ok := line["time"].(string); !ok {
		t.Errorf("no time in %v", line)
	}
	if strings.Contains(e.logs.String(), key) || strings.Contains(e.logs.String(), testAdminToken) {
		t.Error("a credential reached the log")
	}
}

// TestAccessLogText checks LOG_FORMAT=text and LOG_LEVEL, Lambda's fields,
// and that an error's whole chain reaches the log but not the caller, on a
// line with the access line's request and trace ids.
func TestAccessLogText(t *testing.T) {
	e := setup(t)
	var buf syncBuffer
	log, err := newEnv(func(k string) string {
		return map[string]string{"LOG_FORMAT": "text", "LOG_LEVEL": "debug"}[k]
	}).logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// A database that is gone: every admin call fails with a cause.
	db, err := postgres.Open(context.Background(), postgres.Config{URL: e.url})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	api, err := newAPI(e.cfg, db, log)
	if err != nil {
		t.Fatal(err)
	}
	hr := httptest.NewRequest("GET", "/admin/tenants/acme", nil)
	hr.Header.Set("Authorization", "Bearer "+testAdminToken)
	hr.Header.Set("X-Request-ID", "text-1")
	hr.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	hr = hr.WithContext(tenantapi.WithGateway(hr.Context(), &tenantapi.Gateway{LambdaRequestID: "lambda-req-7", ColdStart: true}))
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, hr)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "closed") {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body)
	}

	var access, failed map[string]string
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		m := parseTextLine(t, sc.Text())
		switch m["msg"] {
		case "request":
			access = m
		case "request failed":
			failed = m
		}
	}
	want := map[string]string{"level": "INFO", "request_id": "text-1", "method": "GET", "route": "/admin/tenants/{id}",
		"status": "503", "tenant_id": "acme", "error_code": "unavailable", "lambda_request_id": "lambda-req-7", "cold_start": "true",
		"trace_id": "0af7651916cd43dd8448eb211c80319c"}
	for k, v := range want {
		if access[k] != v {
			t.Errorf("access line %s = %q, want %q (line %v)", k, access[k], v, access)
		}
	}
	if _, err := strconv.ParseFloat(access["duration_ms"], 64); err != nil {
		t.Errorf("duration_ms = %q", access["duration_ms"])
	}
	if failed["level"] != "ERROR" || failed["code"] != "unavailable" || failed["request_id"] != "text-1" || failed["trace_id"] != access["trace_id"] ||
		!strings.Contains(failed["error"], "database unavailable: ") || !strings.Contains(failed["error"], "closed pool") {
		t.Errorf("error line = %v; want the whole chain", failed)
	}

	// LOG_LEVEL=warn drops access lines; bad values are usage errors.
	var quiet syncBuffer
	log, err = newEnv(func(k string) string { return map[string]string{"LOG_LEVEL": "warn"}[k] }).logger(&quiet)
	if err != nil {
		t.Fatal(err)
	}
	api, err = newAPI(e.cfg, e.db, log)
	if err != nil {
		t.Fatal(err)
	}
	api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	if quiet.String() != "" {
		t.Errorf("LOG_LEVEL=warn logged %q", quiet.String())
	}
	for _, bad := range []map[string]string{{"LOG_LEVEL": "loud"}, {"LOG_FORMAT": "xml"}} {
		if _, err := newEnv(func(k string) string { return bad[k] }).logger(&quiet); err == nil {
			t.Errorf("%v: no error", bad)
		} else if _, ok := err.(usageError); !ok {
			t.Errorf("%v: %v is not a usage error", bad, err)
		}
	}
}

// TestAccessLogTraceID checks the trace_id of access lines, tracing off:
// the X-Ray Root of X-Amzn-Trace-Id, else the trace id of a W3C
// traceparent, else none; a header that fails the checks is neither taken
// nor logged.
func TestAccessLogTraceID(t *testing.T) {
	e := setup(t)
	e.tenant("acme")
	const (
		root        = "1-5759e988-bd862e3fe1be46a994272793"
		xrayHeader  = "Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1"
		w3cTrace    = "0af7651916cd43dd8448eb211c80319c"
		traceparent = "00-" + w3cTrace + "-b7ad6b7169203331-01"
		badXRay     = "Root=1-5759e988-not-a-trace-id-at-all;Parent=53995c3f42cd8ad8"
		badW3C      = "00-00000000000000000000000000000000-b7ad6b7169203331-01"
	)
	tests := []struct {
		name    string
		headers []string
		want    string // "" for no trace_id
	}{
		{"xray", []string{"X-Amzn-Trace-Id", xrayHeader}, root},
		{"traceparent", []string{"traceparent", traceparent}, w3cTrace},
		{"both", []string{"X-Amzn-Trace-Id", xrayHeader, "traceparent", traceparent}, root},
		{"bad xray, good traceparent", []string{"X-Amzn-Trace-Id", badXRay, "traceparent", traceparent}, w3cTrace},
		{"malformed", []string{"X-Amzn-Trace-Id", badXRay, "traceparent", badW3C}, ""},
		{"none", nil, ""},
	}
	for _, tc := range tests {
		r := e.as("acme", "GET", "/items", "", tc.headers...)
		expect(t, r, 200, "")
		line := accessLine(t, e.logs, r)
		if got, ok := line["trace_id"]; tc.want == "" && ok || tc.want != "" && got != tc.want {
			t.Errorf("%s: trace_id %v, want %q (line %v)", tc.name, got, tc.want, line)
		}
	}
	for _, bad := range []string{badXRay, badW3C} {
		if strings.Contains(e.logs.String(), bad) {
			t.Errorf("the header value %q reached the log", bad)
		}
	}
}
