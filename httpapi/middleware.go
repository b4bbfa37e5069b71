package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tenantapi/tenantapi"
)

type ctxKey int

// logInfoKey holds the request's *logInfo, which accessLog makes.
const logInfoKey ctxKey = 0

// requestID sets X-Request-ID on every response (SPEC §4.2): the caller's
// value when it is well formed, else API Gateway's request id, else a new one.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(headerRequestID)
		if !validRequestID(id) {
			id = ""
			if g := tenantapi.GatewayFrom(r.Context()); g != nil && validRequestID(g.RequestID) {
				id = g.RequestID
			}
		}
		if id == "" {
			id = newRequestID()
		}
		setHeaders(w.Header(), headerRequestID, id, "X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// headerRequestID is X-Request-ID in the canonical form that Header.Set
// and Get would otherwise build, and allocate, at every call.
const headerRequestID = "X-Request-Id"

// setHeaders sets two headers, as Header.Set would, with one allocation for
// both values. The names must be in canonical form.
func setHeaders(h http.Header, name1, value1, name2, value2 string) {
	v := []string{value1, value2}
	h[name1], h[name2] = v[:1:1], v[1:]
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// logInfo collects what the access log line reports that only inner
// handlers know.
type logInfo struct {
	route  string // the matched pattern
	tenant tenantapi.TenantID
	code   tenantapi.Code // of an error response
	trace  string         // trace id of the request's lines, or "" (traceid.go)
	// ref is the tenant the tenant checks resolved (tenantOf), kept here
	// rather than in a context of its own: one copy of the request less.
	ref tenantapi.TenantRef
}

// noteTenant records the tenant a request names for the access log.
func noteTenant(r *http.Request, id tenantapi.TenantID) {
	if info, ok := r.Context().Value(logInfoKey).(*logInfo); ok {
		info.tenant = id
	}
}

// noteRoute records the matched route pattern for the access log.
func noteRoute(r *http.Request, pattern string) {
	if info, ok := r.Context().Value(logInfoKey).(*logInfo); ok {
		info.route = pattern
	}
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestRecord is what accessLog keeps of a request, in one allocation.
type requestRecord struct {
	sw   statusWriter
	info logInfo
}

// accessLog writes one line per request: request id, trace id, tenant,
// method, route pattern (never the raw path, which may carry ids), status,
// duration, bytes. The line is only built when the logger takes INFO. It
// reads the trace id from the headers (traceid.go) for this line and the
// request's error line; the request's span, when tracing is on, may replace
// it with its own.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &requestRecord{sw: statusWriter{ResponseWriter: w}, info: logInfo{route: "unmatched", trace: requestTraceID(r.Header)}}
		sw, info := &rec.sw, &rec.info
		ctx := context.WithValue(r.Context(), logInfoKey, info)
		var dbTime *tenantapi.QueryTimer
		if s.cfg.Observer != nil {
			ctx, dbTime = tenantapi.WithQueryTimer(ctx)
		}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		elapsed := time.Since(start)
		if s.cfg.Observer != nil {
			s.cfg.Observer.Request(r.Context(), tenantapi.RequestInfo{Route: info.route, Method: r.Method, Status: sw.status,
				Tenant: info.tenant, ErrorCode: info.code, Duration: elapsed, DBTime: dbTime.Total()})
		}
		if !s.log.Enabled(r.Context(), slog.LevelInfo) {
			return
		}
		// Room for every attribute below, so that appending never grows it.
		var room [11]slog.Attr
		attrs := append(room[:0],
			slog.String("request_id", w.Header().Get(headerRequestID)),
			slog.String("method", r.Method),
			slog.String("route", info.route),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.Int("bytes", sw.bytes),
		)
		if info.trace != "" {
			attrs = append(attrs, slog.String("trace_id", info.trace))
		}
		if info.tenant != "" {
			attrs = append(attrs, slog.String("tenant_id", string(info.tenant)))
		}
		if info.code != "" {
			attrs = append(attrs, slog.String("error_code", string(info.code)))
		}
		if g := tenantapi.GatewayFrom(r.Context()); g != nil && g.LambdaRequestID != "" {
			attrs = append(attrs, slog.String("lambda_request_id", g.LambdaRequestID), slog.Bool("cold_start", g.ColdStart))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// recoverPanic turns a panic in a handler into a 500 and a log line, so one
// bad request never takes the process down.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// deadline bounds every request, and so every query it makes, by the
// request timeout.
func (s *Server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Allowed and exposed CORS headers (SPEC §4.3).
const (
	corsAllowHeaders  = "Authorization, Content-Type, X-Tenant-ID, If-Match, If-None-Match, Idempotency-Key, X-Request-ID"
	corsExposeHeaders = "ETag, Location, Retry-After, X-Request-ID, Idempotent-Replayed"
)

// cors adds the CORS headers of an allowed origin to any response.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	if len(s.origins) == 0 {
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !s.origins[origin] {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// options answers OPTIONS with 204 and Allow; a CORS preflight from an
// allowed origin also gets the allowed methods and headers.
func (s *Server) options(w http.ResponseWriter, r *http.Request, allow string) {
	h := w.Header()
	h.Set("Allow", allow)
	if r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		if len(s.origins) == 0 {
			h.Add("Vary", "Origin")
		}
		if s.origins[r.Header.Get("Origin")] {
			h.Set("Access-Control-Allow-Methods", allow)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", "600")
			h.Del("Access-Control-Expose-Headers")
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
