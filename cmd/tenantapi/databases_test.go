package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// countIn runs a count query on the database at conn.
func countIn(t *testing.T, conn, sql string, args ...any) int {
	t.Helper()
	c, err := pgx.Connect(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestDatabasesCLI: databases add, list, drain and remove as a user runs
// them, with a database on a second server; the password of a connection
// string is never printed; tenants go where --database or placement says.
func TestDatabasesCLI(t *testing.T) {
	t.Parallel()
	other := testdb.NewOnSecondServer(t)
	u, _ := url.Parse(other)
	password, _ := u.User.Password()
	env := map[string]string{"DATABASE_URL": testdb.New(t), "TENANT_DELETE_GRACE": "10ms"}
	cliJSON(t, env, "migrate", "--json")

	for _, bad := range [][]string{
		{"databases", "add", "b"},
		{"databases", "add", "b", "--url", other, "--secret-arn", "arn:x"},
		{"databases", "add", "b", "--url", "not a url"},
		{"databases", "list", "extra"},
		{"databases", "frobnicate"},
	} {
		if code, _, _ := cli(t, env, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", bad, code)
		}
	}
	code, out, errs := cli(t, env, "databases", "add", "b", "--url", other)
	if code != 0 || !strings.Contains(out, "added database b") {
		t.Fatalf("add: exit %d: %s %s", code, out, errs)
	}
	if code, _, errs := cli(t, env, "databases", "add", "b2", "--url", other); code != 1 || !strings.Contains(errs, "at that address already") {
		t.Errorf("adding the same database twice: exit %d: %s", code, errs)
	}
	code, out, _ = cli(t, env, "databases", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^b\s+0\s+false\s+postgres://`).MatchString(out) {
		t.Errorf("list:\n%s", out)
	}
	list := cliJSON(t, env, "databases", "list", "--json")
	raw, _ := json.Marshal(list)
	for _, shown := range []string{out, string(raw), errs} {
		if password != "" && strings.Contains(shown, password) {
			t.Errorf("the password is shown: %s", shown)
		}
	}
	if m := cliJSON(t, env, "tenants", "create", "inb", "--database", "b", "--json"); m["database"] != "b" {
		t.Errorf("create --database b: %v", m)
	}
	if countIn(t, other, `SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_inb'`) != 1 {
		t.Error("the tenant's schema is not on b's server")
	}
	if m := cliJSON(t, env, "tenants", "show", "inb", "--json"); m["database"] != "b" {
		t.Errorf("show: %v", m)
	}
	cliJSON(t, env, "databases", "drain", "b", "--json")
	if m := cliJSON(t, env, "tenants", "create", "auto", "--json"); m["database"] != "main" {
		t.Errorf("with b draining, a new tenant went to %v", m["database"])
	}
	if code, _, errs := cli(t, env, "databases", "remove", "b"); code != 1 || !strings.Contains(errs, "1 tenants live in database b") {
		t.Errorf("remove with a tenant there: exit %d: %s", code, errs)
	}
	if code, _, errs := cli(t, env, "tenants", "create", "x", "--database", "nowhere"); code != 1 || !strings.Contains(errs, "no database is named") {
		t.Errorf("create --database nowhere: exit %d: %s", code, errs)
	}
	// Migrate reaches the tenant in b: its migration is recorded there.
	m := cliJSON(t, env, "migrate", "--json")
	if m["complete"] != true {
		t.Errorf("migrate: %v", m)
	}
	if code, _, errs := cli(t, env, "tenants", "delete", "inb", "--yes"); code != 0 {
		t.Fatalf("delete: %s", errs)
	}
	if m := cliJSON(t, env, "databases", "remove", "b", "--json"); m["removed"] != true {
		t.Errorf("remove: %v", m)
	}
	if lst := cliJSON(t, env, "databases", "list", "--json"); len(lst["databases"].([]any)) != 1 {
		t.Errorf("after remove: %v", lst)
	}
}

// TestAdminTenantDatabase: the admin API creates a tenant in the database
// its body names, shows where every tenant lives, and refuses a bad or
// unknown name on /database.
func TestAdminTenantDatabase(t *testing.T) {
	e := setup(t)
	other := testdb.New(t)
	env := map[string]string{"DATABASE_URL": e.url}
	if code, _, errs := cli(t, env, "databases", "add", "b", "--url", other); code != 0 {
		t.Fatal(errs)
	}
	r := e.admin("POST", "/admin/tenants", `{"id":"inb","database":"b"}`)
	expect(t, r, 201, "")
	if r.json(t)["database"] != "b" {
		t.Errorf("created: %s", r.body)
	}
	r = e.admin("GET", "/admin/tenants/inb", "")
	if r.json(t)["database"] != "b" {
		t.Errorf("GET: %s", r.body)
	}
	for _, body := range []string{`{"id":"x","database":"Bad!"}`, `{"id":"x","database":"nowhere"}`, `{"id":"x","database":7}`} {
		r := e.admin("POST", "/admin/tenants", body)
		expect(t, r, 422, "validation-failed")
		if !strings.Contains(string(r.body), `"/database"`) {
			t.Errorf("%s: %s", body, r.body)
		}
	}
	// And it serves there.
	k := e.admin("POST", "/admin/tenants/inb/api-keys", `{}`)
	expect(t, k, 201, "")
	e.mu.Lock()
	e.keyOf["inb"] = k.json(t)["key"].(string)
	e.mu.Unlock()
	expect(t, e.as("inb", "POST", "/items", `{"name":"in b"}`), 201, "")
	if countIn(t, other, `SELECT count(*) FROM tenant_inb.items`) != 1 {
		t.Error("the item is not in b")
	}
}

// twoServers migrates a control database, adds a database on a second
// server as b, serves the API in process, and returns both connection
// strings, the environment and the API's base URL.
func twoServers(t *testing.T) (control, other string, env map[string]string, base string) {
	t.Helper()
	control, other = testdb.New(t), testdb.NewOnSecondServer(t)
	env = map[string]string{"DATABASE_URL": control, "ADMIN_TOKEN": testAdminToken, "PORT": "0", "HOST": "127.0.0.1",
		"CACHE_TTL": "200ms"}
	cliJSON(t, env, "migrate", "--json")
	cliJSON(t, env, "databases", "add", "b", "--url", other, "--json")
	base, _, _ = serveInProcess(t, env)
	return control, other, env, base
}

// TestMoveUnderLoad moves a tenant between two servers with
// `tenants move` while a serving process takes writes and reads for it and
// for tenants in both databases: no read fails, writes get 201 or (held)
// 503 with Retry-After, every acknowledged item is on the target, and
// nothing else is.
func TestMoveUnderLoad(t *testing.T) {
	t.Parallel()
	control, other, env, base := twoServers(t)
	keys := createTenants(t, base, "mover", "stay_main", "stay_b")
	cliJSON(t, env, "tenants", "move", "stay_b", "--to", "b", "--json")
	// Some rows before the move.
	seed := startLoad(base, map[string]string{"mover": keys["mover"]}, 4, 0)
	time.Sleep(time.Second)
	_, seeded := seed.stop()

	l := startLoad(base, keys, 6, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	m := cliJSON(t, env, "tenants", "move", "mover", "--to", "b", "--json")
	time.Sleep(500 * time.Millisecond)
	hits, acked := l.stop()
	t.Logf("move: %v; %d requests, %d writes acknowledged", m, len(hits), len(acked))
	if m["moved"] != true || m["to"] != "b" {
		t.Fatalf("move: %v", m)
	}
	held := 0
	for _, x := range hits {
		switch {
		case x.op == "create" && x.status == 503 && x.retryAfter == "1" && x.tenant == "mover":
			held++
		case x.op == "create" && x.status == 201, x.op == "read" && x.status == 200:
		default:
			t.Errorf("under the move: %v", x)
		}
	}
	t.Logf("%d writes held (503)", held)
	all := append(seeded, acked...)
	checkAcked(t, base, keys, all)
	mover := 0
	for _, a := range all {
		if a.tenant == "mover" {
			mover++
		}
	}
	if n := countIn(t, other, `SELECT count(*) FROM tenant_mover.items`); n != mover {
		t.Errorf("the target holds %d items of mover, %d were acknowledged", n, mover)
	}
	if n := countIn(t, control, `SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_mover'`); n != 0 {
		t.Error("the source schema is still there")
	}
}

// moveSteps are the lines `tenants move` prints as it goes, in order; the
// crash test kills the mover on each.
var moveSteps = []string{"schema made on", "published", "subscribed on", "copied", "writes held", "now lives in", "dropped the source"}

// TestMoveKilledAtEachStep kills -9 a `tenants move` process as it reports
// each step, then runs the move again or aborts it (in turn): the tenant
// serves in between and after, ends in one database with every row, and
// no publication, slot or subscription is left on either server.
func TestMoveKilledAtEachStep(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t, t.TempDir())
	control, other, env, base := twoServers(t)
	for i, step := range moveSteps {
		id := fmt.Sprintf("k%d", i)
		keys := createTenants(t, base, id)
		l := startLoad(base, keys, 1, 20*time.Millisecond)
		time.Sleep(200 * time.Millisecond)
		p := startProcess(t, bin, env, "tenants", "move", id, "--to", "b")
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(p.out.String(), step) && time.Now().Before(deadline) {
			select {
			case <-p.done:
				deadline = time.Time{}
			default:
				time.Sleep(time.Millisecond)
			}
		}
		if !strings.Contains(p.out.String(), step) {
			t.Fatalf("%s: the mover never said %q:\n%s", id, step, p.out.String())
		}
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait(t, 10*time.Second)
		time.Sleep(200 * time.Millisecond)
		abort := i%2 == 1
		var (
			code      int
			out, errs string
		)
		if !abort {
			code, out, errs = cli(t, env, "tenants", "move", id, "--to", "b", "--json")
		} else {
			code, out, errs = cli(t, env, "tenants", "move", id, "--abort")
			if code != 0 && strings.Contains(errs, "flipped already") {
				// Killed after the flip: it can only be finished.
				abort = false
				code, out, errs = cli(t, env, "tenants", "move", id, "--to", "b")
			} else if code != 0 && strings.Contains(errs, "is not being moved") {
				abort = false // killed after the move was done
				code = 0
			}
		}
		if code != 0 {
			t.Fatalf("%s after a kill at %q: exit %d: %s %s", id, step, code, out, errs)
		}
		time.Sleep(300 * time.Millisecond)
		hits, acked := l.stop()
		for _, x := range hits {
			if x.status != 201 && x.status != 200 && !(x.status == 503 && x.op == "create") {
				t.Errorf("%s (killed at %q): %v", id, step, x)
			}
		}
		checkAcked(t, base, keys, acked)
		want := "b"
		if abort {
			want = "main"
		}
		if m := cliJSON(t, env, "tenants", "show", id, "--json"); m["database"] != want {
			t.Errorf("%s (killed at %q): in %v, want %s", id, step, m["database"], want)
		}
		schema := "tenant_" + id
		inMain := countIn(t, control, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema)
		inB := countIn(t, other, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema)
		if (inMain == 1) != (want == "main") || (inB == 1) != (want == "b") {
			t.Errorf("%s (killed at %q): schema in main %d, in b %d; want it in %s alone", id, step, inMain, inB, want)
		}
		for _, left := range []struct{ conn, sql string }{
			{control, `SELECT count(*) FROM pg_publication`},
			{control, `SELECT count(*) FROM pg_replication_slots WHERE database = current_database()`},
			{other, `SELECT count(*) FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`},
			{control, `SELECT count(*) FROM public.tenant_moves`},
		} {
			if n := countIn(t, left.conn, left.sql); n != 0 {
				t.Errorf("%s (killed at %q): %s = %d", id, step, left.sql, n)
			}
		}
	}
}

// TestDatabasesGuide runs the command lines of docs/databases.md's "The
// databases" and "Moving a tenant" in order as a reader would, with the example connection
// string pointing at a real empty database: each exits 0.
func TestDatabasesGuide(t *testing.T) {
	t.Parallel()
	const example = "postgres://owner:secret@10.0.2.15:5432/tenants"
	for _, doc := range []struct{ file, sections string }{
		{"../../docs/databases.md", "## The databases|## Moving a tenant"},
	} {
		raw, err := os.ReadFile(doc.file)
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"DATABASE_URL": testdb.New(t)}
		cliJSON(t, env, "migrate", "--json")
		other := testdb.New(t)
		ran := 0
		for _, heading := range strings.Split(doc.sections, "|") {
			text := section(string(raw), heading)
			if !strings.Contains(text, example) && heading != "## Moving a tenant" {
				t.Errorf("%s %s: the example connection string is not %s", doc.file, heading, example)
			}
			for _, line := range shBlock(t, string(raw), heading) {
				line = strings.TrimSpace(line)
				if !strings.HasPrefix(line, "tenantapi ") {
					continue
				}
				if i := strings.Index(line, " #"); i >= 0 {
					line = strings.TrimSpace(line[:i])
				}
				line = strings.ReplaceAll(line, "'"+example+"'", other)
				args := strings.Fields(line)[1:]
				if code, out, errs := cli(t, env, args...); code != 0 {
					t.Errorf("%s: %s: exit %d: %s %s", doc.file, line, code, out, errs)
				}
				ran++
			}
		}
		if ran < 3 {
			t.Errorf("%s: %d command lines ran", doc.file, ran)
		}
	}
}

// section returns a markdown file's text from heading to the next heading
// (outside code blocks, where # starts a comment).
func section(readme, heading string) string {
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		return ""
	}
	lines := strings.Split(readme[i+len(heading)+2:], "\n")
	fenced := false
	for n, l := range lines {
		switch {
		case strings.HasPrefix(l, "```"):
			fenced = !fenced
		case !fenced && strings.HasPrefix(l, "#"):
			return strings.Join(lines[:n], "\n")
		}
	}
	return strings.Join(lines, "\n")
}

// shBlock returns the lines of the first ```sh block under heading, with
// continued lines (ending in \) joined.
func shBlock(t *testing.T, readme, heading string) []string {
	t.Helper()
	s := section(readme, heading)
	_, after, ok := strings.Cut(s, "```sh\n")
	if !ok {
		t.Fatalf("no sh block under %q", heading)
	}
	body, _, _ := strings.Cut(after, "```")
	var lines []string
	pending := ""
	for _, l := range strings.Split(body, "\n") {
		if strings.HasSuffix(l, `\`) {
			pending += strings.TrimSuffix(l, `\`)
			continue
		}
		lines = append(lines, pending+l)
		pending = ""
	}
	return lines
}
