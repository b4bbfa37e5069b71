package fakerdsdata

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata/types"
)

// A SQL error is DatabaseErrorException with PostgreSQL's error on one
// line: the message, hint, position and SQLSTATE, no detail.
func TestSQLErrorMessages(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE parent (id int PRIMARY KEY)`)
	f.exec(t, `CREATE TABLE child (id int PRIMARY KEY, name text NOT NULL, qty int CONSTRAINT qty_positive CHECK (qty > 0),
		parent int CONSTRAINT child_parent_fk REFERENCES parent, code text CONSTRAINT child_code_key UNIQUE)`)
	f.exec(t, `INSERT INTO parent VALUES (1)`)
	f.exec(t, `INSERT INTO child VALUES (1, 'a', 1, 1, 'x')`)
	for _, c := range []struct{ sql, want string }{
		{`INSERT INTO child VALUES (2, 'b', 1, 1, 'x')`,
			`ERROR: duplicate key value violates unique constraint "child_code_key"; SQLState: 23505`},
		{`INSERT INTO child VALUES (2, NULL, 1, 1, 'y')`,
			`ERROR: null value in column "name" of relation "child" violates not-null constraint; SQLState: 23502`},
		{`INSERT INTO child VALUES (2, 'b', 0, 1, 'y')`,
			`ERROR: new row for relation "child" violates check constraint "qty_positive"; SQLState: 23514`},
		{`INSERT INTO child VALUES (2, 'b', 1, 9, 'y')`,
			`ERROR: insert or update on table "child" violates foreign key constraint "child_parent_fk"; SQLState: 23503`},
		{`DELETE FROM parent`,
			`ERROR: update or delete on table "parent" violates foreign key constraint "child_parent_fk" on table "child"; SQLState: 23503`},
		{`SELECT * FROM nowhere`,
			`ERROR: relation "nowhere" does not exist; Position: 15; SQLState: 42P01`},
		{`SELEKT 1`,
			`ERROR: syntax error at or near "SELEKT"; Position: 1; SQLState: 42601`},
		{`SELECT 1 = 'a'::text`,
			`ERROR: operator does not exist: integer = text; Hint: No operator matches the given name and argument types. You might need to add explicit type casts.; Position: 10; SQLState: 42883`},
	} {
		_, err := f.try(t, c.sql)
		var dbErr *types.DatabaseErrorException
		if !errors.As(err, &dbErr) {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if got := dbErr.ErrorMessage(); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.sql, got, c.want)
		}
	}
}

// One statement a call: PostgreSQL itself refuses several, and the
// endpoint answers as the service does.
func TestMultipleStatementsRefused(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE t (id int)`)
	_, err := f.try(t, `INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)`)
	wantError(t, err, "ValidationException", "Multistatements aren't supported.")
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatalf("a refused call ran %d statements", n)
	}
	f.exec(t, `INSERT INTO t VALUES (1);`) // one statement and its semicolon
}

func TestRequestValidation(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	in := f.input(`SELECT 1`)
	in.Schema = aws.String("public")
	_, err := f.client.ExecuteStatement(t.Context(), in)
	wantError(t, err, "ValidationException", "The schema parameter isn't supported")
	_, err = f.client.BeginTransaction(t.Context(), &rdsdata.BeginTransactionInput{
		ResourceArn: aws.String(f.srv.ClusterARN()), SecretArn: aws.String(ownerSecret), Schema: aws.String("public"),
	})
	wantError(t, err, "ValidationException", "The schema parameter isn't supported")

	_, err = f.try(t, `SELECT '`+strings.Repeat("x", maxSQLLength)+`'`)
	wantError(t, err, "ValidationException", "Member must have length less than or equal to 65536")
}

// The types the service does not return fail the whole call.
func TestUnsupportedResults(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TYPE mood AS ENUM ('happy')`)
	for sql, want := range map[string]string{
		`SELECT interval '1 day'`:      "The result contains the unsupported data type interval.",
		`SELECT 'a'::"char"`:           `The result contains the unsupported data type "CHAR".`,
		`SELECT 'pg_class'::regclass`:  "The result contains the unsupported data type regclass.",
		`SELECT 1::money`:              "The result contains the unsupported data type money.",
		`SELECT ARRAY['happy'::mood]`:  "The result contains the unsupported data type _mood.",
		`SELECT ARRAY[[1, 2], [3, 4]]`: "The result contains a multidimensional array",
		`SELECT pg_sleep(0)`:           "The result contains the unsupported data type void.",
	} {
		_, err := f.try(t, sql)
		var unsupported *types.UnsupportedResultException
		if !errors.As(err, &unsupported) || unsupported.ErrorMessage() != want {
			t.Errorf("%s: %v, want %s", sql, err, want)
		}
	}
	// Infinity fails with a bare InternalFailure.
	_, err := f.try(t, `SELECT 'infinity'::timestamptz`)
	if code, _ := apiCode(t, err); code != "InternalFailure" || httpStatus(err) != 500 {
		t.Fatalf("infinity: %v", err)
	}
}

// Every exception the model has reaches the SDK as its typed error, with
// its status.
func TestExceptionsDecodeAsTheSDKTypes(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	checks := map[string]func(error) bool{
		"AccessDeniedException":           func(e error) bool { var x *types.AccessDeniedException; return errors.As(e, &x) },
		"BadRequestException":             func(e error) bool { var x *types.BadRequestException; return errors.As(e, &x) },
		"DatabaseErrorException":          func(e error) bool { var x *types.DatabaseErrorException; return errors.As(e, &x) },
		"DatabaseNotFoundException":       func(e error) bool { var x *types.DatabaseNotFoundException; return errors.As(e, &x) },
		"DatabaseResumingException":       func(e error) bool { var x *types.DatabaseResumingException; return errors.As(e, &x) },
		"DatabaseUnavailableException":    func(e error) bool { var x *types.DatabaseUnavailableException; return errors.As(e, &x) },
		"ForbiddenException":              func(e error) bool { var x *types.ForbiddenException; return errors.As(e, &x) },
		"HttpEndpointNotEnabledException": func(e error) bool { var x *types.HttpEndpointNotEnabledException; return errors.As(e, &x) },
		"InternalServerErrorException":    func(e error) bool { var x *types.InternalServerErrorException; return errors.As(e, &x) },
		"InvalidResourceStateException":   func(e error) bool { var x *types.InvalidResourceStateException; return errors.As(e, &x) },
		"InvalidSecretException":          func(e error) bool { var x *types.InvalidSecretException; return errors.As(e, &x) },
		"SecretsErrorException":           func(e error) bool { var x *types.SecretsErrorException; return errors.As(e, &x) },
		"ServiceUnavailableError":         func(e error) bool { var x *types.ServiceUnavailableError; return errors.As(e, &x) },
		"StatementTimeoutException":       func(e error) bool { var x *types.StatementTimeoutException; return errors.As(e, &x) },
		"TransactionNotFoundException":    func(e error) bool { var x *types.TransactionNotFoundException; return errors.As(e, &x) },
		"UnsupportedResultException":      func(e error) bool { var x *types.UnsupportedResultException; return errors.As(e, &x) },
	}
	for name, is := range checks {
		f.srv.FailNext(name, "", 1)
		_, err := f.try(t, `SELECT 1`)
		if !is(err) {
			t.Errorf("%s decodes as %T: %v", name, err, err)
			continue
		}
		if status := httpStatus(err); status != exceptions[name] {
			t.Errorf("%s has status %d, want %d", name, status, exceptions[name])
		}
	}
	f.srv.FailNext("NotFoundException", "gone", 1)
	_, err := f.commit(t, "x")
	var notFound *types.NotFoundException
	if !errors.As(err, &notFound) || notFound.ErrorMessage() != "gone" {
		t.Errorf("NotFoundException on commit: %v", err)
	}
	f.exec(t, `SELECT 1`) // the failures are used up
}

// The resuming switch makes every call answer DatabaseResumingException
// until it is switched off or its time is up, and a resume loses the open
// transactions.
func TestResumingSwitch(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE t (id int)`)
	id := f.begin(t)
	f.inTx(t, id, `INSERT INTO t VALUES (1)`)

	f.srv.StartResuming(0)
	f.srv.ResetCalls()
	var resuming *types.DatabaseResumingException
	_, err := f.try(t, `SELECT 1`)
	if !errors.As(err, &resuming) || !strings.Contains(resuming.ErrorMessage(), "is resuming after being auto-paused. Please wait a few seconds and try again.") {
		t.Fatalf("ExecuteStatement while resuming: %v", err)
	}
	if status := httpStatus(err); status != 400 {
		t.Fatalf("DatabaseResumingException has status %d", status)
	}
	_, err = f.client.BeginTransaction(t.Context(), &rdsdata.BeginTransactionInput{
		ResourceArn: aws.String(f.srv.ClusterARN()), SecretArn: aws.String(ownerSecret)})
	if !errors.As(err, &resuming) {
		t.Fatalf("BeginTransaction while resuming: %v", err)
	}
	_, err = f.client.BatchExecuteStatement(t.Context(), &rdsdata.BatchExecuteStatementInput{
		ResourceArn: aws.String(f.srv.ClusterARN()), SecretArn: aws.String(ownerSecret), Sql: aws.String(`SELECT 1`)})
	if !errors.As(err, &resuming) {
		t.Fatalf("BatchExecuteStatement while resuming: %v", err)
	}
	var notFound *types.TransactionNotFoundException
	if _, err := f.commit(t, id); !errors.As(err, &notFound) {
		t.Fatalf("a transaction across a pause: %v", err)
	}
	if got := f.srv.CallCounts(); got[OpExecuteStatement] != 1 || got[OpBeginTransaction] != 1 ||
		got[OpBatchExecuteStatement] != 1 || got[OpCommitTransaction] != 1 {
		t.Fatalf("calls while resuming = %v", got)
	}
	f.srv.StopResuming()
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatal("the paused transaction's row was kept")
	}
	if f.srv.OpenTransactions() != 0 {
		t.Fatal("a transaction survived the pause")
	}

	f.srv.StartResuming(300 * time.Millisecond)
	if !f.srv.Resuming() {
		t.Fatal("not resuming")
	}
	if _, err := f.try(t, `SELECT 1`); !errors.As(err, &resuming) {
		t.Fatalf("while resuming for a while: %v", err)
	}
	time.Sleep(400 * time.Millisecond)
	f.exec(t, `SELECT 1`)
}

func TestCallCounts(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `SELECT 1`)
	f.exec(t, `SELECT 2`)
	id := f.begin(t)
	f.inTx(t, id, `SELECT 1`)
	f.rollback(t, id)
	want := map[string]int{OpExecuteStatement: 3, OpBeginTransaction: 1, OpRollbackTransaction: 1}
	got := f.srv.CallCounts()
	for op, n := range want {
		if got[op] != n || f.srv.Calls(op) != n {
			t.Errorf("%s: %d calls, want %d", op, got[op], n)
		}
	}
	if got[OpCommitTransaction] != 0 || got[OpBatchExecuteStatement] != 0 {
		t.Errorf("calls = %v", got)
	}
	f.srv.ResetCalls()
	if f.srv.Calls(OpExecuteStatement) != 0 {
		t.Fatal("ResetCalls kept a count")
	}
}
