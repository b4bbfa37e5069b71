package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

// BenchmarkDriver compares the warm latency of each item route between
// the pgx driver and the Data API driver (against the local endpoint, on
// the same PostgreSQL), with tenant roles on and off, in one run: one
// caller, requests served by the handler newAPI builds (key, tenant and
// schema cached). Besides ns/op it reports the median (median-µs) and the
// 90th percentile (p90-µs) of the requests of the run.
//
//	go test ./cmd/tenantapi -run '^$' -bench Driver -benchtime 300x -count 3
func BenchmarkDriver(b *testing.B) {
	for _, d := range []struct {
		name           string
		dataAPI, roles bool
	}{
		{"pgx/roles-on", false, true},
		{"pgx/roles-off", false, false},
		{"data-api/roles-off", true, false},
		{"data-api/roles-on", true, true},
	} {
		b.Run(d.name, func(b *testing.B) {
			h := newBenchAPI(b, d.dataAPI, d.roles)
			item := h.create(b, `{"name":"read","attributes":{"n":1,"tags":["a","b"]}}`)
			var victim string
			seq := 0
			for _, rt := range []struct {
				name, method string
				path         func() string
				body         func() string
				prep         func()
				status       int
			}{
				{"GET_item", "GET", func() string { return "/items/" + item }, nil, nil, 200},
				{"GET_list", "GET", func() string { return "/items?limit=20" }, nil, nil, 200},
				{"POST", "POST", func() string { return "/items" }, func() string {
					seq++
					return `{"name":"bench ` + strconv.Itoa(seq) + `","attributes":{"n":1}}`
				}, nil, 201},
				{"PATCH_merge", "PATCH", func() string { return "/items/" + item }, func() string {
					seq++
					return `{"attributes":{"n":` + strconv.Itoa(seq) + `}}`
				}, nil, 200},
				{"PUT", "PUT", func() string { return "/items/" + item }, func() string {
					return `{"name":"replaced","attributes":{"n":1,"tags":["a","b"]}}`
				}, nil, 200},
				{"DELETE", "DELETE", func() string { return "/items/" + victim }, nil, func() { victim = h.create(b, `{"name":"victim"}`) }, 204},
			} {
				b.Run(rt.name, func(b *testing.B) {
					took := make([]time.Duration, 0, b.N)
					b.ResetTimer()
					for range b.N {
						if rt.prep != nil {
							b.StopTimer()
							rt.prep()
							b.StartTimer()
						}
						body := ""
						if rt.body != nil {
							body = rt.body()
						}
						start := time.Now()
						status, out := h.serve(rt.method, rt.path(), body)
						took = append(took, time.Since(start))
						if status != rt.status {
							b.Fatalf("%s %s: %d %s", rt.method, rt.path(), status, out)
						}
					}
					b.StopTimer()
					slices.Sort(took)
					b.ReportMetric(float64(took[len(took)/2].Microseconds()), "median-µs")
					b.ReportMetric(float64(took[len(took)*9/10].Microseconds()), "p90-µs")
				})
			}
		})
	}
}

// benchAPI is the API on a fresh, migrated database, with one tenant and
// its key, called in process.
type benchAPI struct {
	api http.Handler
	key string
}

func newBenchAPI(b *testing.B, dataAPI, roles bool) *benchAPI {
	b.Helper()
	ctx := context.Background()
	url := testdb.New(b)
	pc := postgres.Config{URL: url, TenantRoles: roles}
	if dataAPI {
		api, _ := fakeDataAPI(b, url)
		pc = postgres.Config{DataAPI: api, TenantRoles: roles}
	}
	db := openMigrated(b, pc)
	if _, err := postgres.NewTenantStore(db, nil).CreateTenant(ctx, "bench", "Bench"); err != nil {
		b.Fatal(err)
	}
	_, key, err := postgres.NewKeyStore(db).CreateKey(ctx, tenantapi.TenantID("bench"), "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := newEnv(func(string) string { return "" }).server()
	api, err := newAPI(cfg, db, slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		b.Fatal(err)
	}
	h := &benchAPI{api: api, key: key}
	// Warm: the key, the tenant and its schema cached.
	if status, out := h.serve("GET", "/items", ""); status != 200 {
		b.Fatalf("warm-up: %d %s", status, out)
	}
	return h
}

// serve makes one request as the tenant and returns the status and body.
func (h *benchAPI) serve(method, path, body string) (int, []byte) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("X-Tenant-ID", "bench")
	r.Header.Set("Authorization", "Bearer "+h.key)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
		if method == "PATCH" {
			r.Header.Set("Content-Type", "application/merge-patch+json")
		}
	}
	w := httptest.NewRecorder()
	h.api.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

// create makes an item and returns its id.
func (h *benchAPI) create(b *testing.B, body string) string {
	b.Helper()
	status, out := h.serve("POST", "/items", body)
	var it struct{ ID string }
	if status != 201 || json.Unmarshal(out, &it) != nil {
		b.Fatalf("create: %d %s", status, out)
	}
	return it.ID
}
