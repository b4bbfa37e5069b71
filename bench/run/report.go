package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// renderMarkdown writes the results as the tables BENCHMARKS.md carries.
func renderMarkdown(res *results) string {
	var b strings.Builder
	m := res.Machine
	fmt.Fprintf(&b, "## Results %s\n\n", res.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %d × %s, %s GiB, Linux %s, %s, PostgreSQL %s. Load average (1/5/15 min) at the start %s, at the end %s.\n\n",
		m.CPUs, m.Model, m.MemoryGiB, m.Kernel, m.Go, m.PostgreSQL, m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&b, "CPU seconds are per measured window; `other` is what the machine spent on processes outside the run (a run that other work disturbed by more than a quarter of a core is made again, up to three times, when the harness may wait for quiet).\n\n")
	fmt.Fprintf(&b, "Command: `%s`. Each run: %v s warm-up, %v s measured, %v concurrent clients on 127.0.0.1, a uniformly random tenant (and its key, and one of its items) per request.\n\n",
		res.Command, res.Options["warmup_s"], res.Options["duration_s"], res.Options["concurrency"])
	if p := res.Provision; p != nil {
		fmt.Fprintf(&b, "Data set: %d tenants × %d items, provisioned through the stores in %.1f s (ANALYZE %.1f s).\n\n",
			p.Tenants, p.ItemsPerTenant, p.Seconds, p.AnalyzeSeconds)
	}
	for _, p := range res.Datasets {
		fmt.Fprintf(&b, "Data set `%s`: %d tenants with the application set `%s`, each with %d items and %d projects, provisioned through the stores in %.1f s (ANALYZE %.1f s).\n\n",
			p.Database, p.Tenants, p.Set, p.ItemsPerTenant, p.ProjectsPerTenant, p.Seconds, p.AnalyzeSeconds)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "Note: %s\n\n", n)
	}

	main := filter(res.Runs, func(r *runResult) bool { return r.Section == "main" })
	if len(main) > 0 {
		b.WriteString("### Requests\n\n")
		runTable(&b, main, false)
		b.WriteString("\n### Ratios\n\n")
		ratioTable(&b, main)
	}
	var design []*runResult
	for _, r := range res.Runs {
		if r.Section != "main" && r.Section != "roles_ab" && r.Section != "pool_ab" && r.Section != "resources" && r.Section != "prepared" {
			design = append(design, r)
		}
	}
	if ab := filter(res.Runs, func(r *runResult) bool { return r.Section == "roles_ab" }); len(ab) > 0 {
		b.WriteString("\n### Tenant roles, alternating runs\n\n")
		abTable(&b, ab, "roles on", "roles off")
	}
	if ab := filter(res.Runs, func(r *runResult) bool { return r.Section == "pool_ab" }); len(ab) > 0 {
		b.WriteString("\n### Pool size, alternating runs\n\n")
		abTable(&b, ab, "DB_MAX_CONNS=16", "DB_MAX_CONNS=4")
	}
	if rs := filter(res.Runs, func(r *runResult) bool { return r.Section == "resources" }); len(rs) > 0 {
		b.WriteString("\n### A resource of the application set against items, alternating runs\n\n")
		for _, d := range res.Datasets {
			if d.Database == resourceDatabase {
				fmt.Fprintf(&b, "One `tenantapi serve` configuration: `TENANT_MIGRATIONS=%s`, tenant roles on, every other setting as in the main table; a fresh server each run, the first N of %d tenants of the database `%s`, each with %d items and %d projects.\n\n",
					d.Set, d.Tenants, d.Database, d.ItemsPerTenant, d.ProjectsPerTenant)
			}
		}
		abTable(&b, rs, "GET /projects/{id}", "GET /items/{id}")
	}
	if len(design) > 0 {
		b.WriteString("\n### Design questions and logging\n\n")
		b.WriteString("Each variant next to the run of the main table it differs from (`defaults`: exec mode `exec`, tenant roles on, pgxpool's connection lifetime, one pool).\n\n")
		var rows []*runResult
		seen := map[*runResult]bool{}
		for _, r := range design {
			for _, base := range main {
				if base.Scenario == r.Scenario && base.Tenants == r.Tenants && base.Target == r.Target && !seen[base] {
					rows = append(rows, base)
					seen[base] = true
				}
			}
		}
		rows = append(rows, design...)
		sortRuns(rows)
		runTable(&b, rows, true)
	}
	if pr := filter(res.Runs, func(r *runResult) bool { return r.Section == "prepared" }); len(pr) > 0 {
		b.WriteString("\n### Prepared statements, tenant routing and the role switch\n\n")
		warmup := "the steady section's warm-up"
		if v, ok := res.Options["steady_warmup_s"].(float64); ok {
			warmup = fmt.Sprintf("a warm-up of %g s", v)
		}
		fmt.Fprintf(&b, "`tenantapi serve` at its defaults (`DB_PREPARED_STATEMENTS` 1000 prepared statements per runtime connection, `DB_TENANT_CONNS` 2 connections per tenant, pgxpool's `DB_MAX_CONNS`) and with one setting changed; the ceiling (bench/loadgen --db, tenant roles on) in each exec mode (cache_statement with a statement cache of %d), with each role switch (set_config: tenantapi's `SELECT set_config('role', …)`; set_local: `SET LOCAL ROLE …; SET LOCAL statement_timeout = …`), and with 4 connections in 1 or 2 route groups. At the larger tenant count after %s. Under cache_statement pg_stat_statements shows almost none of set_local's statements (it appears to count a prepared utility statement only at its first execution on a connection); each ceiling run first checks that its role switch takes effect (`roles_checked` in results.json). prepared/req and deallocated/req are the statements tenantapi's runtime pools prepared and deallocated per request in the window, prepared at end those prepared on their connections at its end (its /metrics; — when the binary does not export them).\n\n",
			ceilingStatementCache, warmup)
		sortRuns(pr)
		runTable(&b, pr, true, preparedColumns...)
	}
	if res.Startup != nil {
		b.WriteString("\n### Start-up with the example set\n\n")
		startupTables(&b, res.Startup)
	}
	if len(res.Fleet) > 0 {
		b.WriteString("\n### Fleet operations\n\n")
		fleetLines(&b, res.Fleet)
	}
	if res.Databases != nil {
		b.WriteString("\n### Databases: moves, export and catalog memory\n\n")
		databasesLines(&b, res.Databases)
	}
	return b.String()
}

func filter(runs []*runResult, keep func(*runResult) bool) []*runResult {
	var out []*runResult
	for _, r := range runs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func mb(bytes int64) string { return fmt.Sprintf("%.0f", float64(bytes)/(1<<20)) }

// column is a column of runTable beyond its own.
type column struct {
	head string
	cell func(*runResult) string
}

// sortRuns orders runs by scenario, tenants and target, keeping the order
// of the runs of each.
func sortRuns(runs []*runResult) {
	slices.SortStableFunc(runs, func(x, y *runResult) int {
		return strings.Compare(fmt.Sprintf("%s %6d %s", x.Scenario, x.Tenants, x.Target), fmt.Sprintf("%s %6d %s", y.Scenario, y.Tenants, y.Target))
	})
}

func runTable(b *strings.Builder, runs []*runResult, variants bool, extra ...column) {
	if variants {
		b.WriteString("| section | variant ")
	}
	b.WriteString("| scenario | tenants | target | req/s | p50 ms | p90 ms | p99 ms | errors | DB round trips/req | statements/req | CPU s: service / postgres / loadgen / other | service peak RSS MB | PG backends (n): private MB |")
	for _, c := range extra {
		b.WriteString(" " + c.head + " |")
	}
	b.WriteString("\n")
	if variants {
		b.WriteString("|---|---")
	}
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|" + strings.Repeat("---:|", len(extra)) + "\n")
	for _, r := range runs {
		if variants {
			fmt.Fprintf(b, "| %s | %s ", r.Section, r.Variant)
		}
		if r.Error != "" {
			fmt.Fprintf(b, "| %s | %d | %s | failed: %s |||||||||%s\n", r.Scenario, r.Tenants, r.Target, strings.ReplaceAll(r.Error, "\n", " "),
				strings.Repeat("|", len(extra)))
			continue
		}
		rss := "—"
		if r.ServicePeakRSS > 0 {
			rss = mb(r.ServicePeakRSS)
		}
		fmt.Fprintf(b, "| %s | %d | %s | %.0f | %.2f | %.2f | %.2f | %d | %.2f | %s | %.1f / %.1f / %.1f / %.1f | %s | (%d): %s |",
			r.Scenario, r.Tenants, r.Target, r.Load.RPS, r.Load.Latency.P50, r.Load.Latency.P90, r.Load.Latency.P99,
			r.Load.Errors, r.RoundTripsPerRequest, statements(r.StatementsPerRequest),
			r.ServiceCPU, r.PostgresCPU, r.LoadgenCPU, max(r.ForeignCPU, 0), rss, r.Backends, mb(r.BackendMemory.Private))
		for _, c := range extra {
			b.WriteString(" " + c.cell(r) + " |")
		}
		b.WriteString("\n")
	}
}

func statements(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// ratioTable shows tenantapi's throughput against each peer, and each
// target's throughput at many tenants against few.
func ratioTable(b *strings.Builder, runs []*runResult) {
	find := func(scenario string, tenants int, target string) *runResult {
		for _, r := range runs {
			if r.Scenario == scenario && r.Tenants == tenants && r.Target == target && r.Error == "" {
				return r
			}
		}
		return nil
	}
	ratio := func(x, y *runResult) string {
		if x == nil || y == nil || y.Load.RPS == 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f", x.Load.RPS/y.Load.RPS)
	}
	var scenarios []string
	var tenants []int
	for _, r := range runs {
		if !slices.Contains(scenarios, r.Scenario) {
			scenarios = append(scenarios, r.Scenario)
		}
		if !slices.Contains(tenants, r.Tenants) {
			tenants = append(tenants, r.Tenants)
		}
	}
	slices.Sort(tenants)
	b.WriteString("| scenario | tenants | tenantapi req/s | ÷ Flask | ÷ bare | ÷ bare-roles | ÷ ceiling |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, sc := range scenarios {
		for _, n := range tenants {
			t := find(sc, n, tTenantapi)
			if t == nil {
				continue
			}
			fmt.Fprintf(b, "| %s | %d | %.0f | %s | %s | %s | %s |\n", sc, n, t.Load.RPS,
				ratio(t, find(sc, n, tFlask)), ratio(t, find(sc, n, tBare)), ratio(t, find(sc, n, tBareRoles)), ratio(t, find(sc, n, tCeiling)))
		}
	}
	if len(tenants) < 2 {
		return
	}
	lo, hi := tenants[0], tenants[len(tenants)-1]
	fmt.Fprintf(b, "\n| scenario | %d ÷ %d tenants: tenantapi | Flask | bare | bare-roles | ceiling |\n|---|---:|---:|---:|---:|---:|\n", hi, lo)
	for _, sc := range scenarios {
		fmt.Fprintf(b, "| %s", sc)
		for _, t := range []string{tTenantapi, tFlask, tBare, tBareRoles, tCeiling} {
			fmt.Fprintf(b, " | %s", ratio(find(sc, hi, t), find(sc, lo, t)))
		}
		b.WriteString(" |\n")
	}
}

func fleetLines(b *strings.Builder, fleet map[string]any) {
	get := func(m map[string]any, k string) float64 { v, _ := m[k].(float64); return v }
	if m, ok := fleet["first_connection"].(map[string]any); ok {
		for _, who := range []string{"runtime", "owner"} {
			if w, ok := m[who].(map[string]any); ok && w["error"] == nil {
				fmt.Fprintf(b, "- A fresh connection of the %s role (third try): connect %.1f ms, `SELECT 1` %.1f ms, first tenant statement with the role switch %.1f ms, second %.1f ms.\n",
					who, get(w, "connect_ms"), get(w, "select_1_ms"), get(w, "first_tenant_statement_ms"), get(w, "second_tenant_statement_ms"))
			}
		}
	}
	for _, k := range []string{"provision", "migrate", "lambda", "lambda_roles_off"} {
		m, ok := fleet[k].(map[string]any)
		if !ok {
			continue
		}
		if e, _ := m["error"].(string); e != "" {
			fmt.Fprintf(b, "- %s: failed: %s\n", k, e)
			continue
		}
		switch k {
		case "provision":
			fmt.Fprintf(b, "- Provisioning %.0f tenants through the %s, %.0f at a time: %.1f s, %.0f tenants/s, %.0f errors.\n",
				get(m, "tenants"), m["method"], get(m, "concurrency"), get(m, "seconds"), get(m, "per_second"), get(m, "errors"))
		case "migrate":
			fmt.Fprintf(b, "- Migrating %.0f tenants with one new migration (`%s`) through postgres.Migrator, %.0f at a time: %.1f s (%.0f tenants/s), %.0f failed; a second run with nothing to do: %.2f s.\n",
				get(m, "tenants"), m["migration"], get(m, "concurrency"), get(m, "seconds"), get(m, "per_second"), get(m, "failed"), get(m, "noop_seconds"))
		case "lambda", "lambda_roles_off":
			roles := "on"
			if on, _ := m["tenant_roles"].(bool); !on {
				roles = "off"
			}
			fmt.Fprintf(b, "- Lambda under the Runtime Interface Emulator (%s, tenant roles %s): cold start median %.1f ms (each: %v ms), warm median %.2f ms, p90 %.2f ms over %.0f invocations.\n",
				m["request"], roles, get(m, "cold_median_ms"), m["cold_ms"], get(m, "warm_median_ms"), get(m, "warm_p90_ms"), get(m, "warm_invocations"))
		}
	}
}

// abTable summarizes alternating runs of two variants: every run's
// throughput, the medians and the ratio of variant num's median to den's.
func abTable(b *strings.Builder, runs []*runResult, num, den string) {
	b.WriteString("| scenario | tenants | target | variant | req/s of each run | median req/s | median p99 ms | DB round trips/req | statements/req (last run) | CPU µs/req, median: server / PostgreSQL |\n|---|---:|---|---|---|---:|---:|---:|---|---|\n")
	type key struct {
		scenario, target, variant string
		tenants                   int
	}
	var order []key
	groups := map[key][]*runResult{}
	for _, r := range runs {
		if r.Error != "" {
			continue
		}
		k := key{r.Scenario, r.Target, r.Variant, r.Tenants}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	medians := map[key]float64{}
	for _, k := range order {
		var rps, p99, rt, svc, pg []float64
		var each []string
		for _, r := range groups[k] {
			rps = append(rps, r.Load.RPS)
			p99 = append(p99, r.Load.Latency.P99)
			rt = append(rt, r.RoundTripsPerRequest)
			if reqs := r.Load.RPS * r.Window; reqs > 0 {
				svc = append(svc, r.ServiceCPU/reqs*1e6)
				pg = append(pg, r.PostgresCPU/reqs*1e6)
			}
			each = append(each, fmt.Sprintf("%.0f", r.Load.RPS))
		}
		medians[k] = median(rps)
		last := groups[k][len(groups[k])-1]
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %.0f | %.2f | %.2f | %s | %.0f / %.0f |\n", k.scenario, k.tenants, k.target, k.variant,
			strings.Join(each, ", "), medians[k], median(p99), median(rt), statements(last.StatementsPerRequest), median(svc), median(pg))
	}
	b.WriteString("\n")
	for _, k := range order {
		if k.variant != num {
			continue
		}
		d := key{k.scenario, k.target, den, k.tenants}
		if medians[d] > 0 {
			fmt.Fprintf(b, "- %s at %d tenants, %s: %s ÷ %s = %.2f (medians).\n", k.scenario, k.tenants, k.target, num, den, medians[k]/medians[d])
		}
	}
}

// startupTables shows serve's start at each tenant count and the full
// catalog read on the same databases.
func startupTables(b *strings.Builder, s *startupResults) {
	b.WriteString("`tenantapi serve` with `TENANT_MIGRATIONS=" + exampleSet + "`, a fresh process each time; times from just before the exec; VmRSS and VmHWM right after the first resource answer; statements are everything the database ran meanwhile (pg_stat_statements).\n\n")
	b.WriteString("| tenants | tenant roles | exec → 200 on /readyz, ms (median; each) | exec → 200 on GET /projects/{id}, ms (median; each) | VmRSS MB (median) | VmHWM MB (median) | statements: calls / rows (median) | the application_schemas read: calls / rows |\n|---:|---|---|---|---:|---:|---|---|\n")
	for _, r := range s.Serve {
		if r.Error != "" {
			fmt.Fprintf(b, "| %d | %v | failed: %s |||||\n", r.Tenants, r.TenantRoles, strings.ReplaceAll(r.Error, "\n", " "))
			continue
		}
		var ready, resource, rss, hwm, calls, rows []float64
		var readyEach, resourceEach []string
		schemaReads := ""
		for _, run := range r.Runs {
			ready, resource = append(ready, run.ReadyMs), append(resource, run.ResourceMs)
			readyEach, resourceEach = append(readyEach, fmt.Sprintf("%.0f", run.ReadyMs)), append(resourceEach, fmt.Sprintf("%.0f", run.ResourceMs))
			rss, hwm = append(rss, float64(run.RSS)), append(hwm, float64(run.PeakRSS))
			var c, n, sc, sn int64
			for _, st := range run.Statements {
				c, n = c+st.Calls, n+st.Rows
				if strings.Contains(st.Query, "application_schemas") {
					sc, sn = sc+st.Calls, sn+st.Rows
				}
			}
			calls, rows = append(calls, float64(c)), append(rows, float64(n))
			schemaReads = fmt.Sprintf("%d / %d", sc, sn)
		}
		fmt.Fprintf(b, "| %d | %v | %.1f (%s) | %.1f (%s) | %s | %s | %.0f / %.0f | %s |\n", r.Tenants, r.TenantRoles,
			median(ready), strings.Join(readyEach, ", "), median(resource), strings.Join(resourceEach, ", "),
			mb(int64(median(rss))), mb(int64(median(hwm))), median(calls), median(rows), schemaReads)
	}
	b.WriteString("\nReading every tenant schema's catalog once instead (what a schema cache that learns each schema from PostgreSQL does at start; PostgREST's reads this and more): pg_class, pg_attribute, pg_constraint and pg_index of every table of every `tenant_*` schema, one query through pgx on a fresh owner connection, every row decoded into Go values.\n\n")
	b.WriteString("| tenants | schemas | tables | columns | constraints | indexes | result MB | first read ms | second read ms | Go heap of the result MB | backend private MB before → after |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, c := range s.Catalog {
		if c.Error != "" {
			fmt.Fprintf(b, "| %d | failed: %s |||||||||\n", c.Tenants, strings.ReplaceAll(c.Error, "\n", " "))
			continue
		}
		fmt.Fprintf(b, "| %d | %d | %d | %d | %d | %d | %.1f | %.0f | %.0f | %.1f | %s → %s |\n", c.Tenants, c.Schemas, c.Tables, c.Columns,
			c.Constraints, c.Indexes, float64(c.ResultBytes)/(1<<20), c.ColdMs, c.WarmMs, float64(c.HeapBytes)/(1<<20),
			mb(c.BackendPrivateBefore), mb(c.BackendPrivateAfter))
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
