package pgbouncer

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestConfig(t *testing.T) {
	ini := Config(Options{Host: "127.0.0.1", Port: 5433, Settings: map[string]string{"max_client_conn": "7"}}, 6000, "/x/userlist.txt")
	for _, want := range []string{
		"* = host=127.0.0.1 port=5433\n",
		"listen_addr = 127.0.0.1\n",
		"listen_port = 6000\n",
		"pool_mode = transaction\n",
		"default_pool_size = 3\n",
		"max_client_conn = 7\n",
		"auth_file = /x/userlist.txt\n",
		"ignore_startup_parameters = extra_float_digits,search_path\n",
	} {
		if !strings.Contains(ini, want) {
			t.Errorf("config lacks %q:\n%s", want, ini)
		}
	}
	if got, want := authFileContent(map[string]string{"b": `p"w`, "a": "x"}), "\"a\" \"x\"\n\"b\" \"p\"\"w\"\n"; got != want {
		t.Errorf("authFileContent = %q, want %q", got, want)
	}
}

// TestBouncer starts PgBouncer in front of the test server and goes through
// it the way tenantapi's pools do: SCRAM with the server's password, an
// empty search_path and an application_name as start-up parameters.
func TestBouncer(t *testing.T) {
	cc, err := pgx.ParseConfig(testdb.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Version(); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("%s", v)
	}
	b := New(t, Options{Host: cc.Host, Port: int(cc.Port), Users: map[string]string{cc.User: cc.Password}})
	ctx := t.Context()

	u, err := pgx.ParseConfig(b.URL(cc.User, cc.Password, cc.Database))
	if err != nil {
		t.Fatal(err)
	}
	u.RuntimeParams["search_path"] = ""
	u.RuntimeParams["application_name"] = "pgbouncer-test"
	conn, err := pgx.ConnectConfig(ctx, u)
	if err != nil {
		t.Fatalf("connecting through PgBouncer: %v\n%s", err, b.Output())
	}
	var db string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil || db != cc.Database {
		t.Errorf("current_database() = %q, %v; want %q", db, err, cc.Database)
	}
	conn.Close(ctx)

	if c, err := pgx.Connect(ctx, b.URL(cc.User, "wrong"+cc.Password, cc.Database)); err == nil {
		c.Close(ctx)
		t.Error("PgBouncer let a wrong password in")
	}

	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	d := net.Dialer{Timeout: time.Second}
	if c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port()))); err == nil {
		c.Close()
		t.Error("PgBouncer still listens after Stop")
	}
	if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
		t.Errorf("Stop left %s behind (%v)", b.dir, err)
	}
}
