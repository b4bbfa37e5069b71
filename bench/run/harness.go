package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
)

// harness is one benchmark run's state.
type harness struct {
	o        options
	dir      string // temporary: binaries, logs, the data set
	bins     map[string]string
	c        *cluster
	ds       *benchkit.Dataset // the main data set's (nil when no section needs it)
	dataPath string
	// sets are every data set by database, the main one included.
	sets     map[string]*dataFile
	setDir   string // the absolute path of the example application set
	gunicorn string // "" when the Flask peer is left out
	res      *results
}

// results is everything a run measured; results.json is this.
type results struct {
	Machine   machine          `json:"machine"`
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Command   string           `json:"command"`
	Options   map[string]any   `json:"options"`
	Provision *provisionResult `json:"provision,omitempty"`
	// Datasets are the resource scenarios' data sets (with the example
	// application set).
	Datasets []provisionResult `json:"datasets,omitempty"`
	Runs     []*runResult      `json:"runs"`
	Startup  *startupResults   `json:"startup,omitempty"`
	Fleet    map[string]any    `json:"fleet,omitempty"`
	// Databases is the databases section: moves, export, catalog memory
	// over three clusters.
	Databases *dbResults `json:"databases,omitempty"`
	Notes     []string   `json:"notes,omitempty"`
}

type machine struct {
	CPUs       int    `json:"cpus"`
	Model      string `json:"model"`
	MemoryGiB  string `json:"memory_gib"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	PostgreSQL string `json:"postgresql"`
	LoadStart  string `json:"load_average_start"`
	LoadEnd    string `json:"load_average_end"`
}

func run(ctx context.Context, o options) (bool, error) {
	if o.waitIdle > 0 {
		waitForIdle(ctx, o.waitIdle)
	}
	dir, err := os.MkdirTemp("", "tenantapi-bench-")
	if err != nil {
		return false, err
	}
	// PostgreSQL runs as an unprivileged user when we are root; it must
	// reach its folder (pgcluster falls back to one it can otherwise).
	os.Chmod(dir, 0o755)
	if o.keep {
		fmt.Fprintln(os.Stderr, "bench: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	h := &harness{o: o, dir: dir, sets: map[string]*dataFile{}, res: &results{Started: time.Now().UTC(), Command: strings.Join(os.Args, " "),
		Machine: describeMachine()}}
	h.res.Options = map[string]any{"quick": o.quick, "duration_s": o.duration.Seconds(), "warmup_s": o.warmup.Seconds(),
		"concurrency": o.concurrency, "tenants_small": o.small, "tenants_large": o.large, "items_per_tenant": o.items,
		"sections": o.sections, "steady_warmup_s": o.steadyWarmup.Seconds()}

	step := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }
	step("building tenantapi, the peers, the load generator and the fleet tool")
	if h.bins, err = buildAll(ctx, dir, o.has("fleet") && !o.quick); err != nil {
		return false, err
	}
	if !o.noFlask {
		if h.gunicorn, err = ensureFlask(); err != nil {
			note := "Flask peer left out: " + err.Error()
			step("%s", note)
			h.res.Notes = append(h.res.Notes, note)
		}
	}
	step("starting PostgreSQL")
	if h.c, err = startCluster(ctx, filepath.Join(dir, "pg")); err != nil {
		return false, err
	}
	defer h.c.stop()
	h.res.Machine.PostgreSQL = h.c.version

	if o.needsMain() {
		step("migrating and provisioning %d tenants × %d items", o.large, o.items)
		if err := h.tenantapiCommand(ctx, benchDatabase, "migrate"); err != nil {
			return false, err
		}
		d, err := h.provision(ctx, dataSpec{database: benchDatabase, tenants: o.large, items: o.items, workers: 6})
		if err != nil {
			return false, err
		}
		h.ds, h.dataPath, h.res.Provision = d.ds, d.path, &d.prov
	}
	if o.has("resources") || o.has("startup") {
		if err := h.provisionResources(ctx); err != nil {
			return false, err
		}
	}

	if o.pause {
		fmt.Fprintf(os.Stderr, "bench: paused; owner %s\nbench: runtime %s\nbench: data set %s (Ctrl-C ends)\n",
			h.c.ownerURL(benchDatabase), h.c.runtimeURL(benchDatabase), h.dataPath)
		<-ctx.Done()
		return false, ctx.Err()
	}
	for _, spec := range h.plan() {
		if ctx.Err() != nil {
			// Out of time (or interrupted): keep what was measured.
			h.res.Notes = append(h.res.Notes, "stopped early ("+ctx.Err().Error()+"): the runs after the last row were not made")
			break
		}
		var r *runResult
		for attempt := 1; ; attempt++ {
			r = h.runOne(ctx, spec)
			r.Attempts = attempt
			if !r.disturbed() || o.waitIdle == 0 || attempt == 3 || ctx.Err() != nil {
				break
			}
			step("disturbed: other processes took %.2f cores; waiting for quiet to run it again", r.ForeignCPU/r.Window)
			waitForIdle(ctx, min(o.waitIdle, 3*time.Minute))
		}
		h.res.Runs = append(h.res.Runs, r)
		step("%-12s %-22s %-6s %5d tenants %-9s %8.0f req/s  p99 %6.2f ms  errors %d  rt/req %.2f  other CPU %.2f%s",
			spec.Section, spec.Variant, spec.Scenario, spec.Tenants, spec.Target, r.Load.RPS, r.Load.Latency.P99,
			r.Load.Errors, r.RoundTripsPerRequest, r.ForeignCPU, errSuffix(r.Error))
	}
	if o.has("startup") && ctx.Err() == nil {
		step("start-up of tenantapi serve with the example set, and the full catalog read")
		h.res.Startup = h.startup(ctx)
	}
	if o.has("fleet") && ctx.Err() == nil {
		step("fleet operations")
		h.res.Fleet = h.fleet(ctx)
	}
	if o.has("databases") && ctx.Err() == nil {
		step("databases: three clusters, a move under load, at each step killed, export, catalog memory")
		h.res.Databases = h.databasesSection(ctx)
	}
	h.res.Finished = time.Now().UTC()
	h.res.Machine.LoadEnd = loadAverage()

	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return false, err
	}
	b, _ := json.MarshalIndent(h.res, "", "  ")
	if err := os.WriteFile(filepath.Join(o.out, "results.json"), b, 0o644); err != nil {
		return false, err
	}
	md := renderMarkdown(h.res)
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(md), 0o644); err != nil {
		return false, err
	}
	fmt.Print(md)
	step("results in %s", o.out)
	return h.allOK(), nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "  FAILED: " + e
}

// allOK reports whether every run completed without an error and every
// fleet operation succeeded.
func (h *harness) allOK() bool {
	if len(h.res.Runs) == 0 && h.res.Startup == nil && h.res.Databases == nil {
		return false
	}
	if h.res.Databases != nil && h.res.Databases.Error != "" {
		return false
	}
	if h.res.Startup != nil && !h.res.Startup.ok() {
		return false
	}
	for _, r := range h.res.Runs {
		if r.Error != "" || r.Load.Errors > 0 || r.Load.Requests == 0 {
			return false
		}
	}
	for _, v := range h.res.Fleet {
		if m, ok := v.(map[string]any); ok {
			if e, _ := m["error"].(string); e != "" {
				return false
			}
			if n, _ := m["errors"].(float64); n > 0 {
				return false
			}
		}
	}
	return true
}

// dataFile is a provisioned data set and the file the load generator reads
// it from.
type dataFile struct {
	ds   *benchkit.Dataset
	path string
	prov provisionResult
}

// provision provisions spec and writes its data set next to the binaries.
func (h *harness) provision(ctx context.Context, spec dataSpec) (*dataFile, error) {
	ds, prov, err := provisionTenants(ctx, h.c, spec)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench: provisioned %d tenants into %s in %.1f s (ANALYZE %.1f s)\n", spec.tenants, spec.database,
		prov.Seconds, prov.AnalyzeSeconds)
	d := &dataFile{ds: ds, path: filepath.Join(h.dir, "data-"+spec.database+".json"), prov: prov}
	if err := benchkit.SaveDataset(d.path, ds); err != nil {
		return nil, err
	}
	h.sets[spec.database] = d
	return d, nil
}

// tenantapiCommand runs a tenantapi CLI command against database name.
func (h *harness) tenantapiCommand(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, h.bins["tenantapi"], args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + h.c.ownerURL(name), "DATABASE_RUNTIME_URL=" + h.c.runtimeURL(name)}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tenantapi %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ensureFlask returns Debian's gunicorn after making sure Flask, psycopg2
// and gunicorn are installed (with apt-get, as root, when they are not).
func ensureFlask() (string, error) {
	const gunicorn = "/usr/bin/gunicorn"
	have := func() bool {
		if _, err := os.Stat(gunicorn); err != nil {
			return false
		}
		return exec.Command("/usr/bin/python3", "-c", "import flask, psycopg2").Run() == nil
	}
	if have() {
		return gunicorn, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("python3-flask, python3-psycopg2 and gunicorn are not installed and we are not root to install them")
	}
	fmt.Fprintln(os.Stderr, "bench: installing python3-flask, python3-psycopg2 and gunicorn (Debian packages)")
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", "python3-flask", "python3-psycopg2", "gunicorn")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get install: %w\n%s", err, lastLines(out, 5))
		}
		return nil
	}
	if err := install(); err != nil {
		if out, uerr := exec.Command("apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
			return "", fmt.Errorf("apt-get update: %w\n%s", uerr, lastLines(out, 5))
		}
		if err := install(); err != nil {
			return "", err
		}
	}
	if !have() {
		return "", fmt.Errorf("installed, but /usr/bin/python3 cannot import flask and psycopg2")
	}
	return gunicorn, nil
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					m.MemoryGiB = fmt.Sprintf("%.1f", kb/1024/1024)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// waitForIdle waits, up to max, until no go test (or test binary) runs and
// the machine's cores were less than 10% busy over 5 s (the load average
// lags by minutes).
func waitForIdle(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		tests := exec.Command("pgrep", "-f", `go test|\.test( |$)`).Run() == nil
		before := benchkit.BusyCPU()
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
		busy := (benchkit.BusyCPU() - before) / 5
		if !tests && busy < 0.1*float64(runtime.NumCPU()) {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "bench: the machine is still busy (%.2f cores busy, go test running: %v); going ahead\n", busy, tests)
			return
		}
		fmt.Fprintf(os.Stderr, "bench: waiting for an idle machine (%.2f cores busy, load %s, go test running: %v)\n", busy, loadAverage(), tests)
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}
