package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/tenantapi/tenantapi"
)

// Observer is told about every request once it has been answered, for
// metrics. Implementations must be safe for concurrent use and quick: they
// run on the request's goroutine.
type Observer interface {
	Request(ctx context.Context, r RequestInfo)
}

// RequestInfo is what an Observer learns about one request.
type RequestInfo struct {
	// Route is the matched route pattern ("/items/{item_id}"), never the
	// raw path; "unmatched" when no route matched.
	Route  string
	Method string
	Status int
	// Tenant is the tenant the request named ("" for none): X-Tenant-ID
	// once well formed, or an admin path's {id}.
	Tenant tenantapi.TenantID
	// ErrorCode is the problem code of an error response, else "".
	ErrorCode tenantapi.Code
	Duration  time.Duration
	// DBTime is the time spent in database calls.
	DBTime time.Duration
}

// metricsRoute serves Config.Metrics: 404 when there is none; with
// Config.MetricsToken set, only to a caller that presents it as a bearer
// token (401 otherwise). It is operator-facing and needs no tenant.
func (s *Server) metricsRoute(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics == nil {
		s.notFound(w, r)
		return
	}
	if tok := s.cfg.MetricsToken; tok != "" {
		got, ok := bearer(r)
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
			s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeUnauthorized, "the metrics token is missing or wrong"))
			return
		}
	}
	s.cfg.Metrics.ServeHTTP(w, r)
}
