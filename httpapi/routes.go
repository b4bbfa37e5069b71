package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/tenantapi/tenantapi"
)

// routes is the map of the API: every route, its handlers, the query
// parameters and body each method takes, and the checks in front of them.
// The checks run in the order SPEC §4.1 gives: route and method, CORS
// preflight, then (tenant routes) X-Tenant-ID, credential, tenant match,
// registry, rate limit; then what the endpoint declares here (media type,
// body size, query parameters); then the handler's own checks of the body,
// the headers and the item.
func (s *Server) routes() {
	// Tenant API: every resource of the application set (items, or the
	// tables of TENANT_MIGRATIONS), one set of handlers for all. A name
	// that no version has is 404 before any tenant check.
	s.handle("/{resource}", resourceRoute, methods{
		http.MethodGet:  {h: s.listRows, filters: true},
		http.MethodPost: {h: s.createRow, body: jsonBody},
	})
	s.handle("/{resource}/{id}", resourceRoute, methods{
		http.MethodGet:    {h: s.getRow},
		http.MethodPut:    {h: s.replaceRow, body: jsonBody},
		http.MethodPatch:  {h: s.patchRow, body: mergePatchBody},
		http.MethodDelete: {h: s.deleteRow},
	})

	// Admin API: 404 everywhere under /admin/ unless an admin token is set.
	s.handle("/admin/tenants", adminRoute, methods{
		http.MethodGet:  {h: s.listTenants, query: pageParams},
		http.MethodPost: {h: s.createTenant, body: jsonBody},
	})
	s.handle("/admin/tenants/{id}", adminRoute, methods{
		http.MethodGet: {h: s.getTenant},
		// Merge semantics ("rate_limit": null resets), so either type.
		http.MethodPatch:  {h: s.updateTenant, body: jsonOrMergePatchBody},
		http.MethodDelete: {h: s.deleteTenant},
	})
	s.handle("/admin/tenants/{id}/usage", adminRoute, methods{
		http.MethodGet: {h: s.tenantUsage},
	})
	s.handle("/admin/tenants/{id}/api-keys", adminRoute, methods{
		http.MethodGet:  {h: s.listKeys},
		http.MethodPost: {h: s.createKey, body: optionalJSONBody},
	})
	s.handle("/admin/tenants/{id}/api-keys/{key_id}", adminRoute, methods{
		http.MethodDelete: {h: s.revokeKey},
	})
	s.handle("/admin/config", adminRoute, methods{
		http.MethodGet: {h: s.listConfig},
	})
	s.handle("/admin/config/{key}", adminRoute, methods{
		http.MethodGet:    {h: s.getConfig},
		http.MethodPut:    {h: s.putConfig, body: jsonBody},
		http.MethodDelete: {h: s.deleteConfig},
	})
	// Any other path under /admin/ (patterns more specific than the
	// resource routes, which would take two-segment paths otherwise).
	for _, p := range []string{"/admin/{$}", "/admin/{x}", "/admin/{x}/{rest...}"} {
		s.mux.Handle(p, s.adminOnly(s.notFound))
	}

	// Open to all, and outside the API: they ignore the query string, which
	// load balancers' probes, scrapers and browsers use for cache busting.
	s.handle("/healthz", openRoute, methods{http.MethodGet: {h: s.healthz, anyQuery: true}})
	s.handle("/readyz", openRoute, methods{http.MethodGet: {h: s.readyz, anyQuery: true}})
	s.handle("/openapi.json", openRoute, methods{http.MethodGet: {h: s.openAPI, anyQuery: true}})
	s.handle("/docs", openRoute, methods{http.MethodGet: {h: s.docs, anyQuery: true}})
	// Operator-facing, not part of the documented API; see Config.Metrics.
	s.handle("/metrics", openRoute, methods{http.MethodGet: {h: s.metricsRoute, anyQuery: true}})
	s.mux.HandleFunc("/", s.notFound)
}

// methods maps HTTP methods to the endpoints of one route.
type methods map[string]endpoint

// endpoint is one method of a route: its handler and what the request may
// carry besides the path and headers. The server refuses anything else
// before the handler runs (see checkShape).
type endpoint struct {
	h http.HandlerFunc
	// query names the query parameters it takes, each at most once; nil
	// takes none.
	query []string
	// anyQuery ignores the query string altogether (open routes).
	anyQuery bool
	// filters leaves the query to the handler, which knows the filters
	// the tenant's resource takes (resource lists).
	filters bool
	// body is the body it reads; nil reads none.
	body *bodySpec
}

// bodySpec is the body an endpoint reads.
type bodySpec struct {
	types    []string // the media types it accepts
	optional bool     // a request without a body is fine too (see hasBody)
}

// acceptPatch is the Accept-Patch header of a PATCH taking b (RFC 5789).
func (b *bodySpec) acceptPatch() string { return strings.Join(b.types, ", ") }

// The query parameters and bodies that endpoints declare.
var (
	pageParams           = []string{"limit", "cursor"}
	jsonBody             = &bodySpec{types: []string{"application/json"}}
	mergePatchBody       = &bodySpec{types: []string{"application/merge-patch+json"}}
	jsonOrMergePatchBody = &bodySpec{types: []string{"application/json", "application/merge-patch+json"}}
	optionalJSONBody     = &bodySpec{types: []string{"application/json"}, optional: true}
)

// routeKind says which checks stand in front of a route's handlers.
type routeKind int

const (
	openRoute     routeKind = iota // health, readiness, documentation
	resourceRoute                  // a known {resource}, then X-Tenant-ID, credential, registry
	adminRoute                     // the admin token
)

// handle registers pattern with its endpoints. HEAD is served by GET,
// OPTIONS answers 204 with Allow (and Accept-Patch where PATCH is allowed;
// a CORS preflight too) before any tenant or credential check, and any
// other method is 405 with Allow.
func (s *Server) handle(pattern string, kind routeKind, ms methods) {
	allowed := make([]string, 0, len(ms)+2)
	handlers := make(map[string]http.HandlerFunc, len(ms))
	for m, e := range ms {
		allowed = append(allowed, m)
		handlers[m] = s.endpointHandler(e)
	}
	if ms[http.MethodGet].h != nil {
		allowed = append(allowed, http.MethodHead)
	}
	allowed = append(allowed, http.MethodOptions)
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	acceptPatch := ""
	if b := ms[http.MethodPatch].body; b != nil {
		acceptPatch = b.acceptPatch()
	}

	route := func(w http.ResponseWriter, r *http.Request) {
		if kind == resourceRoute {
			name := r.PathValue("resource")
			if known, err := s.stores.Schemas.Known(r.Context(), name); !known {
				if err == nil {
					err = tenantapi.ErrNotFound
				}
				s.writeError(w, r, err)
				return
			}
			noteRoute(r, strings.Replace(pattern, "{resource}", name, 1))
		} else {
			noteRoute(r, pattern)
		}
		if kind == resourceRoute {
			setHeaders(w.Header(), "Cache-Control", "private, no-cache", "Vary", "Authorization, X-Tenant-ID")
		}
		s.cors(w, r)
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		if method == http.MethodOptions {
			if acceptPatch != "" {
				w.Header().Set("Accept-Patch", acceptPatch)
			}
			s.options(w, r, allow)
			return
		}
		h := handlers[method]
		if h == nil {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeMethodNotAllowed, "method %s is not allowed here", sanitizeMethod(r.Method)))
			return
		}
		if kind == resourceRoute {
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

// endpointHandler returns e's handler behind the checks e declares, which
// run once the route's own checks (tenant or admin token) have passed.
func (s *Server) endpointHandler(e endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := e.checkShape(w, r); err != nil {
			s.writeError(w, r, err)
			return
		}
		e.h(w, r)
	}
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
