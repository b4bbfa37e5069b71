package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// propModel is what the cross-tenant property test knows to be true: who
// owns each item and its latest name and version. Each tenant is driven by
// one worker only, so the model of a tenant's items is exact; other workers
// only read it to aim at items that are not theirs.
type propModel struct {
	mu    sync.Mutex
	items map[string]*propItem // item id → item
	live  map[string][]string  // tenant → ids of its items not deleted
}

type propItem struct {
	owner   string
	name    string
	version int
	deleted bool
}

func (m *propModel) get(id string) (propItem, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[id]
	if !ok {
		return propItem{}, false
	}
	return *it, true
}

func (m *propModel) put(id string, it propItem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.items[id]; !ok {
		m.live[it.owner] = append(m.live[it.owner], id)
	}
	if it.deleted {
		m.live[it.owner] = slices.DeleteFunc(m.live[it.owner], func(s string) bool { return s == id })
	}
	m.items[id] = &it
}

// pick returns a random live item of tenant, or "".
func (m *propModel) pick(rng *rand.Rand, tenant string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.live[tenant]
	if len(ids) == 0 {
		return ""
	}
	return ids[rng.IntN(len(ids))]
}

// liveOf returns a copy of tenant's live item ids.
func (m *propModel) liveOf(tenant string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.live[tenant])
}

// aimsAtTheirs names the operations of the property test that need an item
// of another tenant.
var aimsAtTheirs = map[string]bool{
	"get theirs with own key": true, "get theirs with spoofed X-Tenant-ID": true,
	"put theirs with own key": true, "patch theirs with own key": true, "delete theirs with own key": true,
	"patch theirs with spoofed X-Tenant-ID": true, "list own from their cursor": true,
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestCrossTenantProperty runs random operations of many tenants at once —
// their own creates, reads, lists, replaces, patches and deletes, and
// attempts on each other's items: with their own key on another tenant's
// item id, with another tenant's id in X-Tenant-ID, and with another
// tenant's key — and checks every response against a model of who owns
// what: no response shows another tenant's item, every cross-tenant attempt
// is 403 or 404, and no foreign write lands. At the end each tenant's items,
// read with its own key, are exactly the model's. TENANTAPI_PROPERTY_SEED
// replays a run.
func TestCrossTenantProperty(t *testing.T) {
	const (
		tenants  = 12
		workers  = 8
		maxOps   = 3000
		maxTime  = 20 * time.Second
		pageSize = 20
	)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TENANTAPI_PROPERTY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (TENANTAPI_PROPERTY_SEED=%d replays it)", seed, seed)

	e := setup(t)
	var ids []string
	for i := range tenants {
		id := fmt.Sprintf("prop%02d", i)
		e.tenant(id)
		ids = append(ids, id)
	}
	m := &propModel{items: map[string]*propItem{}, live: map[string][]string{}}
	client := e.srv.Client()

	type answer struct {
		status int
		code   string
		body   []byte
		header http.Header
	}
	// call sends one request as key for X-Tenant-ID tenant. It never calls
	// t.Fatal: it runs on the workers' goroutines.
	call := func(method, path, tenant, key, contentType, body string) (answer, error) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r, err := http.NewRequest(method, e.srv.URL+path, rd)
		if err != nil {
			return answer{}, err
		}
		if body != "" {
			r.Header.Set("Content-Type", contentType)
		}
		r.Header.Set("X-Tenant-ID", tenant)
		r.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(r)
		if err != nil {
			return answer{}, err
		}
		defer resp.Body.Close()
		buf, err := io.ReadAll(resp.Body)
		if err != nil {
			return answer{}, err
		}
		a := answer{status: resp.StatusCode, body: buf, header: resp.Header}
		if resp.StatusCode >= 400 {
			var p struct{ Code string }
			json.Unmarshal(buf, &p)
			a.code = p.Code
		}
		return a, nil
	}
	keyOf := func(tenant string) string {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.keyOf[tenant]
	}

	var (
		started, executed atomic.Int64
		counts            sync.Map // op name → *atomic.Int64
		failures          atomic.Int64
	)
	fail := func(op string, format string, args ...any) {
		if failures.Add(1) <= 20 {
			t.Errorf("%s: %s", op, fmt.Sprintf(format, args...))
		}
	}
	// foreign reports the first item in body that belongs to another tenant
	// than self.
	foreign := func(self string, body []byte) string {
		for _, id := range uuidRE.FindAllString(string(body), -1) {
			if it, ok := m.get(id); ok && it.owner != self {
				return fmt.Sprintf("%s of %s", id, it.owner)
			}
		}
		return ""
	}
	// checkItem compares an item body with the model.
	checkItem := func(op, self, id string, a answer) {
		var got struct {
			ID         string
			Name       string
			Version    int
			Attributes map[string]any
		}
		if err := json.Unmarshal(a.body, &got); err != nil {
			fail(op, "body %s: %v", a.body, err)
			return
		}
		want, _ := m.get(id)
		if got.ID != id || got.Name != want.name || got.Version != want.version || got.Attributes["owner"] != self {
			fail(op, "item %s is %+v, model %+v", id, got, want)
		}
	}
	crossDenied := func(op string, a answer, status int, code string) {
		if a.status != status || a.code != code {
			fail(op, "status %d code %q, want %d %q; body %s", a.status, a.code, status, code, a.body)
		}
	}

	deadline := time.Now().Add(maxTime)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var mine []string
			for i := w; i < tenants; i += workers {
				mine = append(mine, ids[i])
			}
			seq := 0
			for started.Add(1) <= maxOps && time.Now().Before(deadline) {
				executed.Add(1)
				self := mine[rng.IntN(len(mine))]
				key := keyOf(self)
				other := ids[rng.IntN(tenants)]
				for other == self {
					other = ids[rng.IntN(tenants)]
				}
				own := m.pick(rng, self)
				theirs := m.pick(rng, other)
				seq++
				name := fmt.Sprintf("%s-%d-%d", self, w, seq)

				var op string
				switch k := rng.IntN(100); {
				case k < 18 || own == "":
					op = "create"
				case k < 30:
					op = "get own"
				case k < 38:
					op = "list own"
				case k < 46:
					op = "put own"
				case k < 54:
					op = "patch own"
				case k < 58:
					op = "delete own"
				case k < 66:
					op = "get theirs with own key"
				case k < 72:
					op = "get theirs with spoofed X-Tenant-ID"
				case k < 78:
					op = "put theirs with own key"
				case k < 84:
					op = "patch theirs with own key"
				case k < 88:
					op = "delete theirs with own key"
				case k < 92:
					op = "patch theirs with spoofed X-Tenant-ID"
				case k < 96:
					op = "own tenant with their key"
				default:
					op = "list own from their cursor"
				}
				if theirs == "" && aimsAtTheirs[op] {
					op = "create" // nothing of theirs to aim at yet
				}
				c, _ := counts.LoadOrStore(op, new(atomic.Int64))
				c.(*atomic.Int64).Add(1)

				var a answer
				var err error
				switch op {
				case "create":
					a, err = call("POST", "/items", self, key, "application/json", `{"name":"`+name+`","attributes":{"owner":"`+self+`"}}`)
					if err == nil && a.status == 201 {
						var it struct{ ID string }
						json.Unmarshal(a.body, &it)
						m.put(it.ID, propItem{owner: self, name: name, version: 1})
						checkItem(op, self, it.ID, a)
					} else if err == nil {
						fail(op, "status %d %s", a.status, a.body)
					}
				case "get own":
					a, err = call("GET", "/items/"+own, self, key, "", "")
					if err == nil && a.status != 200 {
						fail(op, "status %d %s", a.status, a.body)
					} else if err == nil {
						checkItem(op, self, own, a)
					}
				case "list own", "list own from their cursor":
					cursor := ""
					if op == "list own from their cursor" {
						var b [17]byte
						b[0] = 1
						u := uuid.MustParse(theirs)
						copy(b[1:], u[:])
						cursor = base64.RawURLEncoding.EncodeToString(b[:])
					}
					seen := map[string]bool{}
					for pages := 0; pages < 100; pages++ {
						path := "/items?limit=" + strconv.Itoa(1+rng.IntN(pageSize))
						if cursor != "" {
							path += "&cursor=" + url.QueryEscape(cursor)
						}
						a, err = call("GET", path, self, key, "", "")
						if err != nil || a.status != 200 {
							if err == nil {
								fail(op, "status %d %s", a.status, a.body)
							}
							break
						}
						var page struct {
							Items []struct {
								ID   string
								Name string
							}
							NextCursor *string `json:"next_cursor"`
						}
						if err := json.Unmarshal(a.body, &page); err != nil {
							fail(op, "%v: %s", err, a.body)
							break
						}
						for _, it := range page.Items {
							want, ok := m.get(it.ID)
							if !ok || want.owner != self || want.deleted || seen[it.ID] {
								fail(op, "listed %s (model %+v, known %v, seen %v)", it.ID, want, ok, seen[it.ID])
							}
							seen[it.ID] = true
						}
						if page.NextCursor == nil {
							break
						}
						cursor = *page.NextCursor
					}
					if op == "list own" && err == nil {
						for _, id := range m.liveOf(self) {
							if !seen[id] {
								fail(op, "the list of %s misses %s", self, id)
							}
						}
					}
				case "put own":
					a, err = call("PUT", "/items/"+own, self, key, "application/json", `{"name":"`+name+`","attributes":{"owner":"`+self+`"}}`)
					if err == nil && a.status == 200 {
						it, _ := m.get(own)
						it.name, it.version = name, it.version+1
						m.put(own, it)
						checkItem(op, self, own, a)
					} else if err == nil {
						fail(op, "status %d %s", a.status, a.body)
					}
				case "patch own":
					a, err = call("PATCH", "/items/"+own, self, key, "application/merge-patch+json", `{"name":"`+name+`"}`)
					if err == nil && a.status == 200 {
						it, _ := m.get(own)
						it.name, it.version = name, it.version+1
						m.put(own, it)
						checkItem(op, self, own, a)
					} else if err == nil {
						fail(op, "status %d %s", a.status, a.body)
					}
				case "delete own":
					a, err = call("DELETE", "/items/"+own, self, key, "", "")
					if err == nil && a.status == 204 {
						it, _ := m.get(own)
						it.deleted = true
						m.put(own, it)
					} else if err == nil {
						fail(op, "status %d %s", a.status, a.body)
					}
				case "get theirs with own key":
					a, err = call("GET", "/items/"+theirs, self, key, "", "")
					if err == nil {
						crossDenied(op, a, 404, "item-not-found")
					}
				case "get theirs with spoofed X-Tenant-ID":
					a, err = call("GET", "/items/"+theirs, other, key, "", "")
					if err == nil {
						crossDenied(op, a, 403, "forbidden")
					}
				case "put theirs with own key":
					a, err = call("PUT", "/items/"+theirs, self, key, "application/json", `{"name":"stolen by `+self+`"}`)
					if err == nil {
						crossDenied(op, a, 404, "item-not-found")
					}
				case "patch theirs with own key":
					a, err = call("PATCH", "/items/"+theirs, self, key, "application/merge-patch+json", `{"name":"stolen by `+self+`"}`)
					if err == nil {
						crossDenied(op, a, 404, "item-not-found")
					}
				case "delete theirs with own key":
					a, err = call("DELETE", "/items/"+theirs, self, key, "", "")
					if err == nil {
						crossDenied(op, a, 404, "item-not-found")
					}
				case "patch theirs with spoofed X-Tenant-ID":
					a, err = call("PATCH", "/items/"+theirs, other, key, "application/merge-patch+json", `{"name":"stolen by `+self+`"}`)
					if err == nil {
						crossDenied(op, a, 403, "forbidden")
					}
				case "own tenant with their key":
					// Another tenant's key with our X-Tenant-ID, on our item.
					method := []string{"GET", "DELETE"}[rng.IntN(2)]
					a, err = call(method, "/items/"+own, self, keyOf(other), "", "")
					if err == nil {
						crossDenied(op, a, 403, "forbidden")
					}
				}
				if err != nil {
					fail(op, "%v", err)
					continue
				}
				if f := foreign(self, a.body); f != "" {
					fail(op, "the response shows item %s: %s", f, a.body)
				}
			}
		}()
	}
	wg.Wait()

	var summary []string
	counts.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(summary)
	t.Logf("%d operations (seed %d): %v", executed.Load(), seed, summary)
	if failures.Load() > 0 {
		t.Fatalf("%d failures (seed %d)", failures.Load(), seed)
	}

	// Through each owner's own key: the list is exactly the model's live
	// items, with the model's names and versions; deleted items are gone.
	for _, tenant := range ids {
		got := map[string]propItem{}
		cursor := ""
		for {
			path := "/items?limit=500"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			r := e.as(tenant, "GET", path, "")
			expect(t, r, 200, "")
			var page struct {
				Items []struct {
					ID      string
					Name    string
					Version int
				}
				NextCursor *string `json:"next_cursor"`
			}
			if err := json.Unmarshal(r.body, &page); err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				got[it.ID] = propItem{owner: tenant, name: it.Name, version: it.Version}
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		want := map[string]propItem{}
		for _, id := range m.liveOf(tenant) {
			it, _ := m.get(id)
			want[id] = it
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("tenant %s holds\n%v\nthe model says\n%v", tenant, got, want)
		}
	}
	m.mu.Lock()
	var deleted []propItem
	var deletedIDs []string
	for id, it := range m.items {
		if it.deleted {
			deleted = append(deleted, *it)
			deletedIDs = append(deletedIDs, id)
		}
	}
	m.mu.Unlock()
	for i, id := range deletedIDs {
		expect(t, e.as(deleted[i].owner, "GET", "/items/"+id, ""), 404, "item-not-found")
	}
}
