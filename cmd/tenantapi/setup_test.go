package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

const testAdminToken = "test-admin-token-0123456789abcdefghijklmnop"

// apiEnv is a running API over a fresh database, with helpers to call it.
type apiEnv struct {
	t     *testing.T
	url   string // database
	db    *postgres.DB
	srv   *httptest.Server
	api   http.Handler
	logs  *syncBuffer
	cfg   serverConfig
	mu    sync.Mutex
	keyOf map[string]string // tenant id → API key
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (the log).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setup starts the API on a fresh, migrated database. mod adjusts the
// configuration before the server is built.
func setup(t *testing.T, mod ...func(*serverConfig)) *apiEnv {
	t.Helper()
	return setupSet(t, nil, mod...)
}

// setupSet is setup with the application set set (nil: the built-in one).
func setupSet(t *testing.T, set []postgres.Migration, mod ...func(*serverConfig)) *apiEnv {
	t.Helper()
	t.Parallel()
	url := testdb.New(t)
	pc := postgres.Config{URL: url, TenantRoles: true, ApplicationSet: set}
	if overDataAPI(t) {
		pc = postgres.Config{DataAPI: dataAPIFor(t, url), TenantRoles: true, ApplicationSet: set}
	}
	return serveDB(t, url, pc, mod...)
}

// serveDB starts the API on the database at url, opened with pc and
// migrated.
func serveDB(t *testing.T, url string, pc postgres.Config, mod ...func(*serverConfig)) *apiEnv {
	t.Helper()
	db := openMigrated(t, pc)
	cfg := newEnv(func(string) string { return "" }).server()
	cfg.AdminToken = testAdminToken
	cfg.DeleteGrace = 300 * time.Millisecond
	cfg.CacheTTL = 100 * time.Millisecond
	for _, m := range mod {
		m(&cfg)
	}
	logs := &syncBuffer{}
	api, err := newAPI(cfg, db, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &apiEnv{t: t, url: url, db: db, srv: srv, api: api, logs: logs, cfg: cfg, keyOf: map[string]string{}}
}

// openMigrated opens pc, closed when the test ends, and migrates it.
func openMigrated(t testing.TB, pc postgres.Config) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := migrate(ctx, db, "", 4, nil); err != nil {
		t.Fatal(err)
	}
	return db
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// code returns the problem code of an error response.
func (r response) code(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("error response has Content-Type %q, body %s", ct, r.body)
	}
	c, _ := r.json(t)["code"].(string)
	return c
}

// req describes a request; header values of nil are not sent.
type req struct {
	method, path string
	header       map[string]string
	headers      http.Header // multi-valued extras
	body         string
}

func (e *apiEnv) do(rq req) response {
	e.t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	hr, err := http.NewRequest(rq.method, e.srv.URL+rq.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range rq.header {
		hr.Header.Set(k, v)
	}
	for k, vs := range rq.headers {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// admin calls the admin API with the admin token.
func (e *apiEnv) admin(method, path, body string) response {
	e.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + testAdminToken}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return e.do(req{method: method, path: path, header: h, body: body})
}

// tenant creates a tenant and a key for it, and returns the key.
func (e *apiEnv) tenant(id string) string {
	e.t.Helper()
	if r := e.admin("POST", "/admin/tenants", `{"id":"`+id+`","name":"Tenant `+id+`"}`); r.status != 201 {
		e.t.Fatalf("create tenant %s: %d %s", id, r.status, r.body)
	}
	r := e.admin("POST", "/admin/tenants/"+id+"/api-keys", `{"name":"test"}`)
	if r.status != 201 {
		e.t.Fatalf("create key for %s: %d %s", id, r.status, r.body)
	}
	key := r.json(e.t)["key"].(string)
	e.mu.Lock()
	e.keyOf[id] = key
	e.mu.Unlock()
	return key
}

// as calls the tenant API as tenant id with its key; extra headers override.
func (e *apiEnv) as(id, method, path, body string, extra ...string) response {
	e.t.Helper()
	e.mu.Lock()
	key := e.keyOf[id]
	e.mu.Unlock()
	h := map[string]string{"X-Tenant-ID": id, "Authorization": "Bearer " + key}
	if body != "" {
		h["Content-Type"] = "application/json"
		if method == "PATCH" {
			h["Content-Type"] = "application/merge-patch+json"
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			delete(h, extra[i])
		} else {
			h[extra[i]] = extra[i+1]
		}
	}
	return e.do(req{method: method, path: path, header: h, body: body})
}

// create makes an item for tenant id and returns its JSON.
func (e *apiEnv) create(id, body string) map[string]any {
	e.t.Helper()
	r := e.as(id, "POST", "/items", body)
	if r.status != 201 {
		e.t.Fatalf("create item: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

// expect fails the test unless r has the status and, for errors, the code.
func expect(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.code(t); got != code {
			t.Fatalf("code %q, want %q; body %s", got, code, r.body)
		}
	}
}
