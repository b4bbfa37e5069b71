//go:build linux

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

// BenchmarkRequest measures the whole request path of `tenantapi serve`
// (the handler newAPI builds, over a real database, with the pools'
// defaults — tenant roles, prepared statements — Prometheus metrics and logging at warn, as bench/run runs it) for a GET
// of one item and a POST, at 10 tenants and 16 concurrent callers. Besides
// ns/op it reports this process's CPU per request (cpu-µs/op): the
// server's own cost, PostgreSQL's excluded.
//
//	go test ./cmd/tenantapi -run '^$' -bench Request -benchmem -count 6
func BenchmarkRequest(b *testing.B) {
	ctx := context.Background()
	// The pools as serve opens them with the defaults (prepared statements
	// within their budget); there is no runtime role, so no routing.
	env := newEnv(func(string) string { return "" })
	db, err := postgres.Open(ctx, env.db().pools(postgres.Config{URL: testdb.New(b)}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	if _, err := migrate(ctx, db, "", 4, nil); err != nil {
		b.Fatal(err)
	}
	cfg := env.server()
	m := newPromMetrics(cfg, db)
	cfg.observer, cfg.metrics = m, m.Handler()
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	api, err := newAPI(cfg, db, log)
	if err != nil {
		b.Fatal(err)
	}

	type benchTenant struct{ id, auth, item string }
	tenants := postgres.NewTenantStore(db, nil)
	keys, rows, schemas := postgres.NewKeyStore(db), postgres.NewRowStore(db), postgres.NewSchemaStore(db)
	var ts []benchTenant
	for i := range 10 {
		id := tenantapi.TenantID("bench" + strconv.Itoa(i))
		t, err := tenants.CreateTenant(ctx, id, "Bench")
		if err != nil {
			b.Fatal(err)
		}
		_, key, err := keys.CreateKey(ctx, id, "bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		sc, err := schemas.Schema(ctx, t.SchemaVersion)
		if err != nil {
			b.Fatal(err)
		}
		res, ok := sc.Resource("items")
		if !ok {
			b.Fatal("no items resource")
		}
		set := map[string]string{"name": "item", "attributes": `{"n":1}`}
		var vals []tenantapi.Value
		for i, f := range res.Fields {
			text, ok := set[f.Name]
			vals = append(vals, tenantapi.Value{Field: i, Text: text, Default: !ok})
		}
		it, err := rows.Create(ctx, tenantapi.TenantRef{ID: t.ID, UID: t.UID, Version: t.SchemaVersion}, res, vals, nil)
		if err != nil {
			b.Fatal(err)
		}
		ts = append(ts, benchTenant{id: string(id), auth: "Bearer " + key, item: it.Row.ID.String()})
	}

	run := func(b *testing.B, method string, path func(benchTenant) string, body func(n uint64) string, want int) {
		var seq atomic.Uint64
		var failed atomic.Value
		cpu0 := cpuTime()
		b.ReportAllocs()
		b.SetParallelism(8) // 16 callers on 2 cores, as bench/loadgen
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				n := seq.Add(1)
				t := ts[n%uint64(len(ts))]
				u, _ := url.Parse(path(t))
				r := (&http.Request{Method: method, URL: u, RequestURI: u.RequestURI(), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Host: "127.0.0.1", RemoteAddr: "127.0.0.1:1234", Body: http.NoBody,
					Header: http.Header{"X-Tenant-Id": {t.id}, "Authorization": {t.auth}}}).WithContext(ctx)
				if body != nil {
					s := body(n)
					r.Body, r.ContentLength = io.NopCloser(strings.NewReader(s)), int64(len(s))
					r.Header["Content-Type"] = []string{"application/json"}
				}
				clear(w.h)
				w.status = 0
				api.ServeHTTP(w, r)
				if w.status != want {
					failed.Store(method + " answered " + strconv.Itoa(w.status))
				}
			}
		})
		b.StopTimer()
		if msg := failed.Load(); msg != nil {
			b.Fatal(msg)
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	}
	b.Run("GET", func(b *testing.B) {
		run(b, "GET", func(t benchTenant) string { return "/items/" + t.item }, nil, http.StatusOK)
	})
	b.Run("POST", func(b *testing.B) {
		run(b, "POST", func(benchTenant) string { return "/items" }, func(n uint64) string {
			nn := strconv.FormatUint(n, 10)
			return `{"name":"bench item ` + nn + `","description":"made by the load generator","attributes":{"n":` + nn + `,"tags":["a","b"]}}`
		}, http.StatusCreated)
	})
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is an http.ResponseWriter that keeps the status and
// headers and drops the body.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
