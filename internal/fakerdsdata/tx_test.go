package fakerdsdata

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata/types"
)

func TestCommitAndRollback(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)

	id := f.begin(t)
	if len(id) == 0 || len(id) > 192 {
		t.Fatalf("transaction id %q", id)
	}
	if _, err := f.inTx(t, id, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatal("an uncommitted row is visible outside its transaction")
	}
	out, err := f.inTx(t, id, `SELECT count(*) FROM t`)
	if err != nil || out.Records[0][0].(*types.FieldMemberLongValue).Value != 1 {
		t.Fatalf("inside the transaction: %v %v", out, err)
	}
	c, err := f.commit(t, id)
	if err != nil || aws.ToString(c.TransactionStatus) != "Transaction Committed" {
		t.Fatalf("commit: %v %v", c, err)
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 1 {
		t.Fatal("a committed row is missing")
	}

	id = f.begin(t)
	f.inTx(t, id, `INSERT INTO t VALUES (2)`)
	r, err := f.rollback(t, id)
	if err != nil || aws.ToString(r.TransactionStatus) != "Rollback Complete" {
		t.Fatalf("rollback: %v %v", r, err)
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 1 {
		t.Fatal("a rolled back row is visible")
	}

	// A finished transaction's id is unknown from then on.
	for _, err := range []error{
		func() error { _, err := f.inTx(t, id, `SELECT 1`); return err }(),
		func() error { _, err := f.commit(t, id); return err }(),
		func() error { _, err := f.rollback(t, id); return err }(),
	} {
		var notFound *types.TransactionNotFoundException
		if !errors.As(err, &notFound) || notFound.ErrorMessage() != "Transaction "+id+" is not found" {
			t.Fatalf("a finished transaction: %v", err)
		}
	}
	if n := f.srv.OpenTransactions(); n != 0 {
		t.Fatalf("%d transactions still open", n)
	}
}

// A transaction belongs to the secret that began it.
func TestTransactionBelongsToItsSecret(t *testing.T) {
	t.Parallel()
	const other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other"
	f := start(t, func(o *Options) { o.Secrets[other] = o.Secrets[ownerSecret] })
	id := f.begin(t)
	in := f.input(`SELECT 1`)
	in.TransactionId = aws.String(id)
	in.SecretArn = aws.String(other)
	_, err := f.client.ExecuteStatement(t.Context(), in)
	var notFound *types.TransactionNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("another secret's call in the transaction: %v", err)
	}
	f.rollback(t, id)
}

// A transaction left idle past the timeout is rolled back and forgotten.
func TestIdleTransactionExpires(t *testing.T) {
	t.Parallel()
	f := start(t, func(o *Options) { o.TransactionTimeout = 300 * time.Millisecond })
	f.exec(t, `CREATE TABLE t (id int)`)
	id := f.begin(t)
	// Calls keep it alive.
	for range 4 {
		time.Sleep(150 * time.Millisecond)
		if _, err := f.inTx(t, id, `INSERT INTO t VALUES (1)`); err != nil {
			t.Fatalf("a transaction in use expired: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.srv.OpenTransactions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle transaction did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err := f.inTx(t, id, `SELECT 1`)
	var notFound *types.TransactionNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("an expired transaction: %v", err)
	}
	if _, err := f.commit(t, id); !errors.As(err, &notFound) {
		t.Fatalf("committing an expired transaction: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 0 {
		t.Fatalf("an expired transaction's rows were kept: %d", n)
	}
}

// A failed statement aborts its transaction, as in PostgreSQL: later
// statements fail until it ends, and committing it fails.
func TestErrorAbortsTransaction(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	f.exec(t, `INSERT INTO t VALUES (1)`)
	id := f.begin(t)
	if _, err := f.inTx(t, id, `INSERT INTO t VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	_, err := f.inTx(t, id, `INSERT INTO t VALUES (1)`)
	wantError(t, err, "DatabaseErrorException", `ERROR: duplicate key value violates unique constraint "t_pkey"; SQLState: 23505`)
	_, err = f.inTx(t, id, `SELECT 1`)
	wantError(t, err, "DatabaseErrorException",
		"ERROR: current transaction is aborted, commands ignored until end of transaction block; SQLState: 25P02")
	_, err = f.commit(t, id)
	var dbErr *types.DatabaseErrorException
	if !errors.As(err, &dbErr) {
		t.Fatalf("committing an aborted transaction: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM t`); n != 1 {
		t.Fatalf("an aborted transaction's row was kept")
	}
	if n := f.srv.OpenTransactions(); n != 0 {
		t.Fatalf("%d transactions still open", n)
	}
}

// A second call in a transaction while one runs is refused at once.
func TestTransactionRunsOneCallAtATime(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	id := f.begin(t)
	var wg sync.WaitGroup
	var slowErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, slowErr = f.inTx(t, id, `SELECT 1 FROM pg_sleep(1)`)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for f.srv.Calls(OpExecuteStatement) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	_, err := f.inTx(t, id, `SELECT 1`)
	wantError(t, err, "DatabaseErrorException", "Transaction is still running a query")
	wg.Wait()
	if slowErr != nil {
		t.Fatal(slowErr)
	}
	if _, err := f.commit(t, id); err != nil {
		t.Fatal(err)
	}
}

// A call past the statement timeout answers StatementTimeoutException; the
// statement is cancelled, or with continueAfterTimeout runs to its end.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	f := start(t, func(o *Options) { o.StatementTimeout = 300 * time.Millisecond })
	f.exec(t, `CREATE TABLE t (id int)`)
	began := time.Now()
	_, err := f.try(t, `INSERT INTO t SELECT 1 FROM pg_sleep(2)`)
	var timeout *types.StatementTimeoutException
	if !errors.As(err, &timeout) || timeout.ErrorMessage() != "Request timed out" || timeout.DbConnectionId == 0 {
		t.Fatalf("a slow statement: %v", err)
	}
	if took := time.Since(began); took > 1500*time.Millisecond {
		t.Fatalf("the cancelled statement took %v", took)
	}

	in := f.input(`INSERT INTO t SELECT 2 FROM pg_sleep(1)`)
	in.ContinueAfterTimeout = true
	if _, err := f.client.ExecuteStatement(t.Context(), in); !errors.As(err, &timeout) {
		t.Fatalf("a slow statement that continues: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := f.try(t, `SELECT count(*) FROM t WHERE id = 2`)
		if err == nil && out.Records[0][0].(*types.FieldMemberLongValue).Value == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the statement that continued after its timeout never finished")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := f.count(t, `SELECT count(*) FROM t WHERE id = 1`); n != 0 {
		t.Fatal("the cancelled statement inserted its row")
	}
}
