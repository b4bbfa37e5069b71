package fakerdsdata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata/types"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

const (
	ownerSecret   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:owner-AbCdEf"
	testKeyID     = "AKIAFAKERDSDATA00001"
	testSecretKey = "fake/secret/key/for/tests"
)

// fixture is an endpoint on a fresh database and an SDK client for it.
type fixture struct {
	srv    *Server
	client *rdsdata.Client
	url    string // the database, as the owner
}

// start starts an endpoint on a fresh database, with the database's own
// user as the owner secret and signatures verified with the test key;
// change adjusts the options first.
func start(t *testing.T, change func(*Options)) *fixture {
	t.Helper()
	dbURL := testdb.New(t)
	opts := Options{
		DatabaseURL: dbURL,
		Secrets:     map[string]Credentials{ownerSecret: ownerOf(t, dbURL)},
		AccessKeys:  map[string]string{testKeyID: testSecretKey},
		Region:      "us-east-1",
	}
	if change != nil {
		change(&opts)
	}
	srv, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, client: newClient(srv.URL, testKeyID, testSecretKey), url: dbURL}
}

// ownerOf is the user and password of a database URL.
func ownerOf(t *testing.T, dbURL string) Credentials {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return Credentials{Username: cfg.User, Password: cfg.Password}
}

// newClient is the real SDK client for an endpoint, without retries so
// that calls can be counted.
func newClient(endpoint, keyID, secret string) *rdsdata.Client {
	cfg := aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, nil
		}),
		BaseEndpoint: aws.String(endpoint),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
	return rdsdata.NewFromConfig(cfg)
}

// exec runs sql as the owner and fails the test on an error.
func (f *fixture) exec(t *testing.T, sql string, params ...types.SqlParameter) *rdsdata.ExecuteStatementOutput {
	t.Helper()
	out, err := f.try(t, sql, params...)
	if err != nil {
		t.Fatalf("ExecuteStatement %q: %v", sql, err)
	}
	return out
}

// try runs sql as the owner.
func (f *fixture) try(t *testing.T, sql string, params ...types.SqlParameter) (*rdsdata.ExecuteStatementOutput, error) {
	t.Helper()
	return f.client.ExecuteStatement(t.Context(), &rdsdata.ExecuteStatementInput{
		ResourceArn: aws.String(f.srv.ClusterARN()),
		SecretArn:   aws.String(ownerSecret),
		Sql:         aws.String(sql),
		Parameters:  params,
	})
}

// input is an ExecuteStatementInput for sql as the owner.
func (f *fixture) input(sql string, params ...types.SqlParameter) *rdsdata.ExecuteStatementInput {
	return &rdsdata.ExecuteStatementInput{
		ResourceArn: aws.String(f.srv.ClusterARN()),
		SecretArn:   aws.String(ownerSecret),
		Sql:         aws.String(sql),
		Parameters:  params,
	}
}

func (f *fixture) begin(t *testing.T) string {
	t.Helper()
	out, err := f.client.BeginTransaction(t.Context(), &rdsdata.BeginTransactionInput{
		ResourceArn: aws.String(f.srv.ClusterARN()),
		SecretArn:   aws.String(ownerSecret),
	})
	if err != nil {
		t.Fatalf("BeginTransaction: %v", err)
	}
	return aws.ToString(out.TransactionId)
}

func (f *fixture) commit(t *testing.T, id string) (*rdsdata.CommitTransactionOutput, error) {
	t.Helper()
	return f.client.CommitTransaction(t.Context(), &rdsdata.CommitTransactionInput{
		ResourceArn:   aws.String(f.srv.ClusterARN()),
		SecretArn:     aws.String(ownerSecret),
		TransactionId: aws.String(id),
	})
}

func (f *fixture) rollback(t *testing.T, id string) (*rdsdata.RollbackTransactionOutput, error) {
	t.Helper()
	return f.client.RollbackTransaction(t.Context(), &rdsdata.RollbackTransactionInput{
		ResourceArn:   aws.String(f.srv.ClusterARN()),
		SecretArn:     aws.String(ownerSecret),
		TransactionId: aws.String(id),
	})
}

// inTx runs sql in a transaction.
func (f *fixture) inTx(t *testing.T, id, sql string) (*rdsdata.ExecuteStatementOutput, error) {
	t.Helper()
	in := f.input(sql)
	in.TransactionId = aws.String(id)
	return f.client.ExecuteStatement(t.Context(), in)
}

// count is the single bigint of a SELECT count(*).
func (f *fixture) count(t *testing.T, sql string) int64 {
	t.Helper()
	out := f.exec(t, sql)
	return out.Records[0][0].(*types.FieldMemberLongValue).Value
}

// apiCode is the error code of an SDK error, failing the test when err is
// not a service error.
func apiCode(t *testing.T, err error) (code, message string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want a service error, got %v", err)
	}
	return apiErr.ErrorCode(), apiErr.ErrorMessage()
}

// httpStatus is the HTTP status of an SDK error.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		return 0
	}
	return re.HTTPStatusCode()
}

// wantError checks that err is the service error code with a message
// containing fragment.
func wantError(t *testing.T, err error, code, fragment string) {
	t.Helper()
	got, msg := apiCode(t, err)
	if got != code || !strings.Contains(msg, fragment) {
		t.Fatalf("error = %s %q, want %s containing %q", got, msg, code, fragment)
	}
}

func str(s string) types.SqlParameter {
	return types.SqlParameter{Name: aws.String("p"), Value: &types.FieldMemberStringValue{Value: s}}
}

func param(name string, v types.Field) types.SqlParameter {
	return types.SqlParameter{Name: aws.String(name), Value: v}
}

func hinted(name, s string, hint types.TypeHint) types.SqlParameter {
	return types.SqlParameter{Name: aws.String(name), Value: &types.FieldMemberStringValue{Value: s}, TypeHint: hint}
}

// databaseName is the database of a URL.
func databaseName(t *testing.T, dbURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// uniqueRole creates a login role with password for the test, dropped when
// it ends.
func uniqueRole(t *testing.T, dbURL, password string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	role := "fakerdsdata_" + hex.EncodeToString(b)
	ident := pgx.Identifier{role}.Sanitize()
	ownerExec(t, dbURL, "CREATE ROLE "+ident+" LOGIN PASSWORD '"+password+"'")
	t.Cleanup(func() {
		ownerExec(t, dbURL, "DROP OWNED BY "+ident)
		ownerExec(t, dbURL, "DROP ROLE "+ident)
	})
	return role
}

// ownerExec runs sql on a connection of its own, outside the endpoint.
func ownerExec(t *testing.T, dbURL, sql string) {
	t.Helper()
	direct(t, dbURL, func(ctx context.Context, conn *pgx.Conn) {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	})
}

// direct runs fn on a connection of its own to dbURL, outside the
// endpoint, with a minute to go.
func direct(t *testing.T, dbURL string, fn func(context.Context, *pgx.Conn)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	fn(ctx, conn)
}
