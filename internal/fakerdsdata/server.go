package fakerdsdata

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The operations, as Calls names them.
const (
	OpExecuteStatement      = "ExecuteStatement"
	OpBatchExecuteStatement = "BatchExecuteStatement"
	OpBeginTransaction      = "BeginTransaction"
	OpCommitTransaction     = "CommitTransaction"
	OpRollbackTransaction   = "RollbackTransaction"
	OpExecuteSQL            = "ExecuteSql"
)

// Short names inside the package.
const (
	opExecute  = OpExecuteStatement
	opBatch    = OpBatchExecuteStatement
	opBegin    = OpBeginTransaction
	opCommit   = OpCommitTransaction
	opRollback = OpRollbackTransaction
)

// paths maps each operation's REST path to its name.
var paths = map[string]string{
	"/Execute":             OpExecuteStatement,
	"/BatchExecute":        OpBatchExecuteStatement,
	"/BeginTransaction":    OpBeginTransaction,
	"/CommitTransaction":   OpCommitTransaction,
	"/RollbackTransaction": OpRollbackTransaction,
	"/ExecuteSql":          OpExecuteSQL,
}

// DefaultClusterARN is the cluster ARN when Options.ClusterARN is empty.
const DefaultClusterARN = "arn:aws:rds:us-east-1:123456789012:cluster:tenantapi"

// ApplicationName is the application_name of every PostgreSQL session the
// endpoint opens, so that a test can tell them from sessions of its own
// (pg_stat_activity.application_name).
const ApplicationName = "fakerdsdata"

// The service's limits, the defaults of the Options that change them.
const (
	DefaultTransactionTimeout = 3 * time.Minute
	DefaultStatementTimeout   = 45 * time.Second
	DefaultMaxResponseBytes   = 1 << 20
	DefaultMaxRowBytes        = 64 << 10
	// MaxRequestBytes is the largest request body the service takes.
	MaxRequestBytes = 4 << 20
)

// Credentials are a database user's name and password: what a Secrets
// Manager secret for the Data API holds.
type Credentials struct {
	Username string
	Password string
}

// Options configure a Handler. DatabaseURL and Secrets are required.
type Options struct {
	// DatabaseURL is the PostgreSQL server behind the endpoint, as a
	// postgres:// URL or keyword/value string. Its host, port, TLS
	// settings and database are used (the database is the default of a
	// call without "database"); its user and password are not, for each
	// call logs in as its secret's user.
	DatabaseURL string
	// ClusterARN is the resourceArn of the cluster DatabaseURL stands
	// for. Default DefaultClusterARN.
	ClusterARN string
	// Clusters are more clusters behind the same endpoint: each cluster
	// ARN maps to the PostgreSQL server that stands for that cluster, as
	// DatabaseURL does for ClusterARN. A call uses the server of the
	// cluster its resourceArn names; a resourceArn that is neither
	// ClusterARN nor one of these is refused. Secrets hold for every
	// cluster, as one Secrets Manager serves an account's clusters.
	Clusters map[string]string
	// Secrets maps each secretArn calls may name to the user it logs in
	// as.
	Secrets map[string]Credentials
	// AccessKeys maps AWS access key ids to their secret keys. When it is
	// set, every request's SigV4 signature is recomputed and must match,
	// and other key ids are refused; when it is nil, the signature's form
	// is checked but any key is taken.
	AccessKeys map[string]string
	// Region, when set, is the only region signatures may be scoped to.
	Region string
	// TransactionTimeout is how long a transaction may go without a call
	// before it is rolled back. Default DefaultTransactionTimeout.
	TransactionTimeout time.Duration
	// StatementTimeout is how long a call may run before it answers
	// StatementTimeoutException. Default DefaultStatementTimeout.
	StatementTimeout time.Duration
	// MaxResponseBytes and MaxRowBytes are the result size limits, as the
	// service measures them (see the package documentation). Zero means
	// the default (DefaultMaxResponseBytes, DefaultMaxRowBytes), a
	// negative value no limit.
	MaxResponseBytes int
	MaxRowBytes      int
	// MaxConnsPerUser bounds the PostgreSQL connections of each user and
	// database. Default 10.
	MaxConnsPerUser int32
}

// Handler is the Data API endpoint as an http.Handler. Create it with
// NewHandler; Close it when done.
type Handler struct {
	opts     Options
	clusters map[string]*cluster // by ARN

	mu        sync.Mutex
	txns      map[string]*txn // of every cluster; each knows its own
	calls     map[string]int
	unsigned  int
	resuming  bool
	resumeEnd time.Time // zero: until StopResuming
	faults    []*apiError
	closed    bool

	running sync.WaitGroup // statements and rollbacks still under way
}

type poolKey struct {
	user, password, database string
}

// cluster is one cluster ARN and the PostgreSQL server behind it, with
// that server's pools and the types of its databases. Its maps are under
// the Handler's mu.
type cluster struct {
	arn  string
	base *pgxpool.Config
	db   string // the default database

	pools     map[poolKey]*pgxpool.Pool
	typeCache map[string]map[uint32]*pgType // per database
}

// NewHandler returns a Handler for opts. It opens no connection until a
// call needs one.
func NewHandler(opts Options) (*Handler, error) {
	if opts.DatabaseURL == "" {
		return nil, errors.New("fakerdsdata: Options.DatabaseURL is required")
	}
	if len(opts.Secrets) == 0 {
		return nil, errors.New("fakerdsdata: Options.Secrets is required")
	}
	if opts.ClusterARN == "" {
		opts.ClusterARN = DefaultClusterARN
	}
	urls := map[string]string{opts.ClusterARN: opts.DatabaseURL}
	for arn, dbURL := range opts.Clusters {
		switch {
		case arn == "":
			return nil, errors.New("fakerdsdata: Options.Clusters has an empty cluster ARN")
		case arn == opts.ClusterARN:
			return nil, fmt.Errorf("fakerdsdata: Options.Clusters names %s, which is ClusterARN", arn)
		case dbURL == "":
			return nil, fmt.Errorf("fakerdsdata: Options.Clusters gives cluster %s no database URL", arn)
		}
		urls[arn] = dbURL
	}
	if opts.TransactionTimeout <= 0 {
		opts.TransactionTimeout = DefaultTransactionTimeout
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = DefaultStatementTimeout
	}
	if opts.MaxResponseBytes == 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.MaxRowBytes == 0 {
		opts.MaxRowBytes = DefaultMaxRowBytes
	}
	if opts.MaxConnsPerUser <= 0 {
		opts.MaxConnsPerUser = 10
	}
	opts.Secrets = maps.Clone(opts.Secrets)
	opts.AccessKeys = maps.Clone(opts.AccessKeys)
	opts.Clusters = maps.Clone(opts.Clusters)
	h := &Handler{
		opts:     opts,
		clusters: map[string]*cluster{},
		txns:     map[string]*txn{},
		calls:    map[string]int{},
	}
	for arn, dbURL := range urls {
		base, err := pgxpool.ParseConfig(dbURL)
		if err != nil {
			return nil, fmt.Errorf("fakerdsdata: cluster %s: %w", arn, err)
		}
		base.ConnConfig.RuntimeParams["application_name"] = ApplicationName
		// The Data API's sessions run in UTC: it returns timestamptz in
		// UTC.
		base.ConnConfig.RuntimeParams["timezone"] = "UTC"
		base.MaxConns = opts.MaxConnsPerUser
		base.MinConns = 0
		// What a call sets in its session does not outlive the call, as
		// on the service.
		base.AfterRelease = func(c *pgx.Conn) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.PgConn().Exec(ctx, "DISCARD ALL").ReadAll()
			return err == nil
		}
		h.clusters[arn] = &cluster{
			arn:       arn,
			base:      base,
			db:        base.ConnConfig.Database,
			pools:     map[poolKey]*pgxpool.Pool{},
			typeCache: map[string]map[uint32]*pgType{},
		}
	}
	return h, nil
}

// PutSecret makes secretArn log in as creds from the next call on, as a
// secret created or rotated in Secrets Manager does.
func (h *Handler) PutSecret(secretArn string, creds Credentials) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.opts.Secrets[secretArn] = creds
}

// ClusterARN is the resourceArn of the cluster of Options.DatabaseURL.
func (h *Handler) ClusterARN() string { return h.opts.ClusterARN }

// ClusterARNs are the resourceArns calls may name: ClusterARN, then those
// of Options.Clusters in order.
func (h *Handler) ClusterARNs() []string {
	arns := []string{h.opts.ClusterARN}
	return append(arns, slices.Sorted(maps.Keys(h.opts.Clusters))...)
}

// Close rolls back every open transaction, waits for statements still
// running and closes the PostgreSQL connections.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.dropAll()
	h.running.Wait()
	h.mu.Lock()
	var pools []*pgxpool.Pool
	for _, c := range h.clusters {
		for _, p := range c.pools {
			pools = append(pools, p)
		}
		c.pools = map[poolKey]*pgxpool.Pool{}
	}
	h.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

// Calls returns how many requests reached the operation op (one of the Op
// constants), whatever their outcome.
func (h *Handler) Calls(op string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[op]
}

// CallCounts returns the number of requests per operation.
func (h *Handler) CallCounts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.calls)
}

// ResetCalls sets every operation's count back to zero.
func (h *Handler) ResetCalls() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.calls)
}

// Unsigned returns how many requests carried no SigV4 signature.
func (h *Handler) Unsigned() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unsigned
}

// OpenTransactions returns how many transactions are open.
func (h *Handler) OpenTransactions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.txns)
}

// StartResuming makes the cluster act as one resuming from zero capacity:
// every call answers DatabaseResumingException for d, or until
// StopResuming when d is zero. The cluster was paused, so its open
// transactions are gone.
func (h *Handler) StartResuming(d time.Duration) {
	h.mu.Lock()
	h.resuming = true
	h.resumeEnd = time.Time{}
	if d > 0 {
		h.resumeEnd = time.Now().Add(d)
	}
	h.mu.Unlock()
	h.dropAll()
}

// StopResuming ends StartResuming: the cluster is up.
func (h *Handler) StopResuming() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resuming = false
}

// Resuming reports whether calls answer DatabaseResumingException.
func (h *Handler) Resuming() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.resumingLocked()
}

func (h *Handler) resumingLocked() bool {
	if h.resuming && !h.resumeEnd.IsZero() && !time.Now().Before(h.resumeEnd) {
		h.resuming = false
	}
	return h.resuming
}

// resumingMessage is the service's DatabaseResumingException message.
const resumingMessage = "The Aurora DB instance db-TENANTAPIFAKE0000000000 is resuming after being auto-paused. Please wait a few seconds and try again."

// FailNext makes the next n calls, signed ones of any operation, answer
// the named exception (any name of the model or the others the package
// documents, with its status) and message, or a default message when
// message is empty. It panics on an unknown name.
func (h *Handler) FailNext(exception, message string, n int) {
	if message == "" {
		message = defaultMessages[exception]
	}
	e := newError(exception, "%s", message)
	h.mu.Lock()
	defer h.mu.Unlock()
	for range n {
		h.faults = append(h.faults, e)
	}
}

// defaultMessages are FailNext's messages when none is given.
var defaultMessages = map[string]string{
	"StatementTimeoutException":       "Request timed out",
	"DatabaseResumingException":       resumingMessage,
	"HttpEndpointNotEnabledException": "HttpEndpoint is not enabled for cluster tenantapi. Please refer to https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.html#data-api.troubleshooting",
	"AccessDeniedException":           "User is not authorized to perform: rds-data:ExecuteStatement",
	"ForbiddenException":              "Forbidden",
	"BadRequestException":             "Bad request",
	"DatabaseErrorException":          "ERROR: injected failure; SQLState: XX000",
	"DatabaseNotFoundException":       "The DB cluster doesn't have a DB instance.",
	"InvalidResourceStateException":   "The resource is in an invalid state.",
	"InvalidSecretException":          "The Secrets Manager secret used with the request isn't valid.",
	"SecretsErrorException":           "Secrets Manager can't find the specified secret.",
	"UnsupportedResultException":      "The result exceeds the size limit 1 MB.",
}

// Server is a Handler listening on 127.0.0.1. Create it with Start; Close
// stops it. Its URL is the endpoint for AWS_ENDPOINT_URL_RDS_DATA.
type Server struct {
	*httptest.Server
	*Handler
}

// Start starts a Handler for opts on 127.0.0.1.
func Start(opts Options) (*Server, error) {
	h, err := NewHandler(opts)
	if err != nil {
		return nil, err
	}
	return &Server{Server: httptest.NewServer(h), Handler: h}, nil
}

// Close stops the listener and then the Handler.
func (s *Server) Close() {
	s.Server.Close()
	s.Handler.Close()
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ServeHTTP answers one Data API call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	op := paths[r.URL.Path]
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))

	h.mu.Lock()
	if op != "" {
		h.calls[op]++
	}
	h.mu.Unlock()

	out, apiErr := h.serve(r, op, body, readErr)
	if apiErr != nil {
		writeError(w, requestID, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

func (h *Handler) serve(r *http.Request, op string, body []byte, readErr error) ([]byte, *apiError) {
	if readErr != nil {
		return nil, newError("BadRequestException", "Unable to read the request body: %v", readErr)
	}
	if len(body) > MaxRequestBytes {
		return nil, newError("RequestEntityTooLargeException", "Request size exceeds the limit of %d bytes", MaxRequestBytes)
	}
	signed, sigErr := checkSignature(r, body, h.opts.AccessKeys, h.opts.Region, time.Now())
	if !signed {
		h.mu.Lock()
		h.unsigned++
		h.mu.Unlock()
	}
	if sigErr != nil {
		return nil, sigErr
	}
	if op == "" || r.Method != http.MethodPost {
		return nil, newError("UnknownOperationException", "Unknown operation %s %s", r.Method, r.URL.Path)
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, newError("ServiceUnavailableError", "")
	}
	if len(h.faults) > 0 {
		e := h.faults[0]
		h.faults = h.faults[1:]
		h.mu.Unlock()
		return nil, e
	}
	resuming := h.resumingLocked()
	h.mu.Unlock()

	if op == OpExecuteSQL {
		return nil, newError("BadRequestException", "The ExecuteSql operation isn't supported.")
	}
	req, err := decodeRequest(body)
	if err != nil {
		return nil, err
	}
	if err := req.validate(op); err != nil {
		return nil, err
	}
	c := h.clusters[*req.ResourceArn]
	if c == nil {
		return nil, newError("BadRequestException", "Invalid cluster arn: %s", *req.ResourceArn)
	}
	h.mu.Lock()
	creds, ok := h.opts.Secrets[*req.SecretArn]
	h.mu.Unlock()
	if !ok {
		return nil, newError("SecretsErrorException", "Secrets Manager can't find the specified secret.")
	}
	if resuming {
		if op == opCommit || op == opRollback {
			// The pause took the transaction with it.
			return nil, transactionNotFound(*req.TransactionID)
		}
		return nil, newError("DatabaseResumingException", resumingMessage)
	}

	database := c.db
	if req.Database != nil && *req.Database != "" {
		database = *req.Database
	}
	switch op {
	case opExecute:
		return h.execute(c, req, creds, database)
	case opBatch:
		return h.batchExecute(c, req, creds, database)
	case opBegin:
		return h.begin(c, creds, *req.SecretArn, database)
	case opCommit:
		return h.finish(c, *req.TransactionID, *req.SecretArn, true)
	default:
		return h.finish(c, *req.TransactionID, *req.SecretArn, false)
	}
}

// pool returns the connection pool of creds' user in database on c.
func (h *Handler) pool(c *cluster, creds Credentials, database string) (*pgxpool.Pool, *apiError) {
	key := poolKey{creds.Username, creds.Password, database}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := c.pools[key]; p != nil {
		return p, nil
	}
	cfg := c.base.Copy()
	cfg.ConnConfig.User = creds.Username
	cfg.ConnConfig.Password = creds.Password
	cfg.ConnConfig.Database = database
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, newError("InternalServerErrorException", "")
	}
	c.pools[key] = p
	return p, nil
}

// acquire takes a connection of creds' user in database on c.
func (h *Handler) acquire(c *cluster, creds Credentials, database string) (*pgxpool.Conn, *apiError) {
	p, apiErr := h.pool(c, creds, database)
	if apiErr != nil {
		return nil, apiErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.StatementTimeout)
	defer cancel()
	conn, err := p.Acquire(ctx)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return nil, databaseError(pgErr)
		}
		return nil, newError("DatabaseUnavailableException", "")
	}
	return conn, nil
}

// execute answers ExecuteStatement.
func (h *Handler) execute(c *cluster, req *request, creds Credentials, database string) ([]byte, *apiError) {
	sql, names := rewriteNamed(*req.SQL)
	args, apiErr := bindAll(names, req.Parameters)
	if apiErr != nil {
		return nil, apiErr
	}
	if req.TransactionID != nil {
		tx, apiErr := h.claim(c, *req.TransactionID, *req.SecretArn)
		if apiErr != nil {
			return nil, apiErr
		}
		pg := tx.conn.Conn().PgConn()
		return h.timed(pg, req.ContinueAfterTimeout, func() ([]byte, *apiError) {
			return h.statement(pg, c, tx.database, sql, args, req)
		}, func() { h.release(tx) })
	}
	conn, apiErr := h.acquire(c, creds, database)
	if apiErr != nil {
		return nil, apiErr
	}
	pg := conn.Conn().PgConn()
	return h.timed(pg, req.ContinueAfterTimeout, func() ([]byte, *apiError) {
		return h.statement(pg, c, database, sql, args, req)
	}, conn.Release)
}

// batchExecute answers BatchExecuteStatement: the statement once per
// parameter set, all in one transaction (the call's own when it names
// none), so that a failing set undoes the others.
func (h *Handler) batchExecute(c *cluster, req *request, creds Credentials, database string) ([]byte, *apiError) {
	sql, names := rewriteNamed(*req.SQL)
	sets := make([][]bindValue, len(req.ParameterSets))
	for i, params := range req.ParameterSets {
		args, apiErr := bindAll(names, params)
		if apiErr != nil {
			return nil, apiErr
		}
		sets[i] = args
	}
	if req.TransactionID != nil {
		tx, apiErr := h.claim(c, *req.TransactionID, *req.SecretArn)
		if apiErr != nil {
			return nil, apiErr
		}
		pg := tx.conn.Conn().PgConn()
		return h.timed(pg, false, func() ([]byte, *apiError) {
			return h.batch(pg, sql, sets)
		}, func() { h.release(tx) })
	}
	conn, apiErr := h.acquire(c, creds, database)
	if apiErr != nil {
		return nil, apiErr
	}
	pg := conn.Conn().PgConn()
	return h.timed(pg, false, func() ([]byte, *apiError) {
		ctx := context.Background()
		if _, err := pg.Exec(ctx, "BEGIN").ReadAll(); err != nil {
			return nil, databaseError(err)
		}
		out, apiErr := h.batch(pg, sql, sets)
		if apiErr != nil {
			pg.Exec(ctx, "ROLLBACK").ReadAll()
			return nil, apiErr
		}
		if _, err := pg.Exec(ctx, "COMMIT").ReadAll(); err != nil {
			return nil, databaseError(err)
		}
		return out, nil
	}, conn.Release)
}

// timed runs work on pg in the background, then done. Past
// StatementTimeout the call answers StatementTimeoutException; the
// statement is cancelled, unless keepRunning (continueAfterTimeout) lets
// it run on to its end.
func (h *Handler) timed(pg *pgconn.PgConn, keepRunning bool, work func() ([]byte, *apiError), done func()) ([]byte, *apiError) {
	type outcome struct {
		out []byte
		err *apiError
	}
	ch := make(chan outcome, 1)
	var mu sync.Mutex // orders the end of work against a cancel
	finished := false
	h.running.Add(1)
	go func() {
		defer h.running.Done()
		out, err := work()
		mu.Lock()
		finished = true
		mu.Unlock()
		done()
		ch <- outcome{out, err}
	}()
	timer := time.NewTimer(h.opts.StatementTimeout)
	defer timer.Stop()
	select {
	case o := <-ch:
		return o.out, o.err
	case <-timer.C:
	}
	timeout := &apiError{name: "StatementTimeoutException", message: "Request timed out", dbConnection: int64(pg.PID())}
	if keepRunning {
		return nil, timeout
	}
	mu.Lock()
	if !finished {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pg.CancelRequest(ctx)
		cancel()
	}
	mu.Unlock()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
	}
	return nil, timeout
}
