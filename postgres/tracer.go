package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// queryTracer times every statement and pipelined batch into the
// tenantapi.QueryTimer of its context, if any, so that metrics can report a
// request's database time. Without a timer it costs one context lookup.
type queryTracer struct{}

var (
	_ pgx.QueryTracer = queryTracer{}
	_ pgx.BatchTracer = queryTracer{}
)

type traceStartKey struct{}

func (queryTracer) start(ctx context.Context) context.Context {
	if tenantapi.QueryTimerFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, traceStartKey{}, time.Now())
}

func (queryTracer) end(ctx context.Context) {
	if t := tenantapi.QueryTimerFrom(ctx); t != nil {
		if start, ok := ctx.Value(traceStartKey{}).(time.Time); ok {
			t.Add(time.Since(start))
		}
	}
}

func (q queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return q.start(ctx)
}

func (q queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	q.end(ctx)
}

func (q queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return q.start(ctx)
}

func (queryTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (q queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	q.end(ctx)
}
