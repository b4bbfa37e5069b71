// Package emf writes the service's metrics in Lambda mode as CloudWatch
// Embedded Metric Format: one JSON line per request on stdout, which the
// Lambda runtime ships to CloudWatch Logs, where CloudWatch extracts the
// metrics. It satisfies httpapi.Observer through the domain's RequestInfo,
// without importing httpapi; cmd/tenantapi wires it.
//
// Each line carries the metrics Requests, ClientErrors, ServerErrors,
// Latency and DatabaseTime under the dimension set [Service, Route]. The
// tenant id is a property (searchable in Logs Insights, free), and becomes a
// dimension set of its own, [Service, TenantId], only when configured:
// every dimension value is a separate, billed metric.
package emf

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/tenantapi/tenantapi"
)

// Options tunes a Writer.
type Options struct {
	// Namespace of the metrics (default "tenantapi").
	Namespace string
	// Service is the Service dimension's value (default "tenantapi").
	Service string
	// TenantDimension adds the [Service, TenantId] dimension set.
	TenantDimension bool
}

// Writer writes EMF lines. Create it with New; it is safe for concurrent
// use (lines never interleave).
type Writer struct {
	opts Options
	now  func() time.Time

	mu sync.Mutex
	w  io.Writer
}

// New returns a Writer that writes to w (stdout on Lambda).
func New(w io.Writer, opts Options) *Writer {
	if opts.Namespace == "" {
		opts.Namespace = "tenantapi"
	}
	if opts.Service == "" {
		opts.Service = "tenantapi"
	}
	return &Writer{opts: opts, now: time.Now, w: w}
}

// metricDef is one entry of a directive's Metrics.
type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

var requestMetrics = []metricDef{
	{"Requests", "Count"},
	{"ClientErrors", "Count"},
	{"ServerErrors", "Count"},
	{"Latency", "Milliseconds"},
	{"DatabaseTime", "Milliseconds"},
}

// Request writes one EMF line for an answered request.
func (e *Writer) Request(ctx context.Context, r tenantapi.RequestInfo) {
	dims := [][]string{{"Service", "Route"}}
	line := map[string]any{
		"Service":      e.opts.Service,
		"Route":        r.Method + " " + r.Route,
		"Requests":     1,
		"ClientErrors": b2i(r.Status >= 400 && r.Status < 500),
		"ServerErrors": b2i(r.Status >= 500),
		"Latency":      ms(r.Duration),
		"DatabaseTime": ms(r.DBTime),
		"status":       r.Status,
	}
	if r.ErrorCode != "" {
		line["error_code"] = string(r.ErrorCode)
	}
	if r.Tenant != "" {
		line["tenant_id"] = string(r.Tenant)
		if e.opts.TenantDimension {
			line["TenantId"] = string(r.Tenant)
			dims = append(dims, []string{"Service", "TenantId"})
		}
	}
	e.write(line, dims, requestMetrics)
}

var migrationMetrics = []metricDef{{"TenantsMigrated", "Count"}, {"TenantsFailed", "Count"}}

// Migrations writes one EMF line for a tenant migration run in this process
// (the direct invocation {"command": "migrate"}).
func (e *Writer) Migrations(migrated, failed int) {
	e.write(map[string]any{"Service": e.opts.Service, "TenantsMigrated": migrated, "TenantsFailed": failed},
		[][]string{{"Service"}}, migrationMetrics)
}

func (e *Writer) write(line map[string]any, dims [][]string, metrics []metricDef) {
	line["_aws"] = metadata{
		Timestamp:         e.now().UnixMilli(),
		CloudWatchMetrics: []directive{{Namespace: e.opts.Namespace, Dimensions: dims, Metrics: metrics}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return // only our own types reach here
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
