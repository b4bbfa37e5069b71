package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAccessLog measures a request whose access line is written (a
// JSON handler at INFO), without a trace header and with each kind.
//
//	go test ./httpapi -run '^$' -bench AccessLog -benchmem
func BenchmarkAccessLog(b *testing.B) {
	s, err := NewServer(Config{}, Stores{}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		header http.Header
	}{
		{"none", http.Header{}},
		{"xray", http.Header{"X-Amzn-Trace-Id": {"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}},
		{"traceparent", http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}},
	} {
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
