package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

// rateLimited fails the test unless r is 429 rate-limited with a whole
// number of seconds, at least 1, in Retry-After.
func rateLimited(t *testing.T, r response) {
	t.Helper()
	expect(t, r, 429, "rate-limited")
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q, want whole seconds ≥ 1", r.header.Get("Retry-After"))
	}
	if r.header.Get("X-Request-ID") == "" {
		t.Error("429 without X-Request-ID")
	}
}

func TestRateLimit(t *testing.T) {
	// 0.1 request a second: no token comes back while the test runs.
	e := setup(t, func(c *serverConfig) { c.RateLimitRPS, c.RateLimitBurst = 0.1, 3 })
	e.tenant("a")
	e.tenant("b")
	for range 3 {
		expect(t, e.as("a", "GET", "/items", ""), 200, "")
	}
	r := e.as("a", "GET", "/items", "")
	rateLimited(t, r)
	if n, _ := strconv.Atoi(r.header.Get("Retry-After")); n > 10 {
		t.Errorf("Retry-After %d, want at most 10 (one token at 0.1/s)", n)
	}
	// The same moment, b has its whole budget.
	for range 3 {
		expect(t, e.as("b", "GET", "/items", ""), 200, "")
	}
	rateLimited(t, e.as("b", "GET", "/items", ""))

	// SPEC §4.1: the rate limit (7) comes before body checks (8) and after
	// the registry (6).
	rateLimited(t, e.as("a", "POST", "/items", `{"name":"x"}`, "Content-Type", "text/plain"))
	expect(t, e.admin("PATCH", "/admin/tenants/a", `{"status":"suspended"}`), 200, "")
	expect(t, e.as("a", "GET", "/items", ""), 403, "tenant-suspended")

	// The admin API is not a tenant's budget.
	for range 5 {
		expect(t, e.admin("GET", "/admin/tenants/a", ""), 200, "")
	}
}

// TestRateLimitNotSpentByOthers sends requests naming tenant a that fail
// authentication (401) or belong to another tenant (403); none of them
// spends a's budget.
func TestRateLimitNotSpentByOthers(t *testing.T) {
	e := setup(t, func(c *serverConfig) { c.RateLimitRPS, c.RateLimitBurst = 0.1, 5 })
	keyA := e.tenant("a")
	keyB := e.tenant("b")
	unknown, _ := tenantapi.NewAPIKeySecret() // well formed, never stored
	mistyped := keyA[:len(keyA)-1] + "!"      // checksum fails: no query
	for i := range 50 {
		switch i % 5 {
		case 0:
			expect(t, e.as("a", "GET", "/items", "", "Authorization", ""), 401, "unauthorized")
		case 1:
			expect(t, e.as("a", "GET", "/items", "", "Authorization", "Bearer "+mistyped), 401, "unauthorized")
		case 2:
			expect(t, e.as("a", "GET", "/items", "", "Authorization", "Bearer "+unknown), 401, "unauthorized")
		case 3:
			expect(t, e.as("a", "GET", "/items", "", "Authorization", "Bearer "+keyB), 403, "forbidden")
		case 4:
			// a's key, b's header: b's budget is not spent either.
			expect(t, e.as("b", "GET", "/items", "", "Authorization", "Bearer "+keyA), 403, "forbidden")
		}
	}
	for _, id := range []string{"a", "b"} {
		for i := range 5 {
			if r := e.as(id, "GET", "/items", ""); r.status != 200 {
				t.Fatalf("tenant %s request %d of its burst: %d %s", id, i+1, r.status, r.body)
			}
		}
		rateLimited(t, e.as(id, "GET", "/items", ""))
	}
}

// TestRateLimitOverride sets a tenant's own limit through the admin API of
// one process and checks that other processes on the same database apply it
// within the cache TTL, both through API keys and with AUTH_MODE=none, and
// that null goes back to the default (here: no limit).
func TestRateLimitOverride(t *testing.T) {
	e := setup(t)
	e.tenant("a")
	keyed := e.peer(nil)
	open := e.peer(func(c *serverConfig) { c.AuthMode = "none" })
	all := []*apiEnv{e, keyed, open}
	// The other processes cache a while it has no limit of its own.
	for _, p := range all {
		for range 5 {
			expect(t, p.as("a", "GET", "/items", ""), 200, "")
		}
	}

	r := e.admin("PATCH", "/admin/tenants/a", `{"rate_limit":{"rps":0.1,"burst":2}}`)
	expect(t, r, 200, "")
	if rl, _ := r.json(t)["rate_limit"].(map[string]any); rl["rps"] != 0.1 || rl["burst"] != 2.0 {
		t.Errorf("PATCH answered rate_limit %v", r.json(t)["rate_limit"])
	}
	if rl, _ := e.admin("GET", "/admin/tenants/a", "").json(t)["rate_limit"].(map[string]any); rl["rps"] != 0.1 || rl["burst"] != 2.0 {
		t.Errorf("GET shows rate_limit %v", rl)
	}
	// This process applies it at once, the others within the cache TTL.
	spend := func(p *apiEnv, burst int) {
		t.Helper()
		for i := range burst {
			if r := p.as("a", "GET", "/items", ""); r.status != 200 {
				t.Fatalf("%s: request %d of the burst: %d %s", p.cfg.AuthMode, i+1, r.status, r.body)
			}
		}
		rateLimited(t, p.as("a", "GET", "/items", ""))
	}
	spend(e, 2)
	time.Sleep(e.cfg.CacheTTL + 50*time.Millisecond)
	spend(keyed, 2)
	spend(open, 2)

	expect(t, e.admin("PATCH", "/admin/tenants/a", `{"rate_limit":{"rps":-1,"burst":1.5,"x":1}}`), 422, "validation-failed")
	r = e.admin("PATCH", "/admin/tenants/a", `{"rate_limit":null}`)
	if rl, ok := r.json(t)["rate_limit"]; r.status != 200 || !ok || rl != nil {
		t.Errorf("reset: %d %s", r.status, r.body)
	}
	time.Sleep(e.cfg.CacheTTL + 50*time.Millisecond)
	for _, p := range all {
		for range 10 {
			expect(t, p.as("a", "GET", "/items", ""), 200, "")
		}
	}
}

// peer returns another API process over e's database, with e's
// configuration adjusted by mod and e's keys.
func (e *apiEnv) peer(mod func(*serverConfig)) *apiEnv {
	e.t.Helper()
	cfg := e.cfg
	if mod != nil {
		mod(&cfg)
	}
	api, err := newAPI(cfg, e.db, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	e.t.Cleanup(srv.Close)
	e.mu.Lock()
	defer e.mu.Unlock()
	return &apiEnv{t: e.t, url: e.url, db: e.db, srv: srv, api: api, logs: &syncBuffer{}, cfg: cfg, keyOf: maps.Clone(e.keyOf)}
}

// TestRateLimitNoisyNeighbour has tenant a hammer the API from several
// goroutines, in bursts, while tenant b sends a steady trickle well under
// its limit. b must get no error, and its median latency while a hammers
// must stay within a loose factor of its median while a is quiet. The two
// are sampled interleaved, so whatever else the machine runs weighs on
// both alike.
func TestRateLimitNoisyNeighbour(t *testing.T) {
	e := setup(t, func(c *serverConfig) { c.RateLimitRPS, c.RateLimitBurst = 100, 100 })
	keyA := e.tenant("a")
	keyB := e.tenant("b")
	e.create("b", `{"name":"x"}`)

	client := func(conns int) *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = conns
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client, id, key string) (int, error) {
		rq, _ := http.NewRequest("GET", e.srv.URL+"/items", nil)
		rq.Header.Set("X-Tenant-ID", id)
		rq.Header.Set("Authorization", "Bearer "+key)
		resp, err := c.Do(rq)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}

	const (
		hammers = 4
		window  = 300 * time.Millisecond // a hammers, then rests, alternately
		windows = 12
	)
	var (
		noisy            atomic.Bool
		aOK, a429, aElse atomic.Int64
		wg               sync.WaitGroup
	)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	ca := client(hammers)
	for range hammers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if !noisy.Load() {
					time.Sleep(time.Millisecond)
					continue
				}
				switch status, err := get(ca, "a", keyA); {
				case err == nil && status == 200:
					aOK.Add(1)
				case err == nil && status == 429:
					a429.Add(1)
				default:
					aElse.Add(1)
				}
			}
		}()
	}

	// b: one request every 20 ms at most, far under its 100/s.
	var quiet, loud []time.Duration
	bErrors := 0
	cb := client(1)
	start := time.Now()
	for w := range windows {
		noisy.Store(w%2 == 1)
		if w%2 == 1 {
			time.Sleep(20 * time.Millisecond) // let the hammering start
		}
		for end := start.Add(time.Duration(w+1) * window); time.Now().Before(end); {
			t0 := time.Now()
			status, err := get(cb, "b", keyB)
			d := time.Since(t0)
			if err != nil || status != 200 {
				bErrors++
				t.Errorf("b: %d %v", status, err)
			}
			if w%2 == 1 {
				loud = append(loud, d)
			} else {
				quiet = append(quiet, d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	noisy.Store(false)
	stop()
	wg.Wait()

	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	elapsed := time.Since(start)
	pq, pl := median(quiet), median(loud)
	t.Logf("a: %d ok, %d rate-limited, %d other in %d windows of %v; b: %d requests, %d errors, p50 %v quiet, %v while a hammers (×%.2f)",
		aOK.Load(), a429.Load(), aElse.Load(), windows/2, window, len(quiet)+len(loud), bErrors, pq, pl, float64(pl)/float64(pq))
	if a429.Load() == 0 || aElse.Load() != 0 {
		t.Errorf("a: %d rate-limited, %d other answers; want some 429s and nothing else", a429.Load(), aElse.Load())
	}
	// a's budget: the burst plus 100 a second, with some slack for timing.
	if limit := int64(100 + 100*elapsed.Seconds() + 20); aOK.Load() > limit {
		t.Errorf("a got %d requests through in %v, want at most %d", aOK.Load(), elapsed, limit)
	}
	// Loose on purpose (2 cores, the race detector, other tests alongside):
	// five times the quiet median, and never less than 20 ms of slack.
	if pl > max(5*pq, pq+20*time.Millisecond) {
		t.Errorf("b's median latency went from %v to %v while a hammered", pq, pl)
	}
}

func TestCLITenantsLimit(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": testdb.New(t)}
	run := func(want int, args ...string) string {
		t.Helper()
		code, out, errs := cli(t, env, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, want, errs)
		}
		return out
	}
	run(0, "migrate")
	run(0, "tenants", "create", "acme")
	limitOf := func(out string) any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("not JSON: %q", out)
		}
		rl, ok := m["rate_limit"]
		if !ok {
			t.Fatalf("no rate_limit in %s", out)
		}
		return rl
	}
	if rl := limitOf(run(0, "tenants", "show", "acme", "--json")); rl != nil {
		t.Errorf("new tenant: rate_limit %v, want null", rl)
	}
	rl, _ := limitOf(run(0, "tenants", "limit", "acme", "--rps", "5", "--burst", "10", "--json")).(map[string]any)
	if rl["rps"] != 5.0 || rl["burst"] != 10.0 {
		t.Errorf("limit: rate_limit %v", rl)
	}
	if out := run(0, "tenants", "list"); !strings.Contains(out, "RATE LIMIT") || !strings.Contains(out, "5/s, burst 10") {
		t.Errorf("table: %q", out)
	}
	rl, _ = limitOf(run(0, "tenants", "limit", "acme", "--rps", "2.5", "--json")).(map[string]any)
	if rl["rps"] != 2.5 || rl["burst"] != 3.0 {
		t.Errorf("limit without --burst: rate_limit %v, want one second's worth (3)", rl)
	}
	if rl := limitOf(run(0, "tenants", "limit", "acme", "--default", "--json")); rl != nil {
		t.Errorf("--default: rate_limit %v, want null", rl)
	}
	for _, args := range [][]string{
		{"tenants", "limit", "acme"},
		{"tenants", "limit", "acme", "--rps", "5", "--default"},
		{"tenants", "limit", "acme", "--rps", "-3"},
		{"tenants", "limit", "acme", "--rps", "5", "--burst", "-1"},
		{"tenants", "limit", "acme", "--rps", "NaN"},
		{"tenants", "limit", "--rps", "5"},
	} {
		run(2, args...)
	}
	run(1, "tenants", "limit", "ghost", "--rps", "5")
}

func TestServeRefusesBadRateLimit(t *testing.T) {
	t.Parallel()
	for _, v := range []map[string]string{
		{"RATE_LIMIT_RPS": "fast"},
		{"RATE_LIMIT_RPS": "-1"},
		{"RATE_LIMIT_RPS": "NaN"},
		{"RATE_LIMIT_RPS": "Inf"},
		{"RATE_LIMIT_RPS": "10", "RATE_LIMIT_BURST": "-1"},
	} {
		v["DATABASE_URL"] = "postgres://x@127.0.0.1:1/x"
		if code, _, errs := cli(t, v, "serve"); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", v, code, errs)
		}
	}
	for _, c := range []serverConfig{{RateLimitRPS: 2e6}, {RateLimitRPS: 10, RateLimitBurst: 2e6}} {
		if _, err := newAPI(c, nil, nil); err == nil {
			t.Errorf("newAPI accepted %+v", c)
		}
	}
}

// TestAdminRateLimitDefaultBurst: a rate limit without a burst (or with a
// null one) takes one second's worth, as `tenants limit` without --burst.
func TestAdminRateLimitDefaultBurst(t *testing.T) {
	e := setup(t)
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"acme"}`), 201, "")
	for _, tc := range []struct {
		body  string
		rps   float64
		burst int
	}{
		{`{"rate_limit":{"rps":5}}`, 5, tenantapi.DefaultBurst(5)},
		{`{"rate_limit":{"rps":2.5}}`, 2.5, tenantapi.DefaultBurst(2.5)},
		{`{"rate_limit":{"rps":0.1,"burst":null}}`, 0.1, tenantapi.DefaultBurst(0.1)},
		{`{"rate_limit":{"rps":0}}`, 0, tenantapi.DefaultBurst(0)},
		{`{"rate_limit":{"rps":5,"burst":10}}`, 5, 10},
	} {
		r := e.admin("PATCH", "/admin/tenants/acme", tc.body)
		expect(t, r, 200, "")
		rl, _ := r.json(t)["rate_limit"].(map[string]any)
		if rl["rps"] != tc.rps || rl["burst"] != float64(tc.burst) {
			t.Errorf("%s: rate_limit %v, want rps %v burst %v", tc.body, rl, tc.rps, tc.burst)
		}
	}
	// The CLI's default, which the cases above share: one second's worth.
	if tenantapi.DefaultBurst(5) != 5 || tenantapi.DefaultBurst(2.5) != 3 || tenantapi.DefaultBurst(0.1) != 1 {
		t.Error("DefaultBurst is not one second's worth, at least 1")
	}
	for _, body := range []string{
		`{"rate_limit":{"burst":10}}`,
		`{"rate_limit":{"rps":5,"burst":0}}`,
		`{"rate_limit":{"rps":-1}}`,
		`{"rate_limit":{}}`,
	} {
		expect(t, e.admin("PATCH", "/admin/tenants/acme", body), 422, "validation-failed")
	}
}
