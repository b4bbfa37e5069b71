package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantapi/tenantapi"
)

// queryTracer instruments every statement and pipelined batch. It times
// them into the tenantapi.QueryTimer of their context, if any, so that
// metrics can report a request's database time; and, with a tracer, it
// makes a client span for each, a child of the request's span. Without a
// timer or a tracer it costs one context lookup.
type queryTracer struct {
	tracer trace.Tracer // nil: no spans
}

var (
	_ pgx.QueryTracer = queryTracer{}
	_ pgx.BatchTracer = queryTracer{}
)

// tracerName names the instrumentation scope of the database spans.
const tracerName = "github.com/tenantapi/tenantapi/postgres"

type traceStartKey struct{}

// timedContext is the context of a statement timed into a QueryTimer: it
// carries the timer and the start, in one allocation, and answers
// traceStartKey with itself.
type timedContext struct {
	context.Context
	timer *tenantapi.QueryTimer
	start time.Time
}

func (c *timedContext) Value(key any) any {
	if key == (traceStartKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func (q queryTracer) start(ctx context.Context, name, sql string, statements int) context.Context {
	if q.tracer != nil {
		attrs := []attribute.KeyValue{attribute.String("db.system.name", "postgresql")}
		if op := operation(sql); op != "" {
			attrs = append(attrs, attribute.String("db.operation.name", op))
			name = op
		}
		if statements > 0 {
			attrs = append(attrs, attribute.Int("db.operation.batch.size", statements))
		}
		// The statement text is not recorded: it names tenant schemas and
		// may one day carry a literal; parameters never reach spans.
		ctx, _ = q.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	}
	t := tenantapi.QueryTimerFrom(ctx)
	if t == nil {
		return ctx
	}
	return &timedContext{Context: ctx, timer: t, start: time.Now()}
}

func (q queryTracer) end(ctx context.Context, err error) {
	if c, ok := ctx.Value(traceStartKey{}).(*timedContext); ok {
		c.timer.Add(time.Since(c.start))
	}
	if q.tracer != nil {
		span := trace.SpanFromContext(ctx)
		if err != nil {
			if code := sqlState(err); code != "" {
				span.SetAttributes(attribute.String("db.response.status_code", code))
			}
			span.SetStatus(codes.Error, "database error")
		}
		span.End()
	}
}

// operation returns the first keyword of sql, upper-cased ("SELECT").
func operation(sql string) string {
	sql = strings.TrimSpace(sql)
	for strings.HasPrefix(sql, "--") {
		if i := strings.IndexByte(sql, '\n'); i >= 0 {
			sql = strings.TrimSpace(sql[i+1:])
		} else {
			return ""
		}
	}
	end := strings.IndexFunc(sql, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(sql)
	}
	return strings.ToUpper(sql[:end])
}

func (q queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return q.start(ctx, "query", d.SQL, 0)
}

func (q queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	q.end(ctx, d.Err)
}

func (q queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	n := 0
	if d.Batch != nil {
		n = d.Batch.Len()
	}
	return q.start(ctx, "BATCH", "", n)
}

func (queryTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (q queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	q.end(ctx, d.Err)
}
