package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

// startServe runs serveHTTP, the real server with its timeouts and header
// limit, on a free loopback port over a fresh migrated database, and returns
// its address. mod adjusts the configuration first. The server stops when
// the test ends.
func startServe(t *testing.T, mod func(*serverConfig)) string {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: testdb.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := migrate(ctx, db, "", 4, nil); err != nil {
		t.Fatal(err)
	}
	cfg := newEnv(func(string) string { return "" }).server()
	cfg.Host, cfg.Port = "127.0.0.1", 0
	cfg.AdminToken = testAdminToken
	cfg.ShutdownTimeout = 5 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	sctx, cancel := context.WithCancel(ctx)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveHTTP(sctx, cfg, db, slog.New(slog.NewJSONHandler(io.Discard, nil)), func(addr string) { addrc <- addr })
	}()
	select {
	case addr := <-addrc:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serveHTTP: %v", err)
			}
		})
		return addr
	case err := <-done:
		cancel()
		t.Fatalf("serveHTTP: %v", err)
		return ""
	}
}

// exchange is what a raw connection got back: a response, if any, and when
// the server answered or hung up.
type exchange struct {
	resp    *http.Response
	body    []byte
	err     error // the read error when there was no response
	elapsed time.Duration
}

// rawExchange opens a connection, writes head at once, then calls send (in
// its own goroutine, so it may be slow or block) with the connection, and
// reads what the server answers within wait. Write errors are ignored: a
// server that hangs up on a client is what these tests want to see.
func rawExchange(t *testing.T, addr, head string, send func(net.Conn), wait time.Duration) exchange {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	go func() {
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		if send != nil {
			send(conn)
		}
	}()
	conn.SetReadDeadline(start.Add(wait))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return exchange{err: err, elapsed: time.Since(start)}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return exchange{resp: resp, body: body, elapsed: time.Since(start)}
}

// trickle writes s one byte at a time, every gap, until it is written or the
// connection refuses a write.
func trickle(s string, gap time.Duration) func(net.Conn) {
	return func(c net.Conn) {
		for i := 0; i < len(s); i++ {
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
			time.Sleep(gap)
		}
	}
}

// TestServeLimits checks that serve protects itself from slow and oversized
// clients: headers sent a byte at a time are cut off at the read-header
// timeout, a trickling body at the read timeout, 100 KB of headers get 431,
// and bodies over 1 MiB get 413 whether or not they announce their length.
func TestServeLimits(t *testing.T) {
	t.Parallel()
	const (
		readHeaderTimeout = 400 * time.Millisecond
		readTimeout       = 1500 * time.Millisecond
		slack             = 2 * time.Second // a loaded machine, -race
	)
	addr := startServe(t, func(c *serverConfig) {
		c.ReadHeaderTimeout = readHeaderTimeout
		c.ReadTimeout = readTimeout
	})
	base := "http://" + addr

	// A tenant and its key, for the item routes.
	call := func(method, path string, h map[string]string, body string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		for k, v := range h {
			r.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	admin := map[string]string{"Authorization": "Bearer " + testAdminToken, "Content-Type": "application/json"}
	if code, body := call("POST", "/admin/tenants", admin, `{"id":"limits","name":"Limits"}`); code != 201 {
		t.Fatalf("create tenant: %d %s", code, body)
	}
	_, body := call("POST", "/admin/tenants/limits/api-keys", admin, `{}`)
	var k struct{ Key string }
	if err := json.Unmarshal([]byte(body), &k); err != nil || k.Key == "" {
		t.Fatalf("create key: %s", body)
	}
	itemHead := func(extra string) string {
		return "POST /items HTTP/1.1\r\nHost: " + addr + "\r\nX-Tenant-ID: limits\r\nAuthorization: Bearer " + k.Key +
			"\r\nContent-Type: application/json\r\n" + extra + "\r\n"
	}

	t.Run("headers one byte at a time", func(t *testing.T) {
		t.Parallel()
		// 60 bytes at 50 ms each would take 3 s; the server must hang up
		// after its read-header timeout without answering.
		x := rawExchange(t, addr, "", trickle("GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\nX-Slow: "+strings.Repeat("a", 30)+"\r\n\r\n", 50*time.Millisecond), readHeaderTimeout+slack)
		if x.resp != nil && x.resp.StatusCode < 400 {
			t.Fatalf("the slow request got %s", x.resp.Status)
		}
		if isTimeout(x.err) {
			t.Fatalf("the server kept the connection for %v (read-header timeout %v)", x.elapsed, readHeaderTimeout)
		}
		if x.elapsed < readHeaderTimeout-50*time.Millisecond {
			t.Fatalf("the server hung up after %v, before its read-header timeout %v (%v)", x.elapsed, readHeaderTimeout, x.err)
		}
		if x.resp != nil {
			t.Logf("cut off after %v with %s %q", x.elapsed, x.resp.Status, x.body)
		} else {
			t.Logf("cut off after %v: %v", x.elapsed, x.err)
		}
	})

	t.Run("body one byte at a time", func(t *testing.T) {
		t.Parallel()
		// 200 bytes at 50 ms each would take 10 s; the read timeout covers
		// the whole request, so the server gives up on the body after it.
		value := `"` + strings.Repeat("b", 198) + `"`
		head := "PUT /admin/config/slow.body HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + testAdminToken +
			"\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
		x := rawExchange(t, addr, head, trickle(value, 50*time.Millisecond), readTimeout+slack)
		if isTimeout(x.err) {
			t.Fatalf("the server kept reading the body for %v (read timeout %v)", x.elapsed, readTimeout)
		}
		if x.resp != nil && x.resp.StatusCode < 400 {
			t.Fatalf("the incomplete body got %s %s", x.resp.Status, x.body)
		}
		if x.elapsed < readTimeout-100*time.Millisecond {
			t.Fatalf("the server gave up after %v, before its read timeout %v", x.elapsed, readTimeout)
		}
		if code, body := call("GET", "/admin/config/slow.body", admin, ""); code != 404 {
			t.Errorf("the cut-off PUT stored something: %d %s", code, body)
		}
		if x.resp != nil {
			t.Logf("cut off after %v with %s %s", x.elapsed, x.resp.Status, x.body)
		} else {
			t.Logf("cut off after %v: %v", x.elapsed, x.err)
		}
	})

	t.Run("100 KB of headers", func(t *testing.T) {
		t.Parallel()
		var pad strings.Builder
		for i := range 10 {
			fmt.Fprintf(&pad, "X-Pad-%d: %s\r\n", i, strings.Repeat("p", 10<<10))
		}
		x := rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n"+pad.String()+"\r\n", nil, 10*time.Second)
		if x.resp == nil || x.resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("100 KB of headers: %+v %s", x.resp, x.body)
		}
		// Well under the 64 KiB limit is fine.
		pad.Reset()
		for i := range 5 {
			fmt.Fprintf(&pad, "X-Pad-%d: %s\r\n", i, strings.Repeat("p", 10<<10))
		}
		x = rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n"+pad.String()+"\r\n", nil, 10*time.Second)
		if x.resp == nil || x.resp.StatusCode != http.StatusOK {
			t.Fatalf("50 KB of headers: %+v %s", x.resp, x.body)
		}
	})

	bigBody := func(n int) string {
		return `{"name":"big","description":"` + strings.Repeat("d", n-len(`{"name":"big","description":""}`)) + `"}`
	}
	problem413 := func(t *testing.T, x exchange) {
		t.Helper()
		if x.resp == nil {
			t.Fatalf("no response: %v", x.err)
		}
		if x.resp.StatusCode != http.StatusRequestEntityTooLarge || x.resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(x.body), `"code":"payload-too-large"`) {
			t.Fatalf("%s %v %s", x.resp.Status, x.resp.Header, x.body)
		}
	}

	t.Run("1 MiB + 1 with Content-Length", func(t *testing.T) {
		t.Parallel()
		for _, head := range []string{
			itemHead(fmt.Sprintf("Content-Length: %d\r\n", 1<<20+1)),
			"PUT /admin/config/big HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + testAdminToken +
				fmt.Sprintf("\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 1<<20+1),
		} {
			b := bigBody(1<<20 + 1)
			problem413(t, rawExchange(t, addr, head, func(c net.Conn) { io.WriteString(c, b) }, 10*time.Second))
		}
		// Exactly 1 MiB is not too large (the description is, 422).
		b := bigBody(1 << 20)
		x := rawExchange(t, addr, itemHead(fmt.Sprintf("Content-Length: %d\r\n", 1<<20)), func(c net.Conn) { io.WriteString(c, b) }, 10*time.Second)
		if x.resp == nil || x.resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("exactly 1 MiB: %+v %s %v", x.resp, x.body, x.err)
		}
	})

	t.Run("chunked over 1 MiB", func(t *testing.T) {
		t.Parallel()
		b := bigBody(1<<20 + 100)
		chunked := func(c net.Conn) {
			w := bufio.NewWriter(c)
			for rest := b; rest != ""; {
				n := min(len(rest), 32<<10)
				fmt.Fprintf(w, "%x\r\n%s\r\n", n, rest[:n])
				rest = rest[n:]
			}
			io.WriteString(w, "0\r\n\r\n")
			w.Flush()
		}
		problem413(t, rawExchange(t, addr, itemHead("Transfer-Encoding: chunked\r\n"), chunked, 10*time.Second))
	})

	t.Run("chunked under 1 MiB", func(t *testing.T) {
		t.Parallel()
		body := `{"name":"chunked"}`
		x := rawExchange(t, addr, itemHead("Transfer-Encoding: chunked\r\n"), func(c net.Conn) {
			fmt.Fprintf(c, "%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		}, 10*time.Second)
		if x.resp == nil || x.resp.StatusCode != http.StatusCreated {
			t.Fatalf("small chunked body: %+v %s %v", x.resp, x.body, x.err)
		}
	})
}

// isTimeout reports whether err is our own read deadline passing, that is,
// the server neither answered nor hung up.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestServeTimeoutsConfig checks the timeout variables and their defaults.
func TestServeTimeoutsConfig(t *testing.T) {
	t.Parallel()
	cfg := newEnv(func(string) string { return "" }).server()
	if cfg.ReadHeaderTimeout != 5*time.Second || cfg.ReadTimeout != 30*time.Second || cfg.WriteTimeout != 0 || cfg.IdleTimeout != 120*time.Second {
		t.Errorf("defaults: %v %v %v %v", cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout)
	}
	env := map[string]string{"READ_HEADER_TIMEOUT": "1s", "READ_TIMEOUT": "2s", "WRITE_TIMEOUT": "3s", "IDLE_TIMEOUT": "4s"}
	e := newEnv(func(k string) string { return env[k] })
	cfg = e.server()
	if e.err() != nil || cfg.ReadHeaderTimeout != time.Second || cfg.ReadTimeout != 2*time.Second || cfg.WriteTimeout != 3*time.Second || cfg.IdleTimeout != 4*time.Second {
		t.Errorf("from the environment: %v %v %v %v (%v)", cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout, e.err())
	}
	e = newEnv(func(k string) string { return map[string]string{"READ_TIMEOUT": "soon"}[k] })
	e.server()
	if e.err() == nil {
		t.Error("READ_TIMEOUT=soon was accepted")
	}
}
