// Package prom exposes the service's metrics in the Prometheus format for
// server mode: requests and their latency by route, method and status
// class, the connection pools, and tenant migrations. It satisfies
// httpapi.Observer through the domain's RequestInfo, without importing
// httpapi; cmd/tenantapi wires it to the database and serves its Handler at
// /metrics.
package prom

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenantapi/tenantapi"
)

// Options tunes Metrics.
type Options struct {
	// TenantLabel adds a tenant label to the request metrics. Off by
	// default: every tenant multiplies the series.
	TenantLabel bool
	// Runtime adds the Go runtime and process collectors.
	Runtime bool
}

// Metrics is a Prometheus registry of the service's metrics. Create it with
// New; it is safe for concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	tenantLabel bool
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	dbTime      *prometheus.HistogramVec
	migrations  *prometheus.CounterVec

	// series keeps each label set's metrics once looked up, so that a
	// request costs one map read instead of a hash and a lookup in each
	// vector. Its size is the vectors' number of series.
	mu     sync.RWMutex
	series map[seriesKey]*requestSeries
}

// seriesKey is the label values of a request's metrics.
type seriesKey struct{ route, method, class, tenant string }

// requestSeries are the metrics of one label set; dbTime has no status
// class or tenant, so several sets share it.
type requestSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
	dbTime   prometheus.Observer
}

// New returns Metrics on a registry of its own (never the global one, so
// two servers in one process do not collide).
func New(opts Options) *Metrics {
	labels := []string{"route", "method", "status_class"}
	if opts.TenantLabel {
		labels = append(labels, "tenant")
	}
	m := &Metrics{
		reg:         prometheus.NewRegistry(),
		tenantLabel: opts.TenantLabel,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantapi_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status class (2xx, 4xx, 5xx).",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tenantapi_http_request_duration_seconds",
			Help:    "Time from receiving a request to finishing its response.",
			Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, labels),
		dbTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tenantapi_http_request_db_seconds",
			Help:    "Time a request spent in database calls.",
			Buckets: []float64{.001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, labels[:2]),
		migrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantapi_tenant_migrations_total",
			Help: "Tenant schemas this process migrated (outcome=migrated) or failed to (outcome=failed).",
		}, []string{"outcome"}),
		series: map[seriesKey]*requestSeries{},
	}
	m.reg.MustRegister(m.requests, m.latency, m.dbTime, m.migrations)
	// Both outcomes exist from the start, so rates and alerts see a 0.
	m.migrations.WithLabelValues("migrated")
	m.migrations.WithLabelValues("failed")
	if opts.Runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Handler serves the registry in the Prometheus text (or negotiated) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Request records one answered request.
func (m *Metrics) Request(_ context.Context, r tenantapi.RequestInfo) {
	k := seriesKey{route: r.Route, method: method(r.Method), class: statusClass(r.Status)}
	if m.tenantLabel {
		k.tenant = string(r.Tenant)
	}
	m.mu.RLock()
	s := m.series[k]
	m.mu.RUnlock()
	if s == nil {
		s = m.newSeries(k)
	}
	s.requests.Inc()
	s.latency.Observe(r.Duration.Seconds())
	if r.DBTime > 0 {
		s.dbTime.Observe(r.DBTime.Seconds())
	}
}

// newSeries looks up and keeps the metrics of label set k.
func (m *Metrics) newSeries(k seriesKey) *requestSeries {
	values := []string{k.route, k.method, k.class}
	if m.tenantLabel {
		values = append(values, k.tenant)
	}
	s := &requestSeries{
		requests: m.requests.WithLabelValues(values...),
		latency:  m.latency.WithLabelValues(values...),
		dbTime:   m.dbTime.WithLabelValues(values[:2]...),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.series[k]; old != nil {
		return old
	}
	m.series[k] = s
	return s
}

// Migrations records the outcome of a tenant migration run in this process.
func (m *Metrics) Migrations(migrated, failed int) {
	m.migrations.WithLabelValues("migrated").Add(float64(migrated))
	m.migrations.WithLabelValues("failed").Add(float64(failed))
}

// method keeps the method label to the known methods, so that a client
// cannot create series at will.
func method(s string) string {
	switch s {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return s
	}
	return "OTHER"
}

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return statusClasses[status/100-1]
}

var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// PoolStat is one connection pool's state, as PoolStats reports it.
type PoolStat struct {
	Pool                                      string
	Acquired, Idle, Constructing, Total, Max  int32
	Acquires, EmptyAcquires, CanceledAcquires int64
	AcquireWait                               time.Duration
	Prepared, Prepares, Deallocates           int64
}

// AddPools collects stats() at each scrape. stats must be cheap: it runs on
// the scrape's goroutine (pgxpool's Stat takes no lock a query needs).
func (m *Metrics) AddPools(stats func() []PoolStat) {
	m.reg.MustRegister(&poolCollector{stats: stats})
}

var (
	poolConns = prometheus.NewDesc("tenantapi_db_pool_connections", "Connections of a pool by state (acquired, idle, constructing) and in total.",
		[]string{"pool", "state"}, nil)
	poolMax          = prometheus.NewDesc("tenantapi_db_pool_max_connections", "The pool's connection cap.", []string{"pool"}, nil)
	poolAcquires     = prometheus.NewDesc("tenantapi_db_pool_acquires_total", "Connections acquired from the pool.", []string{"pool"}, nil)
	poolEmptyAcquire = prometheus.NewDesc("tenantapi_db_pool_empty_acquires_total", "Acquisitions that had to wait because no connection was idle.", []string{"pool"}, nil)
	poolCanceled     = prometheus.NewDesc("tenantapi_db_pool_canceled_acquires_total", "Acquisitions canceled while waiting.", []string{"pool"}, nil)
	poolWait         = prometheus.NewDesc("tenantapi_db_pool_acquire_seconds_total", "Total time spent acquiring connections.", []string{"pool"}, nil)
	poolPrepared     = prometheus.NewDesc("tenantapi_db_pool_prepared_statements", "Statements prepared on the pool's connections now (DB_PREPARED_STATEMENTS).", []string{"pool"}, nil)
	poolPrepares     = prometheus.NewDesc("tenantapi_db_pool_statements_prepared_total", "Statements prepared on the pool's connections.", []string{"pool"}, nil)
	poolDeallocates  = prometheus.NewDesc("tenantapi_db_pool_statements_deallocated_total", "Prepared statements deallocated to make room for others.", []string{"pool"}, nil)
)

type poolCollector struct{ stats func() []PoolStat }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolConns, poolMax, poolAcquires, poolEmptyAcquire, poolCanceled, poolWait, poolPrepared, poolPrepares, poolDeallocates} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		for state, v := range map[string]int32{"acquired": s.Acquired, "idle": s.Idle, "constructing": s.Constructing, "total": s.Total} {
			ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(v), s.Pool, state)
		}
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.Max), s.Pool)
		ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.Acquires), s.Pool)
		ch <- prometheus.MustNewConstMetric(poolEmptyAcquire, prometheus.CounterValue, float64(s.EmptyAcquires), s.Pool)
		ch <- prometheus.MustNewConstMetric(poolCanceled, prometheus.CounterValue, float64(s.CanceledAcquires), s.Pool)
		ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.AcquireWait.Seconds(), s.Pool)
		ch <- prometheus.MustNewConstMetric(poolPrepared, prometheus.GaugeValue, float64(s.Prepared), s.Pool)
		ch <- prometheus.MustNewConstMetric(poolPrepares, prometheus.CounterValue, float64(s.Prepares), s.Pool)
		ch <- prometheus.MustNewConstMetric(poolDeallocates, prometheus.CounterValue, float64(s.Deallocates), s.Pool)
	}
}

// Fleet is where the tenant schemas stand, as FleetFunc reports it.
type Fleet struct {
	// Versions maps a schema version to its number of tenants.
	Versions map[int]int
	// Failed is the number of tenants whose last migration failed.
	Failed int
}

// AddFleet collects the tenants per schema version and the failed ones at
// scrape time from fleet, at most once per maxAge (the query reads the
// whole registry, so many scrapers must not repeat it) and within timeout.
// A failing query leaves the gauges out of that scrape and counts an error.
func (m *Metrics) AddFleet(fleet func(context.Context) (Fleet, error), maxAge, timeout time.Duration) {
	m.reg.MustRegister(&fleetCollector{fleet: fleet, maxAge: maxAge, timeout: timeout,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tenantapi_tenant_schema_scrape_errors_total",
			Help: "Scrapes whose registry query for the schema-version gauges failed.",
		})})
}

var (
	fleetVersions = prometheus.NewDesc("tenantapi_tenant_schema_version_tenants", "Tenants (not being deleted) at each schema version.", []string{"version"}, nil)
	fleetFailed   = prometheus.NewDesc("tenantapi_tenant_migration_failed_tenants", "Tenants whose last migration failed.", nil, nil)
)

type fleetCollector struct {
	fleet           func(context.Context) (Fleet, error)
	maxAge, timeout time.Duration
	errors          prometheus.Counter

	mu   sync.Mutex
	at   time.Time
	last Fleet
	ok   bool
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fleetVersions
	ch <- fleetFailed
	c.errors.Describe(ch)
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if !c.ok || time.Since(c.at) >= c.maxAge {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		f, err := c.fleet(ctx)
		cancel()
		if err != nil {
			c.errors.Inc()
			c.ok = false
		} else {
			c.last, c.at, c.ok = f, time.Now(), true
		}
	}
	last, ok := c.last, c.ok
	c.mu.Unlock()
	c.errors.Collect(ch)
	if !ok {
		return
	}
	for v, n := range last.Versions {
		ch <- prometheus.MustNewConstMetric(fleetVersions, prometheus.GaugeValue, float64(n), strconv.Itoa(v))
	}
	ch <- prometheus.MustNewConstMetric(fleetFailed, prometheus.GaugeValue, float64(last.Failed))
}
