package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"

	"github.com/tenantapi/tenantapi"
)

// Observer is told about every request once it has been answered, for
// metrics. Implementations must be safe for concurrent use and quick: they
// run on the request's goroutine.
type Observer interface {
	Request(ctx context.Context, r tenantapi.RequestInfo)
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
			refusedBearer(w, r)
			s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeUnauthorized, "the metrics token is missing or wrong"))
			return
		}
	}
	s.cfg.Metrics.ServeHTTP(w, r)
}
