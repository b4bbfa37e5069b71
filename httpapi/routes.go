package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/tenantapi/tenantapi"
)

// routes is the map of the API: every route, its handlers and the checks in
// front of them. The checks run in the order SPEC §4.1 gives: route and
// method, CORS preflight, then (tenant routes) X-Tenant-ID, credential,
// tenant match, registry, rate limit; body and query checks live in the
// handlers.
func (s *Server) routes() {
	// Tenant API.
	s.handle("/items", tenantRoute, methods{
		http.MethodGet:  s.listItems,
		http.MethodPost: s.createItem,
	})
	s.handle("/items/{item_id}", tenantRoute, methods{
		http.MethodGet:    s.getItem,
		http.MethodPut:    s.replaceItem,
		http.MethodPatch:  s.patchItem,
		http.MethodDelete: s.deleteItem,
	})

	// Admin API: 404 everywhere under /admin/ unless an admin token is set.
	s.handle("/admin/tenants", adminRoute, methods{
		http.MethodGet:  s.listTenants,
		http.MethodPost: s.createTenant,
	})
	s.handle("/admin/tenants/{id}", adminRoute, methods{
		http.MethodGet:    s.getTenant,
		http.MethodPatch:  s.updateTenant,
		http.MethodDelete: s.deleteTenant,
	})
	s.handle("/admin/tenants/{id}/usage", adminRoute, methods{
		http.MethodGet: s.tenantUsage,
	})
	s.handle("/admin/tenants/{id}/api-keys", adminRoute, methods{
		http.MethodGet:  s.listKeys,
		http.MethodPost: s.createKey,
	})
	s.handle("/admin/tenants/{id}/api-keys/{key_id}", adminRoute, methods{
		http.MethodDelete: s.revokeKey,
	})
	s.handle("/admin/config", adminRoute, methods{
		http.MethodGet: s.listConfig,
	})
	s.handle("/admin/config/{key}", adminRoute, methods{
		http.MethodGet:    s.getConfig,
		http.MethodPut:    s.putConfig,
		http.MethodDelete: s.deleteConfig,
	})
	s.mux.Handle("/admin/", s.adminOnly(s.notFound))

	// Open to all.
	s.handle("/healthz", openRoute, methods{http.MethodGet: s.healthz})
	s.handle("/readyz", openRoute, methods{http.MethodGet: s.readyz})
	s.handle("/openapi.json", openRoute, methods{http.MethodGet: s.openAPI})
	s.handle("/docs", openRoute, methods{http.MethodGet: s.docs})
	// Operator-facing, not part of the documented API; see Config.Metrics.
	s.handle("/metrics", openRoute, methods{http.MethodGet: s.metricsRoute})
	s.mux.HandleFunc("/", s.notFound)
}

// methods maps HTTP methods to the handlers of one route.
type methods map[string]http.HandlerFunc

// routeKind says which checks stand in front of a route's handlers.
type routeKind int

const (
	openRoute   routeKind = iota // health, readiness, documentation
	tenantRoute                  // X-Tenant-ID, credential, registry
	adminRoute                   // the admin token
)

// handle registers pattern with its handlers. HEAD is served by GET, OPTIONS
// answers 204 with Allow (a CORS preflight too) before any tenant or
// credential check, and any other method is 405 with Allow.
func (s *Server) handle(pattern string, kind routeKind, ms methods) {
	allowed := make([]string, 0, len(ms)+2)
	for m := range ms {
		allowed = append(allowed, m)
	}
	if ms[http.MethodGet] != nil {
		allowed = append(allowed, http.MethodHead)
	}
	allowed = append(allowed, http.MethodOptions)
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")

	route := func(w http.ResponseWriter, r *http.Request) {
		noteRoute(r, pattern)
		if kind == tenantRoute {
			setHeaders(w.Header(), "Cache-Control", "private, no-cache", "Vary", "Authorization, X-Tenant-ID")
		}
		s.cors(w, r)
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		if method == http.MethodOptions {
			s.options(w, r, allow)
			return
		}
		h := ms[method]
		if h == nil {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeMethodNotAllowed, "method %s is not allowed here", sanitizeMethod(r.Method)))
			return
		}
		if kind == tenantRoute {
			s.tenant(w, r, h)
			return
		}
		h(w, r)
	}
	if kind == adminRoute {
		// The admin API is invisible while it is off, even to OPTIONS.
		s.mux.Handle(pattern, s.adminOnly(route))
		return
	}
	s.mux.HandleFunc(pattern, route)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, tenantapi.ErrNotFound)
}

// sanitizeMethod keeps a method name printable and short for a detail.
func sanitizeMethod(m string) string {
	if len(m) > 16 {
		m = m[:16]
	}
	return strings.Map(func(r rune) rune {
		if r < 'A' || r > 'Z' {
			return '?'
		}
		return r
	}, m)
}
