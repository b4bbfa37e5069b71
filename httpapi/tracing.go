package httpapi

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the instrumentation scope of the request spans.
const tracerName = "github.com/tenantapi/tenantapi/httpapi"

// trace starts a server span for each request, continuing the trace that
// the caller's headers carry (W3C traceparent, or X-Amzn-Trace-Id from API
// Gateway and Lambda, as Config.Propagator reads them). The span is named
// after the route pattern once routing has found it, and carries the tenant
// id, the request id and the status. The request's log lines carry the
// span's trace id (spanTraceID). It is only installed when
// Config.TracerProvider is set: tracing off costs nothing.
func (s *Server) trace(next http.Handler) http.Handler {
	tracer := s.cfg.TracerProvider.Tracer(tracerName)
	prop := s.cfg.Propagator
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		defer span.End()
		info, logged := ctx.Value(logInfoKey).(*logInfo)
		if logged {
			// The request's log lines name this span's trace.
			info.trace = spanTraceID(info.trace, span.SpanContext().TraceID())
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		attrs := []attribute.KeyValue{
			attribute.Int("http.response.status_code", sw.status),
			attribute.String("tenantapi.request_id", w.Header().Get(headerRequestID)),
		}
		if logged {
			span.SetName(r.Method + " " + info.route)
			attrs = append(attrs, attribute.String("http.route", info.route))
			if info.tenant != "" {
				attrs = append(attrs, attribute.String("tenant.id", string(info.tenant)))
			}
			if info.code != "" {
				attrs = append(attrs, attribute.String("tenantapi.error_code", string(info.code)))
			}
		}
		span.SetAttributes(attrs...)
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}
