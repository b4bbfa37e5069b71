package main

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracingConfig says whether and where spans are exported. Tracing is on
// when OTEL_TRACES_EXPORTER is "otlp", or an OTLP endpoint is set
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT), unless
// OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is "none". The exporter
// reads the other standard OTEL_EXPORTER_OTLP_* variables (headers,
// timeout, compression, certificates) itself.
type tracingConfig struct {
	Enabled     bool
	EndpointURL string // "" leaves it to the SDK (http://localhost:4318)
	ServiceName string // OTEL_SERVICE_NAME, default "tenantapi"
}

func (e *env) tracing() tracingConfig {
	endpoint := e.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		if base := e.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); base != "" {
			endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
	}
	exporter := e.getenv("OTEL_TRACES_EXPORTER")
	on := exporter == "otlp" || (endpoint != "" && exporter == "")
	if e.boolean("OTEL_SDK_DISABLED", false) || exporter == "none" {
		on = false
	}
	if exporter != "" && exporter != "otlp" && exporter != "none" {
		e.errs = append(e.errs, usagef("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", exporter))
	}
	return tracingConfig{Enabled: on, EndpointURL: endpoint, ServiceName: e.str("OTEL_SERVICE_NAME", "tenantapi")}
}

// tracing is a running tracer provider.
type tracing struct {
	provider   *sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
}

// propagator reads and writes both X-Ray's header (API Gateway, Lambda) and
// W3C Trace Context. Of a request that carries both, the span continues
// X-Ray's trace when its header is valid (the last valid one read wins): on
// Lambda that header is the invocation's, whose trace X-Ray shows, and the
// request's log lines name the same trace.
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, xray.Propagator{})
}

// newTracing starts an OTLP/HTTP exporter and a tracer provider whose trace
// ids X-Ray accepts. It returns nil when tracing is off.
func newTracing(ctx context.Context, cfg tracingConfig, version string) (*tracing, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if cfg.EndpointURL != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(cfg.EndpointURL))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, usagef("OTLP trace exporter: %v", err)
	}
	return newTracingWith(sdktrace.NewBatchSpanProcessor(exp), cfg.ServiceName, version), nil
}

// newTracingWith returns tracing that hands spans to sp.
func newTracingWith(sp sdktrace.SpanProcessor, service, version string) *tracing {
	res := resource.NewSchemaless(attribute.String("service.name", service), attribute.String("service.version", version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sp),
		sdktrace.WithResource(res),
		// X-Ray wants the trace id's first 32 bits to be the start time.
		sdktrace.WithIDGenerator(xray.NewIDGenerator()),
		// Honour the caller's sampling decision (X-Ray's Sampled=1/0).
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	)
	return &tracing{provider: tp, propagator: propagator()}
}

// flush exports the spans ended so far (Lambda freezes the process between
// invocations, so it flushes after each).
func (t *tracing) flush(ctx context.Context) {
	if t != nil {
		_ = t.provider.ForceFlush(ctx)
	}
}

// shutdown flushes and stops the provider, within 5 s.
func (t *tracing) shutdown() {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.provider.Shutdown(ctx)
}

// startTracing starts tracing as the environment asks and wires it into cfg
// (request spans) and dbc (database spans). The caller shuts it down; nil
// means tracing is off, which costs nothing: no provider, no middleware.
func startTracing(ctx context.Context, env *env, cfg *serverConfig, dbc *dbConfig) (*tracing, error) {
	tc := env.tracing()
	if err := env.err(); err != nil {
		return nil, err
	}
	tr, err := newTracing(ctx, tc, version)
	if err != nil || tr == nil {
		return nil, err
	}
	cfg.tracing = tr
	dbc.tracerProvider = tr.provider
	return tr, nil
}

// tracerProvider returns t's provider, or a nil interface when t is nil (a
// typed nil would turn tracing on).
func tracerProvider(t *tracing) trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.provider
}
