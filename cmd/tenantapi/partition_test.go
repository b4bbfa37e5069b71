package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

// partitionProxy is a TCP proxy in front of PostgreSQL that can cut the
// network the way a failed host or a partition does: nothing is refused or
// reset, packets just stop. While partitioned, every connection, old or
// new, is a black hole. When it heals, new connections reach the database
// again (as after a failover to a new writer) but those from before stay
// black holes for good, as connections to a host that died do.
type partitionProxy struct {
	ln       net.Listener
	upstream string

	partitioned atomic.Bool
	gen         atomic.Int64 // of the next connection
	aliveFrom   atomic.Int64 // connections of older generations are dead

	mu    sync.Mutex
	conns []net.Conn
}

func startPartitionProxy(t *testing.T, upstream string) *partitionProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partitionProxy{ln: ln, upstream: upstream}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *partitionProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

// partition cuts every connection there is and every one to come.
func (p *partitionProxy) partition() {
	p.aliveFrom.Store(p.gen.Load() + 1_000_000)
	p.partitioned.Store(true)
}

// heal lets new connections through again.
func (p *partitionProxy) heal() {
	p.aliveFrom.Store(p.gen.Load())
	p.partitioned.Store(false)
}

func (p *partitionProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		go p.handle(c)
	}
}

func (p *partitionProxy) handle(c net.Conn) {
	gen := p.gen.Add(1) - 1
	if p.partitioned.Load() {
		io.Copy(io.Discard, c) // a black hole, until the client gives up
		return
	}
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	p.track(u)
	pump := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if gen < p.aliveFrom.Load() {
				// Dead: swallow everything, answer nothing.
				if err != nil {
					return
				}
				continue
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				dst.Close()
				return
			}
		}
	}
	go pump(u, c)
	pump(c, u)
}

// TestDatabasePartition cuts the network to PostgreSQL without a refusal
// or a reset, as a failed host or a partition does; then the database is
// reachable again for new connections while the old ones stay dead, as
// after a failover. During a cut every request ends at the request
// deadline with 503 unavailable, and afterwards the service recovers on its
// own and every acknowledged write is there. Twice:
//
//   - cut before the pool has any connection: new connections hang, and the
//     pool finishes them in the background after the request gives up. The
//     service must answer normally within 5 s of the network's return, so
//     connection attempts need a bound of their own (without one they wait
//     for as long as TCP does and the pool stays stuck);
//   - cut under load, with connections open: pgx spends up to 15 s closing
//     each dead connection (a cancel request and a goodbye that get no
//     answer), and the pool counts it meanwhile, so recovery may take that
//     long; it must still come without a restart.
func TestDatabasePartition(t *testing.T) {
	t.Parallel()
	const (
		requestTimeout = 2 * time.Second
		cut            = 3 * time.Second
		slowest        = requestTimeout + 1500*time.Millisecond
	)
	dbURL := testdb.New(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startPartitionProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	env := map[string]string{"DATABASE_URL": dbURL, "PORT": "0", "HOST": "127.0.0.1", "ADMIN_TOKEN": testAdminToken,
		"REQUEST_TIMEOUT": requestTimeout.String(), "DB_MAX_CONNS": "4"}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	keys := map[string]string{}
	for _, id := range []string{"north", "south"} {
		if code, _, errs := cli(t, env, "tenants", "create", id); code != 0 {
			t.Fatalf("tenants create: %s", errs)
		}
		code, out, errs := cli(t, env, "keys", "create", id, "--json")
		var k struct{ Key string }
		if json.Unmarshal([]byte(out), &k); code != 0 || k.Key == "" {
			t.Fatalf("keys create: %s", errs)
		}
		keys[id] = k.Key
	}
	// The service reaches PostgreSQL through the proxy only.
	env["DATABASE_URL"] = u.String()
	base, _, _ := serveInProcess(t, env)
	probe := &http.Client{Timeout: 30 * time.Second}

	// partitionOnce cuts the network for the cut, with load running, and
	// returns how long after its return the service answered normally.
	partitionOnce := func(phase string, recoverWithin time.Duration) {
		t.Helper()
		l := startLoad(base, keys, 4, 20*time.Millisecond)
		if phase == "under load" {
			time.Sleep(1500 * time.Millisecond)
		}
		proxy.partition()
		cutAt := time.Now()
		var readyDuring []hit
		for time.Since(cutAt) < cut {
			readyDuring = append(readyDuring, call(probe, "readyz", "", "", "GET", base+"/readyz", ""))
		}
		proxy.heal()
		healed := time.Now()
		var recovered time.Time
		for time.Since(healed) < recoverWithin+10*time.Second {
			ok := call(probe, "readyz", "", "", "GET", base+"/readyz", "").status == 200
			for id, key := range keys {
				ok = ok && call(probe, "list", id, key, "GET", base+"/items?limit=1", "").status == 200
			}
			if ok {
				recovered = time.Now()
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if recovered.IsZero() {
			l.stop()
			t.Fatalf("%s: the service did not recover within %v of the network's return", phase, recoverWithin+10*time.Second)
		}
		time.Sleep(time.Second)
		xs, acked := l.stop()

		var during, after int
		var latDuring []time.Duration
		for _, x := range xs {
			switch {
			case x.err != nil:
				t.Errorf("%s: transport error: %v", phase, x)
			case x.status/100 != 2 && (x.status != 503 || x.code != "unavailable" || x.retryAfter == ""):
				t.Errorf("%s: want 2xx, or 503 unavailable with Retry-After: %v", phase, x)
			}
			if x.latency() > slowest {
				t.Errorf("%s: answered after %v (request deadline %v): %v", phase, x.latency(), requestTimeout, x)
			}
			if x.start.After(cutAt) && x.end.Before(healed) {
				during++
				latDuring = append(latDuring, x.latency())
				if x.status != 503 {
					t.Errorf("%s: during the partition: %v", phase, x)
				}
			}
			if x.start.After(recovered) {
				after++
				if x.status/100 != 2 {
					t.Errorf("%s: after the recovery: %v", phase, x)
				}
			}
		}
		for _, x := range readyDuring {
			if x.status != 503 || x.latency() > slowest {
				t.Errorf("%s: /readyz during the partition: %v", phase, x)
			}
		}
		if during == 0 || after == 0 {
			t.Errorf("%s: %d requests during the partition, %d after the recovery", phase, during, after)
		}
		if d := recovered.Sub(healed); d > recoverWithin {
			t.Errorf("%s: the service answered normally %v after the network returned; want within %v", phase, d, recoverWithin)
		}
		checkAcked(t, base, keys, acked)
		t.Logf("%s: partition of %v: %d requests entirely inside it, all 503 unavailable, p50 %v, max %v; %d /readyz probes, all 503; service normal %v after the network returned; %d requests after, all 2xx; %d acknowledged writes, all read back",
			phase, healed.Sub(cutAt).Round(time.Millisecond), during, percentile(latDuring, 50).Round(time.Millisecond), percentile(latDuring, 100).Round(time.Millisecond),
			len(readyDuring), recovered.Sub(healed).Round(time.Millisecond), after, len(acked))
	}
	partitionOnce("before any connection", 5*time.Second)
	// pgx's 15 s to close a dead connection, the connect timeout, and room.
	partitionOnce("under load", 15*time.Second+postgres.DefaultConnectTimeout+2*time.Second)
}
