package main

// Helpers of the reliability tests (issue 6): a PostgreSQL cluster of the
// test's own that can be killed and restarted, the tenantapi binary run as
// a separate process, and a small HTTP load generator that records every
// request and its outcome for the assertions.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/fakesecrets"
	"github.com/tenantapi/tenantapi/internal/pgcluster"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

// killableCluster starts a cluster of the test's own, on a fixed port so
// that it comes back on the same address after Kill and Start. It is
// ephemeral (no fsync), but its tenantapi database commits synchronously:
// an acknowledged write must survive the server being killed, which with
// asynchronous commit it need not. The cluster is stopped and removed when
// the test ends.
func killableCluster(t *testing.T) *pgcluster.Cluster {
	t.Helper()
	// A folder the unprivileged PostgreSQL user can reach when we run as root.
	dir, err := os.MkdirTemp("", "tenantapi-reliability-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c, err := pgcluster.Open(pgcluster.Options{Dir: dir, Port: port, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Error(err)
		}
		c.Remove()
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `ALTER DATABASE tenantapi SET synchronous_commit = on`); err != nil {
		t.Fatal(err)
	}
	return c
}

// buildBinary builds the tenantapi binary into dir, with the flags of the
// Lambda test's build so that both share the build cache.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tenantapi")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is the tenantapi binary running as a separate process.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer // stdout and stderr
	done chan struct{}
	err  error // of Wait, once done is closed
}

// startProcess runs bin with args and exactly the environment env (plus
// PATH and HOME). The process is killed when the test ends, if still alive;
// its output is logged when the test failed.
func startProcess(t *testing.T, bin string, env map[string]string, args ...string) *process {
	t.Helper()
	return startProcessIn(t, "", bin, env, args...)
}

// startProcessIn is startProcess in the working directory dir.
func startProcessIn(t *testing.T, dir, bin string, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			out := p.out.String()
			if len(out) > 8000 {
				out = "…" + out[len(out)-8000:]
			}
			t.Logf("output of %s %v:\n%s", filepath.Base(bin), args, out)
		}
	})
	return p
}

// signal sends sig to the process.
func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits at most d for the process to exit and returns its exit code,
// or fails the test.
func (p *process) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.cmd.Process.Signal(syscall.SIGQUIT) // a stack dump in the output
		time.Sleep(500 * time.Millisecond)
		t.Fatalf("the process did not exit within %v", d)
	}
	return p.cmd.ProcessState.ExitCode()
}

// runBinary runs bin to completion and returns its exit code and output.
func runBinary(t *testing.T, bin string, env map[string]string, args ...string) (int, string) {
	t.Helper()
	p := startProcess(t, bin, env, args...)
	code := p.wait(t, 2*time.Minute)
	return code, p.out.String()
}

// hit is one HTTP request and what came of it.
type hit struct {
	op         string // create, read, list, readyz, …
	tenant     string
	start, end time.Time
	status     int    // 0 when the request failed in transport
	code       string // the problem code of an error response
	retryAfter string
	err        error // transport error
	itemID     string
}

func (x hit) latency() time.Duration { return x.end.Sub(x.start) }

func (x hit) String() string {
	if x.err != nil {
		return fmt.Sprintf("%s %s: %v after %v", x.op, x.tenant, x.err, x.latency().Round(time.Millisecond))
	}
	return fmt.Sprintf("%s %s: %d %s after %v", x.op, x.tenant, x.status, x.code, x.latency().Round(time.Millisecond))
}

// call makes one request and records it. body, when not empty, is sent as
// JSON.
func call(client *http.Client, op, tenant, key, method, url, body string) hit {
	return callTyped(client, op, tenant, key, method, url, body, "application/json")
}

// callTyped is call with a body of the given content type.
func callTyped(client *http.Client, op, tenant, key, method, url, body, contentType string) hit {
	x := hit{op: op, tenant: tenant, start: time.Now()}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		panic(err)
	}
	if tenant != "" {
		r.Header.Set("X-Tenant-ID", tenant)
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		r.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(r)
	if err != nil {
		x.end, x.err = time.Now(), err
		return x
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	x.end = time.Now()
	if err != nil {
		x.err = err
		return x
	}
	x.status = resp.StatusCode
	x.retryAfter = resp.Header.Get("Retry-After")
	var doc struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	json.Unmarshal(b, &doc)
	x.code, x.itemID = doc.Code, doc.ID
	return x
}

// ackedItem is an item whose create was answered 201.
type ackedItem struct{ tenant, id string }

// load is steady traffic from a few workers: each creates an item in one of
// the tenants and reads back the last item it created there, over and over,
// with a short pause. Every hit is recorded.
type load struct {
	base   string
	keys   map[string]string // tenant → API key
	client *http.Client

	mu        sync.Mutex
	exchanges []hit
	acked     []ackedItem

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// maxLoadRequests bounds each worker, whatever the timing.
const maxLoadRequests = 20_000

// startLoad starts workers against base. The HTTP client's own timeout is
// long, so that a request the server lets hang shows as slow, not as a
// client-side error.
func startLoad(base string, keys map[string]string, workers int, pause time.Duration) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{base: base, keys: keys, cancel: cancel,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}}
	tenants := make([]string, 0, len(keys))
	for id := range keys {
		tenants = append(tenants, id)
	}
	slices.Sort(tenants)
	for w := range workers {
		l.wg.Go(func() {
			last := map[string]string{}
			for i := 0; i < maxLoadRequests && ctx.Err() == nil; i++ {
				tenant := tenants[(w+i)%len(tenants)]
				x := call(l.client, "create", tenant, keys[tenant], "POST", base+"/items", fmt.Sprintf(`{"name":"w%d-%d"}`, w, i))
				l.record(x)
				if x.status == 201 {
					last[tenant] = x.itemID
				}
				if id := last[tenant]; id != "" {
					r := call(l.client, "read", tenant, keys[tenant], "GET", base+"/items/"+id, "")
					r.itemID = id
					l.record(r)
				}
				time.Sleep(pause)
			}
		})
	}
	return l
}

func (l *load) record(x hit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.exchanges = append(l.exchanges, x)
	if x.op == "create" && x.status == 201 {
		l.acked = append(l.acked, ackedItem{x.tenant, x.itemID})
	}
}

// stop stops the workers and returns what they recorded.
func (l *load) stop() ([]hit, []ackedItem) {
	l.cancel()
	l.wg.Wait()
	l.client.CloseIdleConnections()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.exchanges), slices.Clone(l.acked)
}

// checkAcked reads back every acknowledged item and fails the test for each
// one that is gone.
func checkAcked(t *testing.T, base string, keys map[string]string, acked []ackedItem) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	missing := 0
	for _, a := range acked {
		x := call(client, "read", a.tenant, keys[a.tenant], "GET", base+"/items/"+a.id, "")
		if x.status != 200 {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged item %s of %s: %v", a.id, a.tenant, x)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged items are missing", missing, len(acked))
	}
}

// createTenants creates tenants through the admin API and returns a key of
// each.
func createTenants(t *testing.T, base string, ids ...string) map[string]string {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	keys := map[string]string{}
	for _, id := range ids {
		admin := func(method, path, body string) []byte {
			r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+testAdminToken)
			r.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 201 {
				t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
			}
			return b
		}
		admin("POST", "/admin/tenants", `{"id":"`+id+`","name":"`+id+`"}`)
		var k struct{ Key string }
		json.Unmarshal(admin("POST", "/admin/tenants/"+id+"/api-keys", `{}`), &k)
		keys[id] = k.Key
	}
	return keys
}

// percentile returns the p-th percentile (0–100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// serveInProcess runs `tenantapi serve` through run() with env (PORT 0)
// and returns its base URL, its standard output and stop (see
// runInProcess).
func serveInProcess(t *testing.T, env map[string]string) (base string, out *syncBuffer, stop func(within time.Duration) error) {
	t.Helper()
	out = &syncBuffer{}
	stop = runInProcess(t, env, out, &syncBuffer{}, "serve")
	return "http://" + waitFor(t, out, listenRE)[1], out, stop
}

// runInProcess runs the program through run() with env and args, and
// returns stop, which ends it as SIGTERM or SIGINT would and returns what
// run returned, or an error if that took longer than within. A run still
// going when the test ends is stopped then, within 60 s, and an error fails
// the test.
func runInProcess(t *testing.T, env map[string]string, stdout, stderr io.Writer, args ...string) (stop func(within time.Duration) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"tenantapi"}, args...), func(k string) string { return env[k] }, nil, stdout, stderr)
	}()
	var (
		once    sync.Once
		stopErr error
	)
	stop = func(within time.Duration) error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(within):
				stopErr = fmt.Errorf("%s did not stop within %v", args[0], within)
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(60 * time.Second); err != nil {
			t.Errorf("%s: %v", args[0], err)
		}
	})
	return stop
}

// lockItems opens two sessions on dbURL: locker, whose open transaction tx
// holds the tenant's items table in ACCESS EXCLUSIVE mode, so that every
// request touching it waits; and watch, to observe them from (pg_stat_activity
// keeps one snapshot per transaction, and the locker's stays open). The
// transaction is rolled back and both sessions closed when the test ends.
func lockItems(t *testing.T, dbURL, tenant string) (locker *pgx.Conn, tx pgx.Tx, watch *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close(ctx) })
	watch, err = pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Close(ctx) })
	tx, err = locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	if _, err := tx.Exec(ctx, `LOCK TABLE `+pgx.Identifier{"tenant_" + tenant, "items"}.Sanitize()+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return locker, tx, watch
}

// rotatableOwner is a fresh database owned by a login role of its own whose
// password a test can rotate, with its credentials in a local Secrets
// Manager endpoint under ownerSecretARN.
type rotatableOwner struct {
	admin                *pgx.Conn // the server's superuser, on the database
	sm                   *fakesecrets.Server
	role, db, host, port string
}

// newRotatableOwner makes the role (LOGIN CREATEROLE, as an RDS-managed
// master user has: provisioning creates a role per tenant) and the
// database, and drops both when the test ends.
func newRotatableOwner(t *testing.T, prefix string) *rotatableOwner {
	t.Helper()
	dbURL := testdb.New(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	u, _ := url.Parse(dbURL)
	o := &rotatableOwner{admin: admin, role: fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()%1_000_000_000), db: strings.TrimPrefix(u.Path, "/")}
	o.host, o.port, _ = net.SplitHostPort(u.Host)
	for _, sql := range []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN CREATEROLE PASSWORD 'first-password'`, o.role),
		fmt.Sprintf(`ALTER DATABASE %s OWNER TO %s`, pgx.Identifier{o.db}.Sanitize(), o.role),
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// The role owns the database: drop both (testdb's own drop then
		// finds nothing to do).
		c, err := pgx.Connect(context.Background(), testdb.ServerURL(t))
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{o.db}.Sanitize()+" WITH (FORCE)")
			c.Exec(context.Background(), "DROP ROLE IF EXISTS "+o.role)
			c.Close(context.Background())
		}
	})
	o.sm = fakesecrets.Start()
	t.Cleanup(o.sm.Close)
	o.sm.Put(ownerSecretARN, `{"username":"`+o.role+`","password":"first-password"}`)
	return o
}

// env is what a process needs to reach the database through the secret.
func (o *rotatableOwner) env() map[string]string {
	return map[string]string{
		"DB_SECRET_ARN": ownerSecretARN, "DB_HOST": o.host, "DB_PORT": o.port, "DB_NAME": o.db, "DB_SSLMODE": "disable",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": o.sm.URL, "AWS_REGION": "eu-west-1",
		"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_EC2_METADATA_DISABLED": "true",
	}
}

// rotate changes the role's password and the secret, as RDS rotation does,
// then terminates the role's sessions so that new ones must authenticate,
// and returns how many it terminated.
func (o *rotatableOwner) rotate(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	if _, err := o.admin.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s PASSWORD 'second-password'`, o.role)); err != nil {
		t.Fatal(err)
	}
	o.sm.Put(ownerSecretARN, `{"username":"`+o.role+`","password":"second-password"}`)
	var terminated int
	if err := o.admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1`, o.role).Scan(&terminated); err != nil {
		t.Fatal(err)
	}
	return terminated
}
