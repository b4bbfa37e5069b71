// Command run is tenantapi's benchmark harness (make bench). In one run, on
// one machine, one database and one data set, it measures tenantapi serve,
// the seed design's Flask app, a bare Go handler and the database ceiling,
// then the design questions of issue 5, prepared statements and tenant
// routing (issue 15), a resource of an application set against items, the
// server's start-up at few and many tenants and the fleet operations, and
// writes a markdown table and the raw JSON under bench/results/.
//
//	go run ./bench/run            the full benchmark (about 45 minutes)
//	go run ./bench/run --quick    a smoke run in under a minute
//
// It starts its own PostgreSQL (internal/pgcluster, ephemeral, in a
// temporary folder) and builds every program it runs. Run it on an idle
// machine: the load generator, the servers and PostgreSQL share its cores.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick        bool
	out          string
	duration     time.Duration
	warmup       time.Duration
	concurrency  int
	small        int
	large        int
	items        int
	sections     string
	noFlask      bool
	waitIdle     time.Duration
	keep         bool
	pause        bool
	scenarios    string
	targets      string
	steadyWarmup time.Duration
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "smoke run: few tenants, 2 s per scenario, fewer scenarios, no design questions, under a minute")
	flag.StringVar(&o.out, "out", "", "results folder (default bench/results/<UTC time>)")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "measured window of each run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before each window, not measured")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients of the load generator")
	flag.IntVar(&o.small, "tenants-small", 100, "tenants of the small scenarios (--quick: 10)")
	flag.IntVar(&o.large, "tenants-large", 10000, "tenants of the large scenarios (all provisioned)")
	flag.IntVar(&o.items, "items", 100, "items per tenant")
	flag.StringVar(&o.sections, "sections", "main,logging,design,roles_ab,pool_ab,steady,prepared,resources,startup,fleet,databases", "what to run: main, logging, design, roles_ab, pool_ab, steady, prepared (prepared statements, tenant routing, pool size and the ceiling's exec modes and role switches), resources, startup, fleet, databases")
	flag.DurationVar(&o.steadyWarmup, "steady-warmup", time.Minute, "warm-up of the steady-state runs at many tenants (steady, prepared; --quick: 2s)")
	flag.BoolVar(&o.noFlask, "no-flask", false, "leave the Flask peer out")
	flag.DurationVar(&o.waitIdle, "wait-idle", 0, "first wait up to this long for an idle machine (load average < 1, no go test running)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (binaries, logs, data set)")
	flag.StringVar(&o.scenarios, "scenarios", "", "only these scenarios, comma-separated (get, post, mix, list; default all)")
	flag.StringVar(&o.targets, "targets", "", "only these targets, comma-separated (tenantapi, bare, bare-roles, ceiling, flask; default all)")
	flag.BoolVar(&o.pause, "pause", false, "after provisioning, print the database URLs and the data set's path and wait for Ctrl-C (for profiling by hand)")
	flag.Parse()
	if o.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
		if !set["warmup"] {
			o.warmup = 500 * time.Millisecond
		}
		if !set["tenants-small"] {
			o.small = 10
		}
		if !set["tenants-large"] {
			o.large = 100
		}
		if !set["items"] {
			o.items = 20
		}
		if !set["sections"] {
			o.sections = "main,resources,startup,fleet"
		}
		if !set["steady-warmup"] {
			o.steadyWarmup = 2 * time.Second
		}
	}
	if o.small < 1 || o.small > o.large {
		fmt.Fprintf(os.Stderr, "bench: --tenants-small %d: want 1 to --tenants-large (%d)\n", o.small, o.large)
		os.Exit(2)
	}
	if o.out == "" {
		o.out = filepath.Join("bench", "results", time.Now().UTC().Format("20060102T150405Z"))
		if o.quick {
			o.out += "-quick"
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every run is bounded: the whole benchmark too.
	limit := 100 * time.Minute
	if o.quick {
		limit = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit+o.waitIdle)
	defer cancel()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "bench: some runs had errors (see the table)")
		os.Exit(1)
	}
}

func (o options) has(section string) bool { return listHas(o.sections, section) }

// needsMain reports whether a chosen section uses the main data set (the
// built-in set at --tenants-large tenants).
func (o options) needsMain() bool {
	for _, s := range []string{"main", "logging", "design", "roles_ab", "pool_ab", "steady", "prepared", "fleet"} {
		if o.has(s) {
			return true
		}
	}
	return false
}

// listHas reports whether the comma-separated list holds v; an empty list
// holds everything.
func listHas(list, v string) bool {
	if list == "" {
		return true
	}
	for s := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(s) == v {
			return true
		}
	}
	return false
}
