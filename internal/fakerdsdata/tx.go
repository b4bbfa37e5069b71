package fakerdsdata

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// txn is a transaction begun with BeginTransaction: a connection of its
// own, held until CommitTransaction, RollbackTransaction or expiry.
type txn struct {
	id        string
	cluster   *cluster // the one it was begun on
	secretArn string
	database  string
	conn      *pgxpool.Conn

	// busy is held while a call runs in the transaction; a second call
	// meanwhile is refused, as the service refuses it.
	busy sync.Mutex
	// ended (under busy) is set once the transaction is gone from the
	// handler's table; whoever sets it ends the PostgreSQL transaction.
	ended bool
	timer *time.Timer
}

// newTransactionID is an opaque id like the service's: 184 characters of
// standard base64.
func newTransactionID() string {
	b := make([]byte, 138)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func transactionNotFound(id string) *apiError {
	return newError("TransactionNotFoundException", "Transaction %s is not found", id)
}

// begin starts a transaction for secretArn in database on c.
func (h *Handler) begin(c *cluster, creds Credentials, secretArn, database string) ([]byte, *apiError) {
	conn, err := h.acquire(c, creds, database)
	if err != nil {
		return nil, err
	}
	if _, e := conn.Conn().PgConn().Exec(context.Background(), "BEGIN").ReadAll(); e != nil {
		conn.Release()
		return nil, databaseError(e)
	}
	tx := &txn{id: newTransactionID(), cluster: c, secretArn: secretArn, database: database, conn: conn}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		conn.Release()
		return nil, newError("ServiceUnavailableError", "")
	}
	h.txns[tx.id] = tx
	tx.timer = time.AfterFunc(h.opts.TransactionTimeout, func() { h.expire(tx) })
	h.mu.Unlock()
	return append(appendString([]byte(`{"transactionId":`), tx.id), '}'), nil
}

// claim finds the transaction id for a call on c with secretArn and takes
// it for the call: the caller must release it with h.release. A
// transaction begun on another cluster or with another secret is not
// found, as an unknown id is not.
func (h *Handler) claim(c *cluster, id, secretArn string) (*txn, *apiError) {
	h.mu.Lock()
	tx := h.txns[id]
	h.mu.Unlock()
	if tx == nil || tx.cluster != c || tx.secretArn != secretArn {
		return nil, transactionNotFound(id)
	}
	if !tx.busy.TryLock() {
		return nil, newError("DatabaseErrorException", "Transaction is still running a query")
	}
	if tx.ended {
		tx.busy.Unlock()
		return nil, transactionNotFound(id)
	}
	return tx, nil
}

// release ends a call in tx: its idle clock starts again.
func (h *Handler) release(tx *txn) {
	tx.timer.Reset(h.opts.TransactionTimeout)
	tx.busy.Unlock()
}

// drop takes tx out of the table; the caller holds tx.busy.
func (h *Handler) drop(tx *txn) {
	h.mu.Lock()
	if h.txns[tx.id] == tx {
		delete(h.txns, tx.id)
	}
	h.mu.Unlock()
	tx.ended = true
	tx.timer.Stop()
}

// expire rolls back a transaction left idle for TransactionTimeout. One
// with a call running is left alone: the call restarts its clock.
func (h *Handler) expire(tx *txn) {
	if tx.busy.TryLock() {
		h.end(tx)
	}
}

// end drops tx and rolls it back, unless that is done already; the caller
// holds tx.busy, which end releases.
func (h *Handler) end(tx *txn) {
	if tx.ended {
		tx.busy.Unlock()
		return
	}
	h.drop(tx)
	tx.busy.Unlock()
	h.rollback(tx)
}

// rollback ends tx's PostgreSQL transaction and gives its connection back.
func (h *Handler) rollback(tx *txn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pg := tx.conn.Conn().PgConn()
	if _, err := pg.Exec(ctx, "ROLLBACK").ReadAll(); err != nil {
		pg.Close(ctx)
	}
	tx.conn.Release()
}

// finish commits or rolls back a transaction for CommitTransaction or
// RollbackTransaction.
func (h *Handler) finish(c *cluster, id, secretArn string, commit bool) ([]byte, *apiError) {
	tx, err := h.claim(c, id, secretArn)
	if err != nil {
		return nil, err
	}
	h.drop(tx)
	tx.busy.Unlock()
	defer tx.conn.Release()

	pg := tx.conn.Conn().PgConn()
	ctx := context.Background()
	if !commit {
		if _, e := pg.Exec(ctx, "ROLLBACK").ReadAll(); e != nil {
			return nil, databaseError(e)
		}
		return []byte(`{"transactionStatus":"Rollback Complete"}`), nil
	}
	res, e := pg.Exec(ctx, "COMMIT").ReadAll()
	if e != nil {
		return nil, databaseError(e)
	}
	if len(res) == 1 && res[0].CommandTag.String() == "ROLLBACK" {
		// An earlier statement failed, so PostgreSQL rolled back instead.
		return nil, newError("DatabaseErrorException",
			"ERROR: current transaction is aborted, commands ignored until end of transaction block; SQLState: 25P02")
	}
	return []byte(`{"transactionStatus":"Transaction Committed"}`), nil
}

// dropAll rolls back every transaction, as a cluster that pauses loses
// them. A transaction with a call running is taken out of the table at
// once and rolled back when the call ends.
func (h *Handler) dropAll() {
	h.mu.Lock()
	txns := make([]*txn, 0, len(h.txns))
	for id, tx := range h.txns {
		txns = append(txns, tx)
		delete(h.txns, id)
	}
	h.mu.Unlock()
	for _, tx := range txns {
		h.running.Add(1)
		go func() {
			defer h.running.Done()
			tx.busy.Lock()
			h.end(tx)
		}()
	}
}
