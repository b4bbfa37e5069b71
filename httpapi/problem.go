package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/tenantapi/tenantapi"
)

// statusOf maps every domain error code to its HTTP status. It is the one
// place where errors become statuses.
var statusOf = map[tenantapi.Code]int{
	tenantapi.CodeMissingTenantID:      http.StatusBadRequest,
	tenantapi.CodeInvalidTenantID:      http.StatusBadRequest,
	tenantapi.CodeMalformedJSON:        http.StatusBadRequest,
	tenantapi.CodeInvalidQuery:         http.StatusBadRequest,
	tenantapi.CodeInvalidCursor:        http.StatusBadRequest,
	tenantapi.CodeUnauthorized:         http.StatusUnauthorized,
	tenantapi.CodeForbidden:            http.StatusForbidden,
	tenantapi.CodeTenantSuspended:      http.StatusForbidden,
	tenantapi.CodeTenantNotFound:       http.StatusNotFound,
	tenantapi.CodeItemNotFound:         http.StatusNotFound,
	tenantapi.CodeNotFound:             http.StatusNotFound,
	tenantapi.CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	tenantapi.CodeConflict:             http.StatusConflict,
	tenantapi.CodeIdempotencyKeyReused: http.StatusConflict,
	tenantapi.CodePreconditionFailed:   http.StatusPreconditionFailed,
	tenantapi.CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	tenantapi.CodeUnsupportedMedia:     http.StatusUnsupportedMediaType,
	tenantapi.CodeValidationFailed:     http.StatusUnprocessableEntity,
	tenantapi.CodeRateLimited:          http.StatusTooManyRequests,
	tenantapi.CodeUnavailable:          http.StatusServiceUnavailable,
	tenantapi.CodeInternal:             http.StatusInternalServerError,
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string                 `json:"type"`
	Title  string                 `json:"title"`
	Status int                    `json:"status"`
	Detail string                 `json:"detail"`
	Code   tenantapi.Code         `json:"code"`
	Errors []tenantapi.FieldError `json:"errors,omitempty"`
}

// writeError answers err as application/problem+json. Only an *Error's code,
// detail and fields reach the caller; the internal cause goes to the log.
// Internal errors show nothing but "internal error" and the request id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *tenantapi.Error
	if !errors.As(err, &e) || statusOf[e.Code] == 0 {
		e = &tenantapi.Error{Code: tenantapi.CodeInternal, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) && e.Code == tenantapi.CodeInternal {
		e = &tenantapi.Error{Code: tenantapi.CodeUnavailable, Detail: "the request deadline passed", Err: err}
	}
	status := statusOf[e.Code]
	if info, ok := r.Context().Value(logInfoKey).(*logInfo); ok {
		info.code = e.Code
	}
	p := problem{
		Type:   "https://tenantapi.dev/problems/" + string(e.Code),
		Title:  http.StatusText(status),
		Status: status,
		Detail: e.Detail,
		Code:   e.Code,
		Errors: e.Fields,
	}
	if e.Code == tenantapi.CodeInternal {
		p.Detail = "internal error (request id " + w.Header().Get(headerRequestID) + ")"
	}
	if e.Err != nil || e.Code == tenantapi.CodeInternal {
		level := slog.LevelWarn
		if status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("request_id", w.Header().Get(headerRequestID)),
			slog.String("code", string(e.Code)),
			// The whole chain, wrapped causes included; what the caller
			// sees is only the code and detail above.
			slog.String("error", err.Error()),
		}
		if info, ok := r.Context().Value(logInfoKey).(*logInfo); ok {
			attrs = append(attrs, slog.String("route", info.route))
			if info.trace != "" {
				attrs = append(attrs, slog.String("trace_id", info.trace))
			}
			if info.tenant != "" {
				attrs = append(attrs, slog.String("tenant_id", string(info.tenant)))
			}
		}
		s.log.LogAttrs(r.Context(), level, "request failed", attrs...)
	}
	h := w.Header()
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "1")
		}
	case http.StatusUnauthorized:
		if h.Get("WWW-Authenticate") == "" {
			h.Set("WWW-Authenticate", `Bearer realm="tenantapi"`)
		}
	}
	writeJSON(w, status, "application/problem+json", p)
}

// writeJSON answers v as JSON with the given status and content type.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; a failure is a programming error.
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"internal error","code":"internal"}`)
		status = http.StatusInternalServerError
		contentType = "application/problem+json"
	}
	writeBody(w, status, contentType, body)
}

// writeBody answers body with the given status and content type.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	setHeaders(w.Header(), "Content-Type", contentType, "Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
