package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/fakerdsdata"
	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

// Tests of what SPEC §11 asks of the Data API driver beyond the suites
// that run over both drivers (dataapi_test.go): a cluster resuming from
// zero, the service's size limits, and that the product holds no
// connection of its own.

// setupDataAPI is setup over the Data API driver, with tenant roles on or
// off, and returns the local endpoint too, for its switches and counts.
func setupDataAPI(t *testing.T, tenantRoles bool, mod ...func(*serverConfig)) (*apiEnv, *fakerdsdata.Server) {
	t.Helper()
	t.Parallel()
	url := testdb.New(t)
	api, srv := fakeDataAPI(t, url)
	return serveDB(t, url, postgres.Config{DataAPI: api, TenantRoles: tenantRoles}, mod...), srv
}

// bothRoleModes runs fn as two parallel subtests, tenant roles off (the
// Data API driver's default) and on.
func bothRoleModes(t *testing.T, fn func(t *testing.T, tenantRoles bool)) {
	t.Parallel()
	for _, roles := range []bool{false, true} {
		t.Run(map[bool]string{false: "roles-off", true: "roles-on"}[roles], func(t *testing.T) { fn(t, roles) })
	}
}

// dataAPIMessage is what the local endpoint's resuming message says; it
// must reach neither a caller nor the log.
const dataAPIMessage = "resuming after being auto-paused"

// TestDataAPIResumeFromZero: while the cluster resumes from zero capacity
// every call answers DatabaseResumingException. A tenant request retries
// within its deadline and then answers 503 unavailable with Retry-After;
// once the cluster is up the same server answers again, no restart. A
// resume shorter than the deadline is absorbed by the retries.
func TestDataAPIResumeFromZero(t *testing.T) {
	bothRoleModes(t, func(t *testing.T, roles bool) {
		const deadline = 2 * time.Second
		e, srv := setupDataAPI(t, roles, func(c *serverConfig) { c.RequestTimeout = deadline })
		e.tenant("acme")
		it := e.create("acme", `{"name":"before the pause","attributes":{"n":1}}`)
		path := "/items/" + it["id"].(string)
		before := e.as("acme", "GET", path, "")
		expect(t, before, 200, "")

		srv.StartResuming(0)
		for _, rq := range []struct{ method, path, body string }{
			{"GET", path, ""},
			{"GET", "/items", ""},
			{"POST", "/items", `{"name":"during the pause"}`},
		} {
			srv.ResetCalls()
			start := time.Now()
			r := e.as("acme", rq.method, rq.path, rq.body)
			took := time.Since(start)
			expect(t, r, 503, "unavailable")
			if r.header.Get("Retry-After") == "" {
				t.Errorf("%s %s: 503 without Retry-After", rq.method, rq.path)
			}
			// Slack for a loaded machine: the point is that the request
			// does not wait on past its deadline.
			if took > deadline+2*time.Second {
				t.Errorf("%s %s answered after %v, past the request deadline of %v", rq.method, rq.path, took, deadline)
			}
			calls := 0
			for _, n := range srv.CallCounts() {
				calls += n
			}
			if calls < 3 {
				t.Errorf("%s %s: %d Data API calls while resuming, want the driver to retry (%v)", rq.method, rq.path, calls, srv.CallCounts())
			}
			if bytes.Contains(r.body, []byte(dataAPIMessage)) {
				t.Errorf("the Data API's message reached the caller: %s", r.body)
			}
			t.Logf("%s %s while resuming: 503 after %v, %v", rq.method, rq.path, took.Round(time.Millisecond), srv.CallCounts())
		}

		srv.StopResuming()
		after := e.as("acme", "GET", path, "")
		expect(t, after, 200, "")
		if !bytes.Equal(after.body, before.body) {
			t.Errorf("after the resume: %s, want %s", after.body, before.body)
		}
		expect(t, e.as("acme", "POST", "/items", `{"name":"after the pause"}`), 201, "")

		// A resume shorter than the deadline: the request waits it out.
		const short = 500 * time.Millisecond
		srv.ResetCalls()
		srv.StartResuming(short)
		start := time.Now()
		r := e.as("acme", "GET", path, "")
		took := time.Since(start)
		expect(t, r, 200, "")
		if took < short-50*time.Millisecond {
			t.Errorf("served in %v, during a resume of %v", took, short)
		}
		resumed := 0
		for _, n := range srv.CallCounts() {
			resumed += n
		}
		// At least one call answered resuming, then the calls that
		// serve the request (GET is one statement, or four calls with
		// tenant roles).
		if want := map[bool]int{false: 2, true: 5}[roles]; resumed < want {
			t.Errorf("%d calls for a GET across a short resume, want at least %d: %v", resumed, want, srv.CallCounts())
		}
		t.Logf("GET across a %v resume: 200 after %v, %v", short, took.Round(time.Millisecond), srv.CallCounts())
		if strings.Contains(e.logs.String(), dataAPIMessage) {
			t.Error("the Data API's message is in the log")
		}
	})
}

// itemAtLimits returns the body of an item with attributes of exactly
// MaxAttributesSize bytes when encoded compactly (strings of one- to
// four-byte characters) and a description of MaxDescriptionLen
// characters, mostly multibyte: over the Data API's 64 KB a row.
func itemAtLimits(t *testing.T, name, salt string) (body string, attrs map[string]any) {
	t.Helper()
	chars := []string{"a", "é", "€", "𝄞"}
	var desc strings.Builder
	for i := range tenantapi.MaxDescriptionLen {
		desc.WriteString(chars[i%len(chars)])
	}
	attrs = map[string]any{}
	for i := range 16 {
		attrs[fmt.Sprintf("k%02d", i)] = strings.Repeat(chars[i%len(chars)], 3000/len(chars[i%len(chars)])) + salt
	}
	compact := func() int {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(attrs); err != nil {
			t.Fatal(err)
		}
		return buf.Len() - 1
	}
	attrs["pad"] = ""
	attrs["pad"] = strings.Repeat("z", tenantapi.MaxAttributesSize-compact())
	if n := compact(); n != tenantapi.MaxAttributesSize {
		t.Fatalf("attributes are %d bytes, want %d", n, tenantapi.MaxAttributesSize)
	}
	b, err := json.Marshal(map[string]any{"name": name, "description": desc.String(), "attributes": attrs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b), attrs
}

// sameItem fails the test unless the item JSON got has the name,
// description and attributes of the body sent.
func sameItem(t *testing.T, what string, got map[string]any, sent string) {
	t.Helper()
	var want map[string]any
	if err := json.Unmarshal([]byte(sent), &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "description", "attributes"} {
		if !reflect.DeepEqual(got[k], want[k]) {
			g, _ := json.Marshal(got[k])
			t.Errorf("%s: %s differs (%d bytes back, %d sent)", what, k, len(g), len(fmt.Sprint(want[k])))
		}
	}
}

// TestDataAPIRowOver64KB: an item with 64 KiB of attributes and a
// 10,000-character description is a row over the Data API's 64 KB; it is
// created, read, listed, patched and replaced whole.
func TestDataAPIRowOver64KB(t *testing.T) {
	bothRoleModes(t, func(t *testing.T, roles bool) {
		e, _ := setupDataAPI(t, roles)
		e.tenant("acme")
		body, attrs := itemAtLimits(t, "at the limits", "")

		r := e.as("acme", "POST", "/items", body)
		expect(t, r, 201, "")
		created := r.body
		it := r.json(t)
		sameItem(t, "POST", it, body)
		path := "/items/" + it["id"].(string)

		r = e.as("acme", "GET", path, "")
		expect(t, r, 200, "")
		if !bytes.Equal(r.body, created) {
			t.Errorf("GET answers %d bytes, not the %d the POST answered", len(r.body), len(created))
		}

		r = e.as("acme", "GET", "/items", "")
		expect(t, r, 200, "")
		items := r.json(t)["items"].([]any)
		if len(items) != 1 || !reflect.DeepEqual(items[0], it) {
			t.Errorf("the list does not hold the item whole (%d items)", len(items))
		}

		// A merge patch of the name and one attribute, to a value of the
		// same size: the attributes stay at the limit.
		patched := strings.Repeat("b", len(attrs["k00"].(string)))
		r = e.as("acme", "PATCH", path, `{"name":"patched","attributes":{"k00":"`+patched+`"}}`)
		expect(t, r, 200, "")
		attrs["k00"] = patched
		want, _ := json.Marshal(map[string]any{"name": "patched", "description": it["description"], "attributes": attrs})
		sameItem(t, "PATCH", r.json(t), string(want))
		r = e.as("acme", "GET", path, "")
		expect(t, r, 200, "")
		sameItem(t, "GET after PATCH", r.json(t), string(want))

		put, _ := itemAtLimits(t, "replaced", "")
		r = e.as("acme", "PUT", path, put)
		expect(t, r, 200, "")
		replaced := r.body
		sameItem(t, "PUT", r.json(t), put)
		if v := r.json(t)["version"]; v != 3.0 {
			t.Errorf("version %v after a PATCH and a PUT, want 3", v)
		}
		r = e.as("acme", "GET", path, "")
		expect(t, r, 200, "")
		if !bytes.Equal(r.body, replaced) {
			t.Errorf("GET after PUT answers %d bytes, not the %d the PUT answered", len(r.body), len(replaced))
		}

		// One byte more is the API's own limit, not the driver's.
		attrs["pad"] = attrs["pad"].(string) + "z"
		over, _ := json.Marshal(map[string]any{"name": "over", "attributes": attrs})
		expect(t, e.as("acme", "POST", "/items", string(over)), 422, "validation-failed")
	})
}

// TestDataAPIPageOver1MiB: a page of 500 items over the Data API's 1 MiB
// a response stops early with next_cursor, and following the cursors
// returns every item exactly once.
func TestDataAPIPageOver1MiB(t *testing.T) {
	e, srv := setupDataAPI(t, false)
	e.tenant("acme")
	// 3 KiB of attributes an item: 500 of them are 1.5 MiB.
	const n = 520
	attrs := `{"blob":"` + strings.Repeat("x", 3<<10) + `"}`
	ids := make(map[string]bool, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				r := e.as("acme", "POST", "/items", fmt.Sprintf(`{"name":"item %03d","attributes":%s}`, i, attrs))
				if r.status != 201 {
					t.Errorf("POST %d: %d %s", i, r.status, r.body)
					continue
				}
				mu.Lock()
				ids[r.json(t)["id"].(string)] = true
				mu.Unlock()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(ids) != n {
		t.Fatalf("%d items created, want %d", len(ids), n)
	}

	seen := map[string]int{}
	query := "/items?limit=500"
	pages := 0
	for ; pages < 20 && query != ""; pages++ {
		srv.ResetCalls()
		r := e.as("acme", "GET", query, "")
		expect(t, r, 200, "")
		if len(r.body) > 1<<20+64<<10 {
			t.Errorf("page %d is %d bytes", pages, len(r.body))
		}
		page := r.json(t)
		items := page["items"].([]any)
		for _, it := range items {
			m := it.(map[string]any)
			seen[m["id"].(string)]++
			if a, _ := m["attributes"].(map[string]any); len(a["blob"].(string)) != 3<<10 {
				t.Errorf("item %v not whole", m["id"])
			}
		}
		next, _ := page["next_cursor"].(string)
		t.Logf("page %d: %d items, %d bytes, %v, next_cursor %t", pages, len(items), len(r.body), srv.CallCounts(), next != "")
		if pages == 0 && (len(items) >= 500 || next == "") {
			t.Errorf("the first page has %d items and next_cursor %q: want fewer than 500 and a cursor", len(items), next)
		}
		query = ""
		if next != "" {
			query = "/items?limit=500&cursor=" + url.QueryEscape(next)
		}
	}
	if query != "" {
		t.Fatalf("still a next_cursor after %d pages", pages)
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("item %s listed %d times", id, seen[id])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct items listed, want %d", len(seen), n)
	}
}
