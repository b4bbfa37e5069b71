// Command soak runs tenantapi under steady mixed load for a long time and
// watches the server process for leaks: it starts a PostgreSQL of its own
// (pgcluster, in a temporary folder), migrates it, runs `tenantapi serve` as
// a separate process, creates many tenants with a key each, and sends an
// even mix of creates, reads (some conditional), lists, merge-patches,
// conditional replaces and deletes across all of them at a fixed rate.
// Every few seconds it samples the server's resident memory, goroutines,
// threads and open files, and at the end prints the curve and a verdict:
// no errors, and memory and goroutines flat after warm-up (the last third's
// mean within 10% of the middle third's).
//
//	go run ./bench/soak -bin bin/tenantapi -duration 5m    # or: make soak DURATION=5m
//
// The server's goroutines come from the Go runtime's own scheduler trace
// (GODEBUG=schedtrace,scheddetail, printed on the server's stderr), so the
// product needs no debug endpoint.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

type options struct {
	bin              string
	duration, sample time.Duration
	tenants, workers int
	rate             float64
	tolerance        float64
	keep             bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/tenantapi", "the tenantapi binary")
	flag.DurationVar(&o.duration, "duration", 5*time.Minute, "how long the load runs")
	flag.DurationVar(&o.sample, "sample", 5*time.Second, "how often the server is sampled")
	flag.IntVar(&o.tenants, "tenants", 1000, "tenants, each with an API key")
	flag.IntVar(&o.workers, "workers", 16, "concurrent clients; each owns a share of the tenants")
	flag.Float64Var(&o.rate, "rate", 300, "requests a second (at most)")
	flag.Float64Var(&o.tolerance, "tolerance", 0.10, "allowed relative change of the means between the middle and the last third")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (cluster, server log)")
	flag.Parse()
	if err := soak(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func soak(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (build it first: make build)", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// A folder the unprivileged PostgreSQL user can reach when run as root.
	dir, err := os.MkdirTemp("", "tenantapi-soak-")
	if err != nil {
		return err
	}
	os.Chmod(dir, 0o755)
	if o.keep {
		fmt.Printf("keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	cluster, err := pgcluster.Open(pgcluster.Options{Dir: filepath.Join(dir, "pg"), Ephemeral: true})
	if err != nil {
		return err
	}
	if err := cluster.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster.Stop(sctx)
		if !o.keep {
			cluster.Remove()
		}
	}()

	token := randomHex(24)
	port, err := pgcluster.FreePort()
	if err != nil {
		return err
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "DATABASE_URL=" + cluster.URL(),
		"ADMIN_TOKEN=" + token, "HOST=127.0.0.1", "PORT=" + strconv.Itoa(port)}
	migrate := exec.CommandContext(ctx, bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %w\n%s", err, out)
	}

	// The server, with the runtime's scheduler trace on its stderr.
	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	srv := exec.Command(bin, "serve")
	srv.Env = append(env, fmt.Sprintf("GODEBUG=schedtrace=%d,scheddetail=1", o.sample.Milliseconds()))
	srv.Stdout = logFile
	trace, err := srv.StderrPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	var goroutines atomic.Int64
	go func() {
		readSchedTrace(trace, &goroutines)
		exited <- srv.Wait()
	}()
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			srv.Process.Kill()
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(ctx, base); err != nil {
		return err
	}

	start := time.Now()
	fmt.Printf("creating %d tenants with a key each…\n", o.tenants)
	tenants, err := createTenants(ctx, base, token, o.tenants)
	if err != nil {
		return err
	}
	fmt.Printf("%d tenants in %v\n", len(tenants), time.Since(start).Round(time.Millisecond))

	fmt.Printf("load: %v at up to %.0f requests/s from %d clients across %d tenants; server sampled every %v (pid %d)\n\n",
		o.duration, o.rate, o.workers, len(tenants), o.sample, srv.Process.Pid)
	fmt.Printf("%8s %7s %8s %8s %8s %7s %10s %10s %7s %5s\n", "t", "req/s", "p50", "p99", "max", "errors", "rss MiB", "goroutines", "threads", "fds")
	st := &stats{}
	lctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	runLoad(lctx, &wg, base, tenants, o, st)

	var samples []sample
	loadStart := time.Now()
	tick := time.NewTicker(o.sample)
	defer tick.Stop()
sampling:
	for {
		select {
		case <-lctx.Done():
			break sampling
		case err := <-exited:
			return fmt.Errorf("the server exited during the soak: %v (log: %s)", err, logFile.Name())
		case <-tick.C:
			s, err := sampleProcess(srv.Process.Pid)
			if err != nil {
				return err
			}
			s.at = time.Since(loadStart)
			s.goroutines = int(goroutines.Load())
			w := st.window()
			s.requests, s.errors = len(w.lat), w.errors
			s.rps = float64(len(w.lat)) / o.sample.Seconds()
			fmt.Printf("%8s %7.0f %8s %8s %8s %7d %10.1f %10d %7d %5d\n", s.at.Round(time.Second), s.rps,
				pct(w.lat, 50), pct(w.lat, 99), pct(w.lat, 100), w.errors, float64(s.rssKiB)/1024, s.goroutines, s.threads, s.fds)
			samples = append(samples, s)
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return verdict(samples, st, o)
}

// tenant is one tenant's key and the items it has, with their ETags. Each
// tenant belongs to one client, so what it expects is always known.
type tenant struct {
	id, key string
	items   []item
}

type item struct{ id, etag string }

// stats collects results; window hands out and resets the current window.
type stats struct {
	mu        sync.Mutex
	lat       []time.Duration
	errors    int
	total     int
	allErrors int
	examples  []string
	skipped   atomic.Int64 // ticks no client was free to take
}

type window struct {
	lat    []time.Duration
	errors int
}

func (s *stats) add(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat = append(s.lat, d)
	s.total++
	if err != nil {
		s.errors++
		s.allErrors++
		if len(s.examples) < 10 {
			s.examples = append(s.examples, err.Error())
		}
	}
}

func (s *stats) window() window {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := window{lat: s.lat, errors: s.errors}
	s.lat, s.errors = nil, 0
	return w
}

// runLoad starts the clients and a pacer that hands out at most o.rate
// requests a second; a tick that finds every client busy is dropped
// (counted), so the load never bursts to catch up.
func runLoad(ctx context.Context, wg *sync.WaitGroup, base string, tenants []*tenant, o options, st *stats) {
	tokens := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case tokens <- struct{}{}:
				default:
					st.skipped.Add(1)
				}
			}
		}
	})
	for w := range o.workers {
		var mine []*tenant
		for i := w; i < len(tenants); i += o.workers {
			mine = append(mine, tenants[i])
		}
		wg.Go(func() {
			// A transport of its own: one kept-alive connection per client.
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			rng := mrand.New(mrand.NewPCG(uint64(w), 42))
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tokens:
				}
				t := mine[rng.IntN(len(mine))]
				start := time.Now()
				err := operate(client, base, t, rng, n)
				st.add(time.Since(start), err)
			}
		})
	}
}

// operate sends one request of the mix for t and checks its answer.
func operate(c *http.Client, base string, t *tenant, rng *mrand.Rand, n int) error {
	op := rng.IntN(100)
	switch {
	case len(t.items) == 0 || (op < 22 && len(t.items) < 20):
		b, h, err := send(c, "POST", base+"/items", t, fmt.Sprintf(`{"name":"soak %d","attributes":{"n":%d,"tags":["a","b"]}}`, n, n), "application/json", nil, 201)
		if err != nil {
			return err
		}
		var it struct{ ID string }
		json.Unmarshal(b, &it)
		t.items = append(t.items, item{it.ID, h.Get("ETag")})
		return nil
	case op < 52:
		it := t.items[rng.IntN(len(t.items))]
		if rng.IntN(4) == 0 {
			_, _, err := send(c, "GET", base+"/items/"+it.id, t, "", "", map[string]string{"If-None-Match": it.etag}, 304)
			return err
		}
		_, _, err := send(c, "GET", base+"/items/"+it.id, t, "", "", nil, 200)
		return err
	case op < 67:
		_, _, err := send(c, "GET", base+"/items?limit=10", t, "", "", nil, 200)
		return err
	case op < 82:
		i := rng.IntN(len(t.items))
		_, h, err := send(c, "PATCH", base+"/items/"+t.items[i].id, t, fmt.Sprintf(`{"description":"patched %d"}`, n), "application/merge-patch+json", nil, 200)
		if err == nil {
			t.items[i].etag = h.Get("ETag")
		}
		return err
	case op < 90:
		i := rng.IntN(len(t.items))
		_, h, err := send(c, "PUT", base+"/items/"+t.items[i].id, t, fmt.Sprintf(`{"name":"replaced %d"}`, n), "application/json", map[string]string{"If-Match": t.items[i].etag}, 200)
		if err == nil {
			t.items[i].etag = h.Get("ETag")
		}
		return err
	default:
		i := rng.IntN(len(t.items))
		_, _, err := send(c, "DELETE", base+"/items/"+t.items[i].id, t, "", "", nil, 204)
		if err == nil {
			t.items = slices.Delete(t.items, i, i+1)
		}
		return err
	}
}

// send makes a tenant request and returns an error unless it is answered
// with want.
func send(c *http.Client, method, url string, t *tenant, body, contentType string, extra map[string]string, want int) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, nil, err
	}
	r.Header.Set("X-Tenant-ID", t.id)
	r.Header.Set("Authorization", "Bearer "+t.key)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for k, v := range extra {
		r.Header.Set(k, v)
	}
	resp, err := c.Do(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode != want {
		return nil, nil, fmt.Errorf("%s %s (tenant %s): %d, want %d: %.200s", method, url, t.id, resp.StatusCode, want, b)
	}
	return b, resp.Header, nil
}

// createTenants creates n tenants and a key for each through the admin API.
func createTenants(ctx context.Context, base, token string, n int) ([]*tenant, error) {
	tenants := make([]*tenant, n)
	ids := make(chan int)
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := &http.Client{Timeout: time.Minute}
			for i := range ids {
				t := &tenant{id: fmt.Sprintf("soak%04d", i)}
				if _, err := admin(c, base, token, "/admin/tenants", `{"id":"`+t.id+`","name":"Soak `+t.id+`"}`); err != nil {
					errc <- err
					return
				}
				b, err := admin(c, base, token, "/admin/tenants/"+t.id+"/api-keys", `{"name":"soak"}`)
				if err != nil {
					errc <- err
					return
				}
				var k struct{ Key string }
				json.Unmarshal(b, &k)
				t.key = k.Key
				tenants[i] = t
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case ids <- i:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(ids)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return tenants, err
}

func admin(c *http.Client, base, token, path, body string) ([]byte, error) {
	r, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		return nil, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return b, nil
}

// readSchedTrace reads the runtime's scheduler trace (with scheddetail,
// one line per goroutine after each "SCHED" line) and stores the number of
// live goroutines of each complete block.
func readSchedTrace(r io.Reader, goroutines *atomic.Int64) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n, inBlock := 0, false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "SCHED "):
			if inBlock {
				goroutines.Store(int64(n))
			}
			n, inBlock = 0, true
		case strings.HasPrefix(line, "  G") && strings.Contains(line, ": status="):
			// status 6 is a dead goroutine kept for reuse.
			if !strings.Contains(line, ": status=6(") {
				n++
			}
		case inBlock && !strings.HasPrefix(line, "  "):
			goroutines.Store(int64(n))
			inBlock = false
		}
	}
}

// sample is one observation of the server process.
type sample struct {
	at                     time.Duration
	rssKiB                 int
	goroutines             int
	threads, fds, requests int
	errors                 int
	rps                    float64
}

func sampleProcess(pid int) (sample, error) {
	var s sample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			s.rssKiB, _ = strconv.Atoi(f[0])
		case "Threads":
			s.threads, _ = strconv.Atoi(f[0])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	return s, nil
}

// verdict prints the phases and decides: no errors, and the last third's
// mean RSS and goroutine count within the tolerance of the middle third's.
func verdict(samples []sample, st *stats, o options) error {
	if len(samples) < 6 {
		return fmt.Errorf("only %d samples: run longer or sample more often", len(samples))
	}
	third := len(samples) / 3
	warm, middle, last := samples[:third], samples[third:2*third], samples[2*third:]
	mean := func(ss []sample, f func(sample) float64) float64 {
		sum := 0.0
		for _, s := range ss {
			sum += f(s)
		}
		return sum / float64(len(ss))
	}
	rss := func(s sample) float64 { return float64(s.rssKiB) / 1024 }
	gor := func(s sample) float64 { return float64(s.goroutines) }
	thr := func(s sample) float64 { return float64(s.threads) }
	rps := func(s sample) float64 { return s.rps }
	st.mu.Lock()
	total, errs, examples := st.total, st.allErrors, st.examples
	st.mu.Unlock()

	fmt.Printf("\n%-22s %10s %10s %10s\n", "", "warm-up", "middle", "last")
	fmt.Printf("%-22s %10.1f %10.1f %10.1f\n", "mean RSS (MiB)", mean(warm, rss), mean(middle, rss), mean(last, rss))
	fmt.Printf("%-22s %10.1f %10.1f %10.1f\n", "mean goroutines", mean(warm, gor), mean(middle, gor), mean(last, gor))
	fmt.Printf("%-22s %10.1f %10.1f %10.1f\n", "mean threads", mean(warm, thr), mean(middle, thr), mean(last, thr))
	fmt.Printf("%-22s %10.0f %10.0f %10.0f\n", "mean requests/s", mean(warm, rps), mean(middle, rps), mean(last, rps))
	fmt.Printf("\n%d requests, %d errors; %d pacing ticks found every client busy\n", total, errs, st.skipped.Load())
	for _, e := range examples {
		fmt.Println("  error:", e)
	}
	var fails []string
	if errs > 0 {
		fails = append(fails, fmt.Sprintf("%d errors", errs))
	}
	// A small absolute slack keeps tiny numbers from failing on noise.
	flat := func(name string, f func(sample) float64, slack float64) {
		m, l := mean(middle, f), mean(last, f)
		if math.Abs(l-m) > math.Max(o.tolerance*m, slack) {
			fails = append(fails, fmt.Sprintf("%s not flat: middle third %.1f, last third %.1f", name, m, l))
		}
	}
	flat("RSS", rss, 1)
	flat("goroutines", gor, 3)
	if len(fails) > 0 {
		fmt.Println("\nverdict: FAIL —", strings.Join(fails, "; "))
		return errors.New("soak failed")
	}
	fmt.Printf("\nverdict: PASS — no errors; RSS and goroutines flat after warm-up (last third within %.0f%% of the middle third)\n", o.tolerance*100)
	return nil
}

func pct(ds []time.Duration, p float64) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	d := s[int(float64(len(s)-1)*p/100)]
	return d.Round(10 * time.Microsecond).String()
}

func waitReady(ctx context.Context, base string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
	return errors.New("the server did not become ready within 30 s")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
