package httpapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/tenantapi/tenantapi"
)

// requestCounter counts, per tenant, the requests this process served in the
// current window: a fixed interval aligned to the Unix epoch (a UTC hour by
// default). It is a per-process number; behind a load balancer or on Lambda
// each instance counts its own share.
type requestCounter struct {
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	start  time.Time
	counts map[tenantapi.TenantID]int64
}

func newRequestCounter(window time.Duration) *requestCounter {
	return &requestCounter{window: window, now: time.Now, counts: map[tenantapi.TenantID]int64{}}
}

// roll starts a new window when the current one has ended. c.mu is held.
func (c *requestCounter) roll(now time.Time) {
	if start := now.UTC().Truncate(c.window); !start.Equal(c.start) {
		c.start = start
		clear(c.counts)
	}
}

// add counts one request of tenant id.
func (c *requestCounter) add(id tenantapi.TenantID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(c.now())
	c.counts[id]++
}

// count returns tenant id's requests in the current window.
func (c *requestCounter) count(id tenantapi.TenantID) tenantapi.RequestWindow {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(c.now())
	return tenantapi.RequestWindow{Start: c.start, End: c.start.Add(c.window), Count: c.counts[id]}
}

type usageJSON struct {
	TenantID     tenantapi.TenantID `json:"tenant_id"`
	Items        int64              `json:"items"`
	Rows         map[string]int64   `json:"rows"`
	StorageBytes int64              `json:"storage_bytes"`
	Requests     requestsJSON       `json:"requests"`
}

type requestsJSON struct {
	Count       int64  `json:"count"`
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	Scope       string `json:"scope"`
}

// tenantUsage answers the tenant's row counts (items, and every
// resource's), storage bytes and the
// requests this process served for it in the current window.
func (s *Server) tenantUsage(w http.ResponseWriter, r *http.Request) {
	id, err := pathTenant(r)
	if err == nil && s.stores.Usage == nil {
		err = tenantapi.ErrNotFound
	}
	if err == nil {
		var u tenantapi.TenantUsage
		if u, err = s.stores.Usage.TenantUsage(r.Context(), id); err == nil {
			rw := s.requests.count(id)
			writeJSON(w, http.StatusOK, "application/json", usageJSON{
				TenantID: id, Items: u.Items, Rows: u.Rows, StorageBytes: u.StorageBytes,
				Requests: requestsJSON{Count: rw.Count, WindowStart: formatTime(rw.Start),
					WindowEnd: formatTime(rw.End), Scope: "process"},
			})
			return
		}
	}
	s.writeError(w, r, err)
}
