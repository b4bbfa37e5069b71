package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/tenantapi/tenantapi"
)

// openAPIDocument is the static part of the OpenAPI document; see openapi.go.
//
//go:embed openapi.json
var openAPIDocument []byte

//go:embed docs.html
var docsPage []byte

// healthz answers 200 while the process lives.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, "application/json", map[string]string{"status": "ok", "version": s.cfg.Version})
}

// readyz answers 200 when the database answers and the public schema is at
// this binary's version, else 503. It never looks at tenant schemas, so one
// failed tenant never takes the service out.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.stores.Ready != nil {
		if err := s.stores.Ready(r.Context()); err != nil {
			s.writeError(w, r, tenantapi.Wrap(tenantapi.CodeUnavailable, err, "not ready"))
			return
		}
	}
	writeJSON(w, http.StatusOK, "application/json", map[string]string{"status": "ready"})
}

// openAPI answers the document of the newest recorded schema version
// (openapi.go), rendered once per version. When the versions cannot be
// read it answers the last document it rendered, if any.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	schema, err := s.newestSchema(r.Context())
	if err != nil {
		if d := s.openapi.last.Load(); d != nil {
			writeBody(w, http.StatusOK, "application/json", d.body)
			return
		}
		s.writeError(w, r, err)
		return
	}
	body, err := s.openapi.document(schema)
	if err != nil {
		s.writeError(w, r, tenantapi.Wrap(tenantapi.CodeInternal, err, "internal error"))
		return
	}
	writeBody(w, http.StatusOK, "application/json", body)
}

func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	writeBody(w, http.StatusOK, "text/html; charset=utf-8", docsPage)
}
