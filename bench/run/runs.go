package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

// Targets of a run.
const (
	tTenantapi = "tenantapi"
	tFlask     = "flask"
	// tBare is the reference: net/http + pgx with pgx's defaults (its
	// statement cache, so prepared statements) and nothing else: no
	// tenant roles, no auth. tBareRoles is the same handler issuing
	// tenantapi's statements as tenantapi's defaults do (tenant roles
	// pipelined, exec mode), the reference of earlier runs.
	tBare      = "bare"
	tBareRoles = "bare-roles"
	tCeiling   = "ceiling"
)

// runSpec is one measurement: a target under one scenario.
type runSpec struct {
	Section  string `json:"section"` // main, logging, exec_mode, tenant_roles, auth_cache, lifetime, routing, steady, prepared, roles_ab, resources
	Variant  string `json:"variant"`
	Scenario string `json:"scenario"`
	Tenants  int    `json:"tenants"`
	Target   string `json:"target"`
	// Database holds the run's tenants ("": the main data set's);
	// Resource is what get and list read ("": items).
	Database string `json:"database,omitempty"`
	Resource string `json:"resource,omitempty"`

	// Env is added to tenantapi's environment.
	Env []string `json:"env,omitempty"`
	// TenantRoles and ExecMode are what the bare peer and the ceiling do
	// (tenantapi's come from Env and its defaults).
	TenantRoles bool   `json:"tenant_roles"`
	ExecMode    string `json:"exec_mode"`
	// Conns and RouteGroups size the ceiling's pools (0: one connection
	// per client, one pool).
	Conns       int `json:"conns,omitempty"`
	RouteGroups int `json:"route_groups,omitempty"`
	// Warmup, when set, replaces the harness's warm-up: the steady-state
	// runs at many tenants warm every backend's caches first.
	Warmup time.Duration `json:"warmup,omitempty"`
	// PrepareRole is the ceiling's experiment of a prepared role switch
	// (see bench/loadgen).
	PrepareRole bool `json:"prepare_role,omitempty"`
	// RoleSwitch is the ceiling's role switch ("": set_config, as
	// tenantapi's); StatementCache its pgx statement cache capacity (0:
	// pgx's).
	RoleSwitch     string `json:"role_switch,omitempty"`
	StatementCache int    `json:"statement_cache,omitempty"`
}

// runResult is a run's measurements.
type runResult struct {
	runSpec
	Load benchkit.LoadResult `json:"load"`
	// Window is the time between the two readings of the counters below.
	Window float64 `json:"window_seconds"`
	// CPU seconds in the window.
	ServiceCPU  float64 `json:"service_cpu_seconds"`
	PostgresCPU float64 `json:"postgres_cpu_seconds"`
	LoadgenCPU  float64 `json:"loadgen_cpu_seconds"`
	// ServicePeakRSS is VmHWM of the service (summed over gunicorn's
	// processes), bytes.
	ServicePeakRSS int64 `json:"service_peak_rss"`
	// Backends and BackendMemory are the service's PostgreSQL backends at
	// the end of the window and their memory.
	Backends      int             `json:"backends"`
	BackendMemory benchkit.Memory `json:"backend_memory"`
	// RoundTripsPerRequest is data segments received by the server per
	// request; StatementsPerRequest pg_stat_statements calls per request
	// by kind; CommitsPerRequest transactions committed per request.
	RoundTripsPerRequest float64            `json:"round_trips_per_request"`
	StatementsPerRequest map[string]float64 `json:"statements_per_request"`
	CommitsPerRequest    float64            `json:"commits_per_request"`
	LoadAverage          string             `json:"load_average"`
	// ForeignCPU is CPU seconds the machine spent in the window on
	// processes other than the run's; Attempts how many times the run was
	// made (a disturbed one is made again when the harness waits for
	// quiet).
	ForeignCPU float64 `json:"foreign_cpu_seconds"`
	Attempts   int     `json:"attempts"`
	// PreparedPerRequest and DeallocatedPerRequest are the statements
	// tenantapi's runtime pools prepared and deallocated per request in
	// the window, PreparedAtEnd the statements prepared on their
	// connections at its end (its /metrics; absent when the binary does
	// not export them); MetricsError why /metrics was not read.
	PreparedPerRequest    *float64 `json:"prepared_per_request,omitempty"`
	DeallocatedPerRequest *float64 `json:"deallocated_per_request,omitempty"`
	PreparedAtEnd         *float64 `json:"prepared_statements_at_end,omitempty"`
	MetricsError          string   `json:"metrics_error,omitempty"`
	// RolesChecked is what the ceiling's check of its role switch saw
	// before the load (bench/loadgen --check-roles).
	RolesChecked string `json:"roles_checked,omitempty"`
	Error        string `json:"error,omitempty"`
}

// disturbed reports whether other work took more than a quarter of a core
// during the window. (Per-process CPU times and the machine's differ by up
// to about a tenth of a core under full load: the machine's are sampled
// at each tick, the processes' measured and then split between user and
// system.)
func (r *runResult) disturbed() bool { return r.Window > 0 && r.ForeignCPU/r.Window > 0.25 }

// plan lists the runs of the chosen sections.
func (h *harness) plan() []runSpec {
	o := h.o
	targets := []string{tTenantapi, tBare, tBareRoles, tCeiling}
	if h.gunicorn != "" {
		targets = append(targets, tFlask)
	}
	var specs []runSpec
	add := func(s runSpec) {
		if !listHas(o.scenarios, s.Scenario) || !listHas(o.targets, s.Target) {
			return
		}
		if s.ExecMode == "" {
			s.ExecMode = "exec"
		}
		specs = append(specs, s)
	}
	type point struct {
		scenario string
		tenants  int
	}
	var points []point
	if o.quick {
		points = []point{{"get", o.small}, {"get", o.large}, {"post", o.small}}
	} else {
		for _, sc := range []string{"get", "post", "mix", "list"} {
			points = append(points, point{sc, o.small}, point{sc, o.large})
		}
	}
	if o.has("main") {
		for _, p := range points {
			for _, t := range targets {
				// bare-roles and the ceiling issue tenantapi's
				// statements, tenant roles included (its default); bare
				// is pgx's defaults alone.
				spec := runSpec{Section: "main", Variant: "defaults", Scenario: p.scenario, Tenants: p.tenants, Target: t, TenantRoles: t != tFlask}
				if t == tBare {
					spec.TenantRoles, spec.ExecMode = false, "cache_statement"
				}
				add(spec)
			}
		}
	}
	if o.has("logging") {
		add(runSpec{Section: "logging", Variant: "LOG_LEVEL=info", Scenario: "get", Tenants: o.small, Target: tTenantapi,
			Env: []string{"LOG_LEVEL=info"}, TenantRoles: true})
	}
	if o.has("design") {
		for _, n := range []int{o.small, o.large} {
			for _, mode := range []string{"cache_describe", "cache_statement"} {
				add(runSpec{Section: "exec_mode", Variant: mode, Scenario: "get", Tenants: n, Target: tTenantapi,
					Env: []string{"DB_EXEC_MODE=" + mode}, TenantRoles: true, ExecMode: mode})
				add(runSpec{Section: "exec_mode", Variant: mode, Scenario: "get", Tenants: n, Target: tCeiling,
					TenantRoles: true, ExecMode: mode})
			}
		}
		for _, n := range []int{o.small, o.large} {
			add(runSpec{Section: "tenant_roles", Variant: "roles off", Scenario: "get", Tenants: n, Target: tTenantapi,
				Env: []string{"DB_TENANT_ROLES=false"}})
			add(runSpec{Section: "tenant_roles", Variant: "roles off", Scenario: "get", Tenants: n, Target: tBare})
			add(runSpec{Section: "tenant_roles", Variant: "roles off", Scenario: "get", Tenants: n, Target: tCeiling})
		}
		add(runSpec{Section: "tenant_roles", Variant: "roles off", Scenario: "post", Tenants: o.small, Target: tTenantapi,
			Env: []string{"DB_TENANT_ROLES=false"}})
		for _, n := range []int{o.small, o.large} {
			add(runSpec{Section: "tenant_roles", Variant: "role switch prepared", Scenario: "get", Tenants: n, Target: tCeiling,
				TenantRoles: true, PrepareRole: true})
		}
		// Entries kept no longer than CACHE_TTL: the caches as they were
		// before the change feed.
		add(runSpec{Section: "auth_cache", Variant: "CACHE_MAX_AGE=2s", Scenario: "get", Tenants: o.large, Target: tTenantapi,
			Env: []string{"CACHE_MAX_AGE=2s"}, TenantRoles: true})
		add(runSpec{Section: "auth_cache", Variant: "CACHE_MAX_AGE=2s, warm-up " + o.steadyWarmup.String(), Scenario: "get", Tenants: o.large,
			Target: tTenantapi, Env: []string{"CACHE_MAX_AGE=2s"}, TenantRoles: true, Warmup: o.steadyWarmup})
		for _, life := range []string{"5s", "1s"} {
			add(runSpec{Section: "lifetime", Variant: "DB_MAX_CONN_LIFETIME=" + life, Scenario: "get", Tenants: o.large,
				Target: tTenantapi, Env: []string{"DB_MAX_CONN_LIFETIME=" + life}, TenantRoles: true})
		}
		for _, groups := range []int{1, 4} {
			add(runSpec{Section: "routing", Variant: fmt.Sprintf("4 conns, %d pool(s)", groups), Scenario: "get", Tenants: o.large,
				Target: tCeiling, TenantRoles: true, Conns: 4, RouteGroups: groups})
		}
	}
	if o.has("roles_ab") {
		// Runs on this machine vary by 10-20% from one to the next: the
		// cost of tenant roles through the whole HTTP path is measured as
		// alternating pairs.
		for _, p := range []struct{ tenants, pairs int }{{o.small, 5}, {o.large, 3}} {
			for range p.pairs {
				add(runSpec{Section: "roles_ab", Variant: "roles on", Scenario: "get", Tenants: p.tenants, Target: tTenantapi, TenantRoles: true})
				add(runSpec{Section: "roles_ab", Variant: "roles off", Scenario: "get", Tenants: p.tenants, Target: tTenantapi,
					Env: []string{"DB_TENANT_ROLES=false"}})
			}
		}
	}
	if o.has("pool_ab") {
		// The pool size, through the whole HTTP path: alternating pairs,
		// the larger count after the steady warm-up.
		for _, p := range []struct{ tenants, pairs int }{{o.small, 3}, {o.large, 2}} {
			var w time.Duration
			if p.tenants == o.large {
				w = o.steadyWarmup
			}
			for range p.pairs {
				add(runSpec{Section: "pool_ab", Variant: "DB_MAX_CONNS=16", Scenario: "get", Tenants: p.tenants, Target: tTenantapi,
					TenantRoles: true, Env: []string{"DB_MAX_CONNS=16"}, Warmup: w})
				add(runSpec{Section: "pool_ab", Variant: "DB_MAX_CONNS=4", Scenario: "get", Tenants: p.tenants, Target: tTenantapi,
					TenantRoles: true, Env: []string{"DB_MAX_CONNS=4"}, Warmup: w})
			}
		}
	}
	if o.has("steady") {
		// At 10,000 tenants a fresh backend spends its first minutes
		// building a catalog cache entry for each tenant table it meets;
		// these runs measure after a long warm-up.
		w := o.steadyWarmup
		for _, sc := range []string{"get", "post"} {
			for _, t := range targets {
				if sc == "post" && t == tCeiling {
					continue
				}
				add(runSpec{Section: "steady", Variant: "warm-up " + w.String(), Scenario: sc, Tenants: o.large, Target: t,
					TenantRoles: t != tFlask, Warmup: w})
			}
		}
		for _, groups := range []int{1, 4} {
			add(runSpec{Section: "steady", Variant: fmt.Sprintf("warm-up %s, 4 conns, %d pool(s)", w, groups), Scenario: "get",
				Tenants: o.large, Target: tCeiling, TenantRoles: true, Conns: 4, RouteGroups: groups, Warmup: w})
		}
	}
	if o.has("prepared") {
		for _, s := range h.preparedSpecs() {
			add(s)
		}
	}
	if o.has("resources") {
		for _, s := range h.resourceSpecs() {
			add(s)
		}
	}
	return specs
}

// database is the database of the run's tenants.
func (s runSpec) database() string {
	if s.Database == "" {
		return benchDatabase
	}
	return s.Database
}

// runOne starts the target, drives the load generator against it and
// reads the counters at the start and the end of the measured window.
func (h *harness) runOne(ctx context.Context, spec runSpec) *runResult {
	r := &runResult{runSpec: spec}
	if err := h.measure(ctx, r); err != nil {
		r.Error = err.Error()
	}
	return r
}

// reading is the counters at one moment.
type reading struct {
	at          time.Time
	serviceCPU  float64
	postgresCPU float64
	harnessCPU  float64 // this process's
	busyCPU     float64 // the whole machine's
	db          dbCounters
	// stmts is tenantapi's /metrics on its prepared statements (zero for
	// the other targets); stmtsErr why it could not be read.
	stmts    poolStatements
	stmtsErr error
}

func (h *harness) read(ctx context.Context, svc *service, database string) (reading, error) {
	rd := reading{at: time.Now(), postgresCPU: benchkit.TreeCPU(h.c.postmasterPID()),
		harnessCPU: benchkit.ProcessCPU(os.Getpid()), busyCPU: benchkit.BusyCPU()}
	if svc != nil {
		rd.serviceCPU = svc.cpu()
	}
	var err error
	rd.db, err = h.c.counters(ctx, database)
	if svc != nil && svc.name == tTenantapi {
		rd.stmts, rd.stmtsErr = scrapePoolStatements(ctx, svc.url)
	}
	return rd, err
}

func (h *harness) measure(ctx context.Context, r *runResult) error {
	if err := h.c.resetStatements(ctx); err != nil {
		return err
	}
	data := h.sets[r.database()]
	if data == nil {
		return fmt.Errorf("no data set in database %s", r.database())
	}
	svc, err := h.startTarget(ctx, r.runSpec)
	if err != nil {
		return err
	}
	defer svc.stop()

	out := filepath.Join(h.dir, "load.json")
	os.Remove(out)
	warmup := h.o.warmup
	if r.Warmup > 0 {
		warmup = r.Warmup
	}
	args := []string{"--data", data.path, "--tenants", strconv.Itoa(r.Tenants), "--scenario", r.Scenario,
		"--concurrency", strconv.Itoa(h.o.concurrency), "--duration", h.o.duration.String(), "--warmup", warmup.String(),
		"--out", out, "--hold"}
	if r.Resource != "" {
		args = append(args, "--resource", r.Resource)
	}
	if svc != nil {
		args = append(args, "--url", svc.url)
		if r.Target == tTenantapi {
			args = append(args, "--auth")
		}
	} else {
		args = append(args, "--db", h.c.runtimeURL(r.database()), "--exec-mode", r.ExecMode,
			"--tenant-roles="+strconv.FormatBool(r.TenantRoles), "--conns", strconv.Itoa(r.Conns),
			"--route-groups", strconv.Itoa(max(r.RouteGroups, 1)), "--prepare-role="+strconv.FormatBool(r.PrepareRole),
			"--role-switch", r.loadgenRoleSwitch(), "--statement-cache", strconv.Itoa(r.StatementCache))
		if r.TenantRoles && r.Tenants >= 2 {
			args = append(args, "--check-roles")
		}
	}
	cmd := exec.CommandContext(ctx, h.bins["loadgen"], args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	defer stdin.Close()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	var a, b reading
	var readErr error
	// Connections that close inside the window (recycled ones) take their
	// socket counters with them: with a connection lifetime set, the
	// sockets are read every 100 ms and each one's last reading kept.
	last := map[string]int64{}
	stopPolling := func() {}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		switch sc.Text() {
		case "phase measure":
			a, readErr = h.read(ctx, svc, r.database())
			if r.recycles() {
				stopPolling = h.pollSegments(last)
			}
		case "phase end":
			stopPolling()
			if readErr == nil {
				b, readErr = h.read(ctx, svc, r.database())
			}
			h.readMemory(ctx, r, svc)
			stdin.Close() // the load generator may now close its connections
		}
	}
	stopPolling()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("loadgen: %w: %s", err, stderr.String())
	}
	for line := range strings.SplitSeq(stderr.String(), "\n") {
		if seen, ok := strings.CutPrefix(line, "loadgen: roles checked "); ok {
			r.RolesChecked = seen
		}
	}
	if readErr != nil {
		return readErr
	}
	if a.at.IsZero() || b.at.IsZero() {
		return fmt.Errorf("loadgen did not report its phases")
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &r.Load); err != nil {
		return err
	}
	r.Window = b.at.Sub(a.at).Seconds()
	r.ServiceCPU = b.serviceCPU - a.serviceCPU
	r.PostgresCPU = b.postgresCPU - a.postgresCPU
	r.LoadgenCPU = r.Load.CPUSeconds
	// What the machine spent beyond the processes of the run: other
	// people's work (a test suite, a build) that competed for the cores.
	r.ForeignCPU = (b.busyCPU - a.busyCPU) - (r.ServiceCPU + r.PostgresCPU + r.LoadgenCPU + b.harnessCPU - a.harnessCPU)
	r.LoadAverage = loadAverage()
	// Requests completed per second of the load generator's window, times
	// the window between the readings: the requests the counters saw.
	reqs := r.Load.RPS * r.Window
	if reqs > 0 {
		maps.Copy(last, b.db.segsIn)
		r.RoundTripsPerRequest = float64(segmentsSince(a.db.segsIn, last)) / reqs
		r.CommitsPerRequest = float64(b.db.commits-a.db.commits) / reqs
		r.StatementsPerRequest = map[string]float64{}
		for k, v := range b.db.calls {
			if d := v - a.db.calls[k]; d > 0 {
				r.StatementsPerRequest[k] = float64(d) / reqs
			}
		}
		r.PreparedPerRequest = perRequest(a.stmts.prepared, b.stmts.prepared, reqs)
		r.DeallocatedPerRequest = perRequest(a.stmts.deallocated, b.stmts.deallocated, reqs)
	}
	r.PreparedAtEnd = b.stmts.now
	if err := cmp.Or(a.stmtsErr, b.stmtsErr); err != nil {
		r.MetricsError = err.Error()
	}
	return nil
}

// recycles reports whether the run recycles connections.
func (r *runResult) recycles() bool {
	return slices.ContainsFunc(r.Env, func(e string) bool { return strings.HasPrefix(e, "DB_MAX_CONN_LIFETIME=") })
}

// pollSegments reads the server's sockets every 100 ms into last until the
// returned function is called.
func (h *harness) pollSegments(last map[string]int64) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if m, err := h.c.segments(); err == nil {
				maps.Copy(last, m) // read by the caller only after it stopped us
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

// readMemory records the service's peak RSS and its backends' memory.
func (h *harness) readMemory(ctx context.Context, r *runResult, svc *service) {
	app := "bench-ceiling"
	if svc != nil {
		r.ServicePeakRSS = svc.peakRSS()
		app = svc.app
	}
	r.BackendMemory, r.Backends, _ = h.c.backendMemory(ctx, app)
}

// tenantapiEnv is tenantapi serve's environment on database db and port:
// API keys, warnings only, every other setting at its default unless extra
// sets it.
func (h *harness) tenantapiEnv(db string, port int, extra []string) []string {
	env := []string{"DATABASE_URL=" + h.c.ownerURL(db), "DATABASE_RUNTIME_URL=" + h.c.runtimeURL(db),
		"HOST=127.0.0.1", "PORT=" + strconv.Itoa(port), "AUTH_MODE=apikey", "LOG_LEVEL=warn"}
	return append(env, extra...) // later entries win
}

// startTarget starts the server of spec's target; nil for the ceiling,
// which has none.
func (h *harness) startTarget(ctx context.Context, spec runSpec) (*service, error) {
	port, err := pgcluster.FreePort()
	if err != nil {
		return nil, err
	}
	db := spec.database()
	runtimeURL := h.c.runtimeURL(db)
	switch spec.Target {
	case tTenantapi:
		return startService(ctx, h.dir, "tenantapi", "tenantapi", port, "/readyz", h.tenantapiEnv(db, port, spec.Env), h.bins["tenantapi"], "serve")
	case tBare, tBareRoles:
		return startService(ctx, h.dir, "bare", "bench-bare", port, "/healthz", nil, h.bins["bare"],
			"--addr", "127.0.0.1:"+strconv.Itoa(port), "--db", runtimeURL, "--exec-mode", spec.ExecMode,
			"--tenant-roles="+strconv.FormatBool(spec.TenantRoles), "--role-prefix", h.sets[db].ds.RolePrefix)
	case tFlask:
		dir, err := filepath.Abs(filepath.Join("bench", "peers", "flask"))
		if err != nil {
			return nil, err
		}
		return startService(ctx, h.dir, "flask", "bench-flask", port, "/healthz",
			[]string{"DATABASE_URL=" + runtimeURL, "BIND=127.0.0.1:" + strconv.Itoa(port), "PYTHONDONTWRITEBYTECODE=1"},
			h.gunicorn, "-c", filepath.Join(dir, "gunicorn.conf.py"), "--chdir", dir, "app:app")
	case tCeiling:
		return nil, nil
	}
	return nil, fmt.Errorf("unknown target %q", spec.Target)
}

// loadgenRoleSwitch is the load generator's --role-switch for the run
// (set_config when there is no role to switch to).
func (s runSpec) loadgenRoleSwitch() string {
	if s.RoleSwitch == switchNone {
		return switchSetConfig
	}
	return cmp.Or(s.RoleSwitch, switchSetConfig)
}
