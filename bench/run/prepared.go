package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The prepared section: tenantapi's server-side prepared statements
// (DB_PREPARED_STATEMENTS), its routing of a tenant to a group of the
// runtime connections (DB_TENANT_CONNS) and its pool size, next to the
// ceiling in each exec mode, with each role switch and with route groups.

// ceilingStatementCache is pgx's statement cache capacity of the ceiling's
// cache_statement runs of the section: room for a statement per tenant at
// 10,000 tenants but not for a role switch per tenant beside it.
const ceilingStatementCache = 8192

// preparedSpecs are the section's runs: GET at --tenants-small and, after
// the steady section's warm-up, at --tenants-large; POST at
// --tenants-small with preparation on and off.
func (h *harness) preparedSpecs() []runSpec {
	o := h.o
	var specs []runSpec
	for _, n := range []int{o.small, o.large} {
		var warmup time.Duration
		label := func(v string) string { return v }
		if n == o.large {
			warmup = o.steadyWarmup
			label = func(v string) string { return "warm-up " + warmup.String() + ", " + v }
		}
		for _, env := range []string{"", "DB_PREPARED_STATEMENTS=0", "DB_PREPARED_STATEMENTS=5000", "DB_TENANT_CONNS=0", "DB_TENANT_CONNS=1",
			"DB_MAX_CONNS=8", "DB_MAX_CONNS=16", "DB_MAX_CONNS=8 DB_TENANT_CONNS=1", "DB_MAX_CONNS=16 DB_TENANT_CONNS=1"} {
			specs = append(specs, preparedTenantapi("get", n, env, label, warmup))
		}
		for _, c := range []struct {
			mode, roleSwitch string
			conns, groups    int
		}{
			{"exec", switchSetConfig, 0, 0},
			{"exec", switchSetLocal, 0, 0},
			{"cache_statement", switchSetConfig, 0, 0},
			{"cache_statement", switchSetLocal, 0, 0},
			{"cache_statement", switchRoleOnly, 0, 0},
			{"cache_statement", switchNone, 0, 0},
			{"simple_protocol", switchSetConfig, 0, 0},
			{"cache_statement", switchSetConfig, 4, 1},
			{"cache_statement", switchSetConfig, 4, 2},
		} {
			if n == o.large && (c.roleSwitch != switchSetConfig || c.mode == "simple_protocol") {
				continue // the role switch and the protocol are settled at few tenants
			}
			s := runSpec{Section: "prepared", Scenario: "get", Tenants: n, Target: tCeiling, TenantRoles: c.roleSwitch != switchNone, ExecMode: c.mode,
				RoleSwitch: c.roleSwitch, Conns: c.conns, RouteGroups: c.groups, Warmup: warmup}
			v := c.mode
			if c.mode == "cache_statement" {
				s.StatementCache = ceilingStatementCache
				v += fmt.Sprintf(" (cache %d)", ceilingStatementCache)
			}
			v += ", " + c.roleSwitch
			if c.conns > 0 {
				v += fmt.Sprintf(", %d conns, %d pool(s)", c.conns, c.groups)
			}
			s.Variant = label(v)
			specs = append(specs, s)
		}
	}
	for _, env := range []string{"", "DB_PREPARED_STATEMENTS=0"} {
		specs = append(specs, preparedTenantapi("post", o.small, env, func(v string) string { return v }, 0))
	}
	return specs
}

// preparedTenantapi is the section's tenantapi run with env, settings
// separated by spaces ("": the defaults).
func preparedTenantapi(scenario string, tenants int, env string, label func(string) string, warmup time.Duration) runSpec {
	s := runSpec{Section: "prepared", Variant: label("defaults"), Scenario: scenario, Tenants: tenants, Target: tTenantapi,
		TenantRoles: true, Warmup: warmup}
	if env != "" {
		s.Variant, s.Env = label(env), strings.Fields(env)
	}
	return s
}

// The role switches of the load generator's --role-switch.
const (
	switchSetConfig = "set_config"
	switchSetLocal  = "set_local"
	switchRoleOnly  = "set_config_role" // the role without the statement_timeout
	switchNone      = "none"            // tenant roles off
)

// poolStatements is what tenantapi's /metrics says of the prepared
// statements of its runtime pools, summed over them (the primary
// database's pool is "runtime", another database's "<db>/runtime"); a
// field is nil when the metric is absent (a binary that does not export
// it).
type poolStatements struct {
	prepared, deallocated, now *float64
}

// The metrics of poolStatements.
const (
	metricPrepared    = "tenantapi_db_pool_statements_prepared_total"
	metricDeallocated = "tenantapi_db_pool_statements_deallocated_total"
	metricPreparedNow = "tenantapi_db_pool_prepared_statements"
)

// scrapePoolStatements reads the runtime pools' prepared statements from
// the /metrics of the tenantapi serve at url.
func scrapePoolStatements(ctx context.Context, url string) (poolStatements, error) {
	var ps poolStatements
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return ps, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ps, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ps, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return ps, fmt.Errorf("GET /metrics: %v", err)
	}
	ps.prepared = runtimeSum(families[metricPrepared])
	ps.deallocated = runtimeSum(families[metricDeallocated])
	ps.now = runtimeSum(families[metricPreparedNow])
	return ps, nil
}

// runtimeSum sums f's samples of the runtime pools; nil when there are
// none.
func runtimeSum(f *dto.MetricFamily) *float64 {
	var sum float64
	found := false
	for _, m := range f.GetMetric() {
		runtime := false
		for _, l := range m.GetLabel() {
			if l.GetName() == "pool" && (l.GetValue() == "runtime" || strings.HasSuffix(l.GetValue(), "/runtime")) {
				runtime = true
			}
		}
		if !runtime {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		default:
			sum += m.GetUntyped().GetValue()
		}
	}
	if !found {
		return nil
	}
	return &sum
}

// perRequest is (b - a) / reqs; nil when either reading is absent.
func perRequest(a, b *float64, reqs float64) *float64 {
	if a == nil || b == nil || reqs <= 0 {
		return nil
	}
	v := (*b - *a) / reqs
	return &v
}

// preparedColumns are the prepared section's columns beside runTable's.
var preparedColumns = []column{
	{"prepared/req", func(r *runResult) string { return optional(r.PreparedPerRequest, "%.3f") }},
	{"deallocated/req", func(r *runResult) string { return optional(r.DeallocatedPerRequest, "%.3f") }},
	{"prepared at end", func(r *runResult) string { return optional(r.PreparedAtEnd, "%.0f") }},
}

// optional formats v, or "—" when it is absent.
func optional(v *float64, format string) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf(format, *v)
}
