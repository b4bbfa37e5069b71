package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
)

// httpTarget sends the scenario's requests over kept-alive connections.
// Reads (get, list) go to /<resource>; writes always create items.
type httpTarget struct {
	base     string
	auth     bool
	resource string
	client   *http.Client
}

func newHTTPTarget(base string, auth bool, resource string, concurrency int) *httpTarget {
	tr := &http.Transport{
		MaxIdleConns:        2 * concurrency,
		MaxIdleConnsPerHost: 2 * concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &httpTarget{base: strings.TrimSuffix(base, "/"), auth: auth, resource: resource,
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (h *httpTarget) do(ctx context.Context, t *benchkit.Tenant, method, path, body string, want int) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return err
	}
	req.Header["X-Tenant-Id"] = []string{t.ID}
	if h.auth {
		req.Header["Authorization"] = []string{"Bearer " + t.Key}
	}
	if body != "" {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: transport error", method, strings.SplitN(path, "/", 3)[1])
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d", method, strings.SplitN(path, "/", 3)[1], resp.StatusCode)
	}
	if err != nil {
		return fmt.Errorf("%s: reading the body: %v", method, err)
	}
	return nil
}

func (h *httpTarget) get(ctx context.Context, t *benchkit.Tenant, id string) error {
	return h.do(ctx, t, "GET", "/"+h.resource+"/"+id, "", http.StatusOK)
}

func (h *httpTarget) post(ctx context.Context, t *benchkit.Tenant, n uint64) error {
	nn := strconv.FormatUint(n, 10)
	body := `{"name":"bench item ` + nn + `","description":"made by the load generator","attributes":{"n":` + nn + `,"tags":["a","b"]}}`
	return h.do(ctx, t, "POST", "/items", body, http.StatusCreated)
}

func (h *httpTarget) list(ctx context.Context, t *benchkit.Tenant) error {
	return h.do(ctx, t, "GET", "/"+h.resource+"?limit=50", "", http.StatusOK)
}

func (h *httpTarget) roundTrips() int { return 0 }

func (h *httpTarget) close() { h.client.CloseIdleConnections() }
