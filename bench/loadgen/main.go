// Command loadgen drives a fixed number of concurrent clients against an HTTP
// target (tenantapi, a peer) or directly against PostgreSQL (the database
// ceiling) for a bounded time, picking the tenant, its key and the item (or
// the row of --resource) of each request uniformly at random, and writes what
// it measured as JSON.
//
// It prints "phase measure" when the warm-up ends and "phase end" when the
// measured window closes, so that the harness can read the other processes'
// counters at the same moments.
//
//	loadgen --data data.json --tenants 10 --scenario get --url http://127.0.0.1:8080 --auth
//	loadgen --data data.json --tenants 10 --scenario get --resource projects --url http://127.0.0.1:8080 --auth
//	loadgen --data data.json --tenants 10 --scenario get --db postgres://… --tenant-roles
//	loadgen --data data.json --tenants 10 --scenario get --db postgres://… --tenant-roles --role-switch set_local --check-roles
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
)

// target is what the clients drive: one call is one request.
type target interface {
	get(ctx context.Context, t *benchkit.Tenant, item string) error
	post(ctx context.Context, t *benchkit.Tenant, n uint64) error
	list(ctx context.Context, t *benchkit.Tenant) error
	// roundTrips returns the database round trips seen so far (0 when the
	// target cannot see them).
	roundTrips() int
	close()
}

type options struct {
	data        string
	tenants     int
	scenario    string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	out         string
	hold        bool
	resource    string // what get and list read

	url  string // HTTP target
	auth bool   // send each tenant's API key

	db          string // database target
	execMode    string
	tenantRoles bool
	conns       int
	stmtCache   int
	routeGroups int
	appName     string
	prepareRole bool
	roleSwitch  string
	checkRoles  bool
}

func main() {
	var o options
	flag.StringVar(&o.data, "data", "", "data set written by the harness (required)")
	flag.IntVar(&o.tenants, "tenants", 10, "use the first N tenants of the data set")
	flag.StringVar(&o.scenario, "scenario", "get", "get, post, mix (80% get, 20% post) or list (a page of 50)")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured window")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the window, not measured")
	flag.StringVar(&o.out, "out", "-", "where to write the JSON result (- for stdout)")
	flag.BoolVar(&o.hold, "hold", false, "keep the connections open after the window until standard input closes, so the harness can read their counters")
	flag.StringVar(&o.resource, "resource", "items", "HTTP target: the resource that get and list read (GET /<resource>/{id}, GET /<resource>?limit=50), with ids from the data set's rows of that resource")
	flag.StringVar(&o.url, "url", "", "HTTP target, e.g. http://127.0.0.1:8080")
	flag.BoolVar(&o.auth, "auth", false, "send Authorization: Bearer <the tenant's key>")
	flag.StringVar(&o.db, "db", "", "database target: issue tenantapi's statements directly")
	flag.StringVar(&o.execMode, "exec-mode", "exec", "database target: pgx exec mode (exec, cache_describe, cache_statement, simple_protocol: a batch as one simple-protocol query string)")
	flag.BoolVar(&o.tenantRoles, "tenant-roles", false, "database target: pipeline set_config('role', <tenant role>, true) before each statement, as tenantapi does")
	flag.IntVar(&o.conns, "conns", 0, "database target: connections (default: --concurrency)")
	flag.IntVar(&o.stmtCache, "statement-cache", 0, "database target: pgx's statement (and description) cache capacity per connection (default: pgx's, 512)")
	flag.IntVar(&o.routeGroups, "route-groups", 1, "database target: split the connections into this many pools and send each tenant to one of them")
	flag.StringVar(&o.appName, "application-name", "bench-ceiling", "database target: application_name of the connections")
	flag.StringVar(&o.roleSwitch, "role-switch", switchSetConfig, "database target with --tenant-roles: set_config (tenantapi's SELECT set_config('role', $1, true), set_config('statement_timeout', $2, true)) set_config_role (the role alone, no statement_timeout) or set_local (SET LOCAL ROLE <role>; SET LOCAL statement_timeout = 10000), first in the same pipelined batch")
	flag.BoolVar(&o.checkRoles, "check-roles", false, "database target with --tenant-roles: before the load, check that the role switch takes effect (current_user, and the first tenant's get under the second tenant's role fails with 42501)")
	flag.BoolVar(&o.prepareRole, "prepare-role", false, "database target (experiment): prepare the role switch once per connection, so that it runs as a prepared statement in the batch while the tenant's statement stays in --exec-mode")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.data == "" || (o.url == "") == (o.db == "") {
		return errors.New("need --data and exactly one of --url and --db")
	}
	ds, err := benchkit.LoadDataset(o.data)
	if err != nil {
		return err
	}
	if o.tenants < 1 || o.tenants > len(ds.Tenants) {
		return fmt.Errorf("--tenants %d: the data set has %d", o.tenants, len(ds.Tenants))
	}
	tenants := ds.Tenants[:o.tenants]
	if o.resource != "items" {
		if o.url == "" || (o.scenario != "get" && o.scenario != "list") {
			return fmt.Errorf("--resource %s: only the get and list scenarios against --url read other resources", o.resource)
		}
		for _, t := range tenants {
			if len(t.IDs(o.resource)) == 0 {
				return fmt.Errorf("--resource %s: tenant %s has no rows of it in the data set", o.resource, t.ID)
			}
		}
	}
	ctx := context.Background()
	var tg target
	res := benchkit.LoadResult{Scenario: o.scenario, Resource: o.resource, Tenants: o.tenants, Concurrency: o.concurrency, Seconds: o.duration.Seconds()}
	if o.url != "" {
		res.Target = "http"
		tg = newHTTPTarget(o.url, o.auth, o.resource, o.concurrency)
	} else {
		res.Target = "db"
		if o.conns == 0 {
			o.conns = o.concurrency
		}
		d, err := newDBTarget(ctx, o, ds.RolePrefix, tenants)
		if err != nil {
			return err
		}
		tg = d
		if o.checkRoles {
			seen, err := d.checkRoles(ctx, tenants)
			if err != nil {
				d.close()
				return err
			}
			fmt.Fprintf(os.Stderr, "loadgen: roles checked (%s, exec mode %s): %s\n", o.roleSwitch, o.execMode, seen)
		}
	}
	defer tg.close()
	op, err := pickOp(o.scenario, o.resource, tg)
	if err != nil {
		return err
	}

	start := time.Now()
	t0, t1 := start.Add(o.warmup), start.Add(o.warmup+o.duration)
	var (
		mu       sync.Mutex
		samples  []time.Duration
		byError  = map[string]int{}
		cpu0     float64
		rt0, rt1 int
	)
	// The phase marks: the harness reads its counters when it sees them.
	phases := make(chan struct{})
	go func() {
		defer close(phases)
		time.Sleep(time.Until(t0))
		cpu0, rt0 = benchkit.ProcessCPU(os.Getpid()), tg.roundTrips()
		fmt.Println("phase measure")
		time.Sleep(time.Until(t1))
		rt1 = tg.roundTrips()
		res.CPUSeconds = benchkit.ProcessCPU(os.Getpid()) - cpu0
		fmt.Println("phase end")
	}()

	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			var mine []time.Duration
			errs := map[string]int{}
			for n := uint64(0); ; n++ {
				s := time.Now()
				if !s.Before(t1) {
					break
				}
				t := &tenants[rnd.IntN(len(tenants))]
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := op(ctx, rnd, t, uint64(w)<<40|n)
				cancel()
				e := time.Now()
				if err != nil {
					errs[err.Error()]++
					continue
				}
				if !e.Before(t0) && e.Before(t1) {
					mine = append(mine, e.Sub(s))
				}
			}
			mu.Lock()
			samples = append(samples, mine...)
			for k, v := range errs {
				byError[k] += v
				res.Errors += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	<-phases
	res.Requests = len(samples)
	res.RPS = float64(len(samples)) / o.duration.Seconds()
	res.RoundTrips = rt1 - rt0
	if len(byError) > 0 {
		res.ByError = byError
	}
	res.Summarize(samples)

	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if o.out == "-" {
		_, err = os.Stdout.Write(append(b, '\n'))
	} else {
		err = os.WriteFile(o.out, b, 0o644)
	}
	if o.hold {
		io.Copy(io.Discard, os.Stdin)
	}
	return err
}

// opFunc makes one request of the scenario.
type opFunc func(ctx context.Context, rnd *rand.Rand, t *benchkit.Tenant, n uint64) error

func pickOp(scenario, resource string, tg target) (opFunc, error) {
	get := func(ctx context.Context, rnd *rand.Rand, t *benchkit.Tenant, _ uint64) error {
		ids := t.IDs(resource)
		return tg.get(ctx, t, ids[rnd.IntN(len(ids))])
	}
	post := func(ctx context.Context, _ *rand.Rand, t *benchkit.Tenant, n uint64) error {
		return tg.post(ctx, t, n)
	}
	switch scenario {
	case "get":
		return get, nil
	case "post":
		return post, nil
	case "mix":
		return func(ctx context.Context, rnd *rand.Rand, t *benchkit.Tenant, n uint64) error {
			if rnd.IntN(5) == 0 {
				return post(ctx, rnd, t, n)
			}
			return get(ctx, rnd, t, n)
		}, nil
	case "list":
		return func(ctx context.Context, _ *rand.Rand, t *benchkit.Tenant, _ uint64) error {
			return tg.list(ctx, t)
		}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}
