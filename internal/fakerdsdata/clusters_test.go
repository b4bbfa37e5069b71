package fakerdsdata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata/types"
	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

const (
	secondARN    = "arn:aws:rds:us-east-1:123456789012:cluster:second"
	secondSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:second-owner-GhIjKl"
	sharedSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shared-MnOpQr"
)

// clusters is an endpoint serving two clusters, each a server of its own:
// the fixture's on the first server and secondARN on the second, the
// second's database of the same name as the first's (as every cluster of
// a deployment has DB_NAME), its superuser as secondSecret.
type clusters struct {
	*fixture
	second string // the second cluster's database URL, as its superuser
}

func startClusters(t *testing.T, change func(*Options)) *clusters {
	t.Helper()
	var second string
	f := start(t, func(o *Options) {
		second = sameNameOnSecond(t, o.DatabaseURL)
		o.Clusters = map[string]string{secondARN: second}
		o.Secrets[secondSecret] = ownerOf(t, second)
		if change != nil {
			change(o)
		}
	})
	return &clusters{fixture: f, second: second}
}

// sameNameOnSecond creates a database named as dbURL's on the second
// server, dropped when the test ends, and returns its URL.
func sameNameOnSecond(t *testing.T, dbURL string) string {
	t.Helper()
	name := databaseName(t, dbURL)
	server := testdb.SecondServerURL(t)
	ident := pgx.Identifier{name}.Sanitize()
	ownerExec(t, server, "CREATE DATABASE "+ident+" TEMPLATE template0")
	t.Cleanup(func() { ownerExec(t, server, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)") })
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// on runs sql on the cluster arn as secret.
func (c *clusters) on(t *testing.T, arn, secret, sql string) (*rdsdata.ExecuteStatementOutput, error) {
	t.Helper()
	return c.client.ExecuteStatement(t.Context(), &rdsdata.ExecuteStatementInput{
		ResourceArn: aws.String(arn), SecretArn: aws.String(secret), Sql: aws.String(sql)})
}

func (c *clusters) mustOn(t *testing.T, arn, secret, sql string) *rdsdata.ExecuteStatementOutput {
	t.Helper()
	out, err := c.on(t, arn, secret, sql)
	if err != nil {
		t.Fatalf("%s on %s: %v", sql, arn, err)
	}
	return out
}

// port is the port of the server a call to arn as secret runs on.
func (c *clusters) port(t *testing.T, arn, secret string) string {
	t.Helper()
	return c.mustOn(t, arn, secret, `SELECT current_setting('port')`).Records[0][0].(*types.FieldMemberStringValue).Value
}

func serverPort(t *testing.T, dbURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Host + ":" + strconv.Itoa(int(cfg.Port))
}

// directCount counts a table's rows on a connection of its own.
func directCount(t *testing.T, dbURL, table string) (n int) {
	t.Helper()
	direct(t, dbURL, func(ctx context.Context, conn *pgx.Conn) {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
	})
	return n
}

// Each cluster's calls run on its own server, in a database of the same
// name there.
func TestClustersEachTheirServer(t *testing.T) {
	t.Parallel()
	c := startClusters(t, nil)
	if got := c.srv.ClusterARNs(); len(got) != 2 || got[0] != DefaultClusterARN || got[1] != secondARN {
		t.Fatalf("ClusterARNs = %v", got)
	}
	first, second := serverPort(t, c.url), serverPort(t, c.second)
	if first == second {
		t.Fatalf("both databases are on %s", first)
	}
	if got := c.port(t, DefaultClusterARN, ownerSecret); !strings.HasSuffix(first, ":"+got) {
		t.Errorf("the first cluster runs on port %s, want %s", got, first)
	}
	if got := c.port(t, secondARN, secondSecret); !strings.HasSuffix(second, ":"+got) {
		t.Errorf("the second cluster runs on port %s, want %s", got, second)
	}

	c.mustOn(t, DefaultClusterARN, ownerSecret, `CREATE TABLE t (id int)`)
	c.mustOn(t, secondARN, secondSecret, `CREATE TABLE t (id int)`)
	c.mustOn(t, secondARN, secondSecret, `INSERT INTO t VALUES (1), (2)`)
	if n := directCount(t, c.second, "t"); n != 2 {
		t.Errorf("the second server has %d rows, want 2", n)
	}
	if n := directCount(t, c.url, "t"); n != 0 {
		t.Errorf("the first server has %d rows, want 0", n)
	}

	// The first cluster's superuser is not the second's: its secret logs
	// in to the second server with the wrong password.
	if ownerOf(t, c.url) != ownerOf(t, c.second) {
		_, err := c.on(t, secondARN, ownerSecret, `SELECT 1`)
		wantError(t, err, "DatabaseErrorException", "SQLState: 28P01")
	}
}

// A user of the same name and password in both clusters (a runtime role,
// made alike everywhere) has a pool per cluster: each call reaches the
// server of the cluster it names.
func TestClustersSameUserPoolsApart(t *testing.T) {
	t.Parallel()
	c := startClusters(t, nil)
	b := make([]byte, 6)
	rand.Read(b)
	role := "fakerdsdata_" + hex.EncodeToString(b)
	const password = "same-password-in-both"
	for _, dbURL := range []string{c.url, c.second} {
		ident := pgx.Identifier{role}.Sanitize()
		ownerExec(t, dbURL, "CREATE ROLE "+ident+" LOGIN PASSWORD '"+password+"'")
		t.Cleanup(func() { ownerExec(t, dbURL, "DROP ROLE "+ident) })
	}
	c.srv.PutSecret(sharedSecret, Credentials{Username: role, Password: password})
	first, second := serverPort(t, c.url), serverPort(t, c.second)
	for range 3 {
		if got := c.port(t, DefaultClusterARN, sharedSecret); !strings.HasSuffix(first, ":"+got) {
			t.Fatalf("the first cluster's call ran on port %s, want %s", got, first)
		}
		if got := c.port(t, secondARN, sharedSecret); !strings.HasSuffix(second, ":"+got) {
			t.Fatalf("the second cluster's call ran on port %s, want %s", got, second)
		}
	}
}

// A transaction belongs to the cluster it was begun on: another cluster
// does not know its id, and the transaction carries on where it is.
func TestClustersTransactionBelongsToItsCluster(t *testing.T) {
	t.Parallel()
	c := startClusters(t, func(o *Options) { o.Secrets[sharedSecret] = o.Secrets[secondSecret] })
	c.mustOn(t, secondARN, secondSecret, `CREATE TABLE t (id int)`)
	out, err := c.client.BeginTransaction(t.Context(), &rdsdata.BeginTransactionInput{
		ResourceArn: aws.String(secondARN), SecretArn: aws.String(secondSecret)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.TransactionId)
	in := func(arn, sql string) error {
		_, err := c.client.ExecuteStatement(t.Context(), &rdsdata.ExecuteStatementInput{
			ResourceArn: aws.String(arn), SecretArn: aws.String(secondSecret), Sql: aws.String(sql), TransactionId: aws.String(id)})
		return err
	}
	if err := in(secondARN, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	notFound := func(what string, err error) {
		t.Helper()
		var nf *types.TransactionNotFoundException
		if !errors.As(err, &nf) || nf.ErrorMessage() != "Transaction "+id+" is not found" {
			t.Errorf("%s on the other cluster: %v", what, err)
		}
	}
	// The first cluster's owner secret, and the second's: neither reaches
	// the transaction through the first cluster.
	notFound("ExecuteStatement", in(DefaultClusterARN, `INSERT INTO t VALUES (2)`))
	_, err = c.client.BatchExecuteStatement(t.Context(), &rdsdata.BatchExecuteStatementInput{
		ResourceArn: aws.String(DefaultClusterARN), SecretArn: aws.String(secondSecret), Sql: aws.String(`SELECT 1`),
		TransactionId: aws.String(id)})
	notFound("BatchExecuteStatement", err)
	_, err = c.client.CommitTransaction(t.Context(), &rdsdata.CommitTransactionInput{
		ResourceArn: aws.String(DefaultClusterARN), SecretArn: aws.String(secondSecret), TransactionId: aws.String(id)})
	notFound("CommitTransaction", err)
	_, err = c.client.RollbackTransaction(t.Context(), &rdsdata.RollbackTransactionInput{
		ResourceArn: aws.String(DefaultClusterARN), SecretArn: aws.String(ownerSecret), TransactionId: aws.String(id)})
	notFound("RollbackTransaction", err)

	if n := c.srv.OpenTransactions(); n != 1 {
		t.Fatalf("%d transactions open, want the second cluster's", n)
	}
	if err := in(secondARN, `INSERT INTO t VALUES (3)`); err != nil {
		t.Fatalf("the transaction on its own cluster after the refusals: %v", err)
	}
	if _, err := c.client.CommitTransaction(t.Context(), &rdsdata.CommitTransactionInput{
		ResourceArn: aws.String(secondARN), SecretArn: aws.String(secondSecret), TransactionId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if n := directCount(t, c.second, "t"); n != 2 {
		t.Errorf("the second server has %d rows, want 2 (1 and 3)", n)
	}
}

// Types other than the built-in ones are looked up and cached per cluster:
// the same database name on two servers has two catalogs.
func TestClustersTypesPerCluster(t *testing.T) {
	t.Parallel()
	c := startClusters(t, nil)
	c.mustOn(t, DefaultClusterARN, ownerSecret, `CREATE TYPE mood AS ENUM ('happy')`)
	c.mustOn(t, secondARN, secondSecret, `CREATE DOMAIN mood AS text`)
	c.mustOn(t, secondARN, secondSecret, `CREATE TYPE other AS (x int)`)
	for _, tc := range []struct{ arn, secret string }{{DefaultClusterARN, ownerSecret}, {secondARN, secondSecret}} {
		out := c.mustOn(t, tc.arn, tc.secret, `SELECT 'happy'::mood`)
		if v, ok := out.Records[0][0].(*types.FieldMemberStringValue); !ok || v.Value != "happy" {
			t.Errorf("a mood on %s: %#v", tc.arn, out.Records[0][0])
		}
	}
	_, err := c.on(t, secondARN, secondSecret, `SELECT ROW(1)::other`)
	wantError(t, err, "UnsupportedResultException", "unsupported data type other")

	db := databaseName(t, c.url)
	oids := func(arn string) map[uint32]string {
		c.srv.mu.Lock()
		defer c.srv.mu.Unlock()
		out := map[uint32]string{}
		for oid, t := range c.srv.clusters[arn].typeCache[db] {
			out[oid] = t.name
		}
		return out
	}
	// A domain's column comes as its base type: only the enum and the
	// composite are looked up, each in its own cluster's cache.
	first, second := oids(DefaultClusterARN), oids(secondARN)
	if len(first) != 1 || len(second) != 1 || !slices.Contains(slices.Collect(maps.Values(first)), "mood") ||
		!slices.Contains(slices.Collect(maps.Values(second)), "other") {
		t.Errorf("cached types: first cluster %v, second %v", first, second)
	}
}

// Only the configured clusters may be named; Clusters must not repeat
// ClusterARN or leave a URL out.
func TestClustersUnknownARN(t *testing.T) {
	t.Parallel()
	c := startClusters(t, nil)
	const other = "arn:aws:rds:us-east-1:123456789012:cluster:third"
	_, err := c.on(t, other, ownerSecret, `SELECT 1`)
	wantError(t, err, "BadRequestException", "Invalid cluster arn: "+other)
	_, err = c.client.BeginTransaction(t.Context(), &rdsdata.BeginTransactionInput{
		ResourceArn: aws.String(other), SecretArn: aws.String(secondSecret)})
	wantError(t, err, "BadRequestException", "Invalid cluster arn: "+other)

	for _, bad := range []map[string]string{
		{DefaultClusterARN: c.second},
		{secondARN: ""},
		{"": c.second},
		{secondARN: "postgres://[::1"},
	} {
		_, err := NewHandler(Options{DatabaseURL: c.url, Clusters: bad, Secrets: map[string]Credentials{ownerSecret: {}}})
		if err == nil {
			t.Errorf("NewHandler with Clusters %v: no error", bad)
		}
	}
}
