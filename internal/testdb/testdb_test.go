package testdb_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// TestNew checks that parallel tests get distinct, empty, writable
// databases, and that each is dropped when its test ends.
func TestNew(t *testing.T) {
	const n = 2
	names := make(chan string, n)
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				conn, err := pgx.Connect(ctx, testdb.New(t))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)

				var tables int
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").Scan(&tables); err != nil {
					t.Fatal(err)
				}
				if tables != 0 {
					t.Errorf("new database has %d tables, want 0", tables)
				}
				if _, err := conn.Exec(ctx, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)"); err != nil {
					t.Fatal(err)
				}
				var name string
				if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
					t.Fatal(err)
				}
				names <- name
			})
		}
	})
	close(names)

	seen := map[string]bool{}
	for name := range names {
		if seen[name] {
			t.Errorf("two tests got database %s", name)
		}
		seen[name] = true
	}
	if len(seen) != n {
		t.Fatalf("got %d databases, want %d", len(seen), n)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for name := range seen {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

// TestNewOnSecondServer checks that NewOnSecondServer's databases are on
// one server, another than New's, and dropped when their test ends.
func TestNewOnSecondServer(t *testing.T) {
	first := serverPort(t, testdb.New(t))
	var a, b string
	t.Run("first", func(t *testing.T) {
		a = testdb.NewOnSecondServer(t)
		if port := serverPort(t, a); port == first {
			t.Errorf("NewOnSecondServer's database is on New's server (port %d)", port)
		}
	})
	b = testdb.NewOnSecondServer(t)
	if pa, pb := serverPort(t, testdb.SecondServerURL(t)), serverPort(t, b); pa != pb || pb == first {
		t.Errorf("second server on port %d, NewOnSecondServer's database on %d, New's on %d", pa, pb, first)
	}
	if a == b {
		t.Errorf("NewOnSecondServer gave %s twice", a)
	}
	if conn, err := pgx.Connect(t.Context(), a); err == nil {
		conn.Close(t.Context())
		t.Error("a database of NewOnSecondServer outlived its test")
	}
}

// serverPort returns the port of the server that url reaches.
func serverPort(t *testing.T, url string) (port int) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err == nil {
		defer conn.Close(t.Context())
		err = conn.QueryRow(t.Context(), "SELECT inet_server_port()").Scan(&port)
	}
	if err != nil {
		t.Fatal(err)
	}
	return port
}
