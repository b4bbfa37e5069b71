package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// New creates an empty database for the calling test on the shared server
// and returns its connection string; the database is dropped, sessions and
// all, when the test ends. Safe for parallel tests and for test binaries
// that share a TEST_DATABASE_URL server: names are random.
func New(t testing.TB) string {
	t.Helper()
	return newOn(t, ServerURL(t))
}

// NewOnSecondServer is New on a second server, distinct from New's, for
// tests that need two PostgreSQL servers (a tenant moved between databases
// by logical replication, say). The database is created and dropped as
// New's is. Without TEST_DATABASE_URL the second server is an ephemeral
// cluster that the first call starts (once per test binary) and that Main
// stops and removes when the tests are done; with TEST_DATABASE_URL set,
// the second server is TEST_SECOND_DATABASE_URL's, and the test fails when
// that is not set.
func NewOnSecondServer(t testing.TB) string {
	t.Helper()
	return newOn(t, SecondServerURL(t))
}

// newOn creates a database for the test on the server of server, the
// connection string of its maintenance database; see New.
func newOn(t testing.TB, server string) string {
	t.Helper()
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// template0, because concurrent CREATE DATABASE from template1 fails
	// while anyone is connected to template1; C locale, so results never
	// depend on the server's default collation.
	ident := pgx.Identifier{name}.Sanitize()
	if err := execOn(ctx, server, "CREATE DATABASE "+ident+" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"); err != nil {
		t.Fatalf("testdb: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := execOn(ctx, server, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: dropping database %s: %v", name, err)
		}
	})

	dbURL, err := withDatabase(server, name)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return dbURL
}

// databaseName returns a unique database name that starts with a readable
// part of the test's name, to tell leftovers apart, and fits PostgreSQL's
// 63-byte limit.
func databaseName(testName string) string {
	var readable strings.Builder
	for _, r := range strings.ToLower(testName) {
		if readable.Len() == 24 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			readable.WriteRune(r)
		default:
			readable.WriteByte('_')
		}
	}
	b := make([]byte, 8)
	rand.Read(b)
	return "test_" + readable.String() + "_" + hex.EncodeToString(b)
}

// withDatabase returns connStr (a URL or a keyword/value string, both of
// which TEST_DATABASE_URL may be) pointed at another database.
func withDatabase(connStr, name string) (string, error) {
	if !strings.HasPrefix(connStr, "postgres://") && !strings.HasPrefix(connStr, "postgresql://") {
		// In keyword/value form the last setting of a keyword wins.
		return connStr + " dbname=" + name, nil
	}
	u, err := url.Parse(connStr)
	if err != nil {
		return "", fmt.Errorf("TEST_DATABASE_URL is not a valid URL: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// execOn runs one statement on a connection of its own: CREATE and DROP
// DATABASE cannot run inside a transaction or a pool's shared session state.
func execOn(ctx context.Context, connStr, sql string) error {
	conn, err := pgx.Connect(ctx, connStr)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}
