// Package fakerdsdata is a local RDS Data API endpoint for tests, backed by
// a real PostgreSQL. It speaks the service's wire protocol (REST-JSON over
// HTTP POST, SigV4-signed for the service rds-data) so that code under test
// reaches it only through the AWS SDK's own endpoint setting
// (AWS_ENDPOINT_URL_RDS_DATA), as internal/fakesecrets does for Secrets
// Manager. It serves the five operations aws-sdk-go-v2's service/rdsdata
// client sends: POST /Execute (ExecuteStatement), /BatchExecute,
// /BeginTransaction, /CommitTransaction and /RollbackTransaction.
//
//	srv, err := fakerdsdata.Start(fakerdsdata.Options{
//		DatabaseURL: testdb.New(t),
//		Secrets: map[string]fakerdsdata.Credentials{
//			ownerARN:   {Username: "postgres", Password: "…"},
//			runtimeARN: {Username: "tenantapi_runtime", Password: "…"},
//		},
//	})
//	defer srv.Close()
//	// AWS_ENDPOINT_URL_RDS_DATA=srv.URL, DB_CLUSTER_ARN=srv.ClusterARN()
//
// It behaves as the Data API does for Aurora PostgreSQL on Serverless v2
// and provisioned clusters (the kind tenantapi deploys), not as it did on
// Serverless v1, where several answers differed (see the end).
//
// # Calls
//
// resourceArn must be the configured cluster ARN (Options.ClusterARN) or
// one of Options.Clusters, each a PostgreSQL server of its own, so that one
// endpoint serves several clusters as the service serves an account's;
// secretArn must be one of Options.Secrets, and the call logs in to the
// server of its cluster as that secret's user (a pool per cluster, user
// and database), so the owner and the runtime role are themselves.
// database names the database (default: the cluster's URL's). Every
// session runs in UTC and is reset (DISCARD ALL) when a call outside a
// transaction ends, so a SET outside a transaction lasts for that call
// only. Sessions carry application_name ApplicationName.
//
// A statement is one statement: it runs with PostgreSQL's extended
// protocol, which refuses several. Named parameters (:name) are rewritten
// to $n as the service does it: not inside quoted strings, quoted names or
// comments, but inside dollar-quoted strings too. Values are typed as the
// service (JDBC) types them: longValue bigint, doubleValue double
// precision, booleanValue boolean, blobValue bytea, isNull a NULL of no
// type, stringValue character varying unless typeHint says UUID (uuid),
// JSON (json), DECIMAL (numeric), DATE (date, YYYY-MM-DD), TIME (time,
// HH:MM:SS[.FFF]) or TIMESTAMP (timestamp, YYYY-MM-DD HH:MM:SS[.FFF]); the
// three time hints refuse other formats, as Java's valueOf parsers do. So a
// plain string compared with a uuid column fails as it does on the
// service ("operator does not exist: uuid = character varying"). An
// arrayValue parameter is refused ("Array parameters are not supported.").
//
// Results are the Field union: int2, int4, int8 and oid are longValue
// (int8 a string with longReturnType STRING); float4 and float8
// doubleValue; bool booleanValue; numeric stringValue, or with
// decimalReturnType DOUBLE_OR_LONG longValue when it has no fraction and
// doubleValue otherwise; bytea blobValue; NULL isNull; text, varchar,
// char(n), name, uuid, json, jsonb, date, time, timestamp, inet, cidr,
// enums and domains of these stringValue in PostgreSQL's text form
// ("2026-11-26 14:07:25.123456"); timestamptz stringValue in UTC without
// the offset ("2024-01-15 03:34:56"); the documented array types (bool,
// date, numeric, float4/8, int2/4/8, json, text, char(n), varchar, name,
// time, timestamp and uuid) arrayValue. Any other type fails the call with
// UnsupportedResultException, and so does an array of more than one
// dimension; infinity in a date or timestamp fails it with a bare
// InternalFailure (HTTP 500, no message), as on the service.
// includeResultMetadata adds columnMetadata for a statement that returns a
// result set, with the values PgJDBC's ResultSetMetaData gives (type as
// java.sql.Types, typeName "serial" for a serial int4 column, and so on).
// A statement that returns no result set answers numberOfRecordsUpdated
// and an empty generatedFields; one that returns rows, records and
// numberOfRecordsUpdated 0. formatRecordsAs JSON answers formattedRecords
// instead of records and columnMetadata.
//
// BatchExecuteStatement runs the statement once per parameter set, all in
// one transaction when the call names none, and answers one updateResult
// with an empty generatedFields per set.
//
// A transaction from BeginTransaction holds one session until
// CommitTransaction ("Transaction Committed") or RollbackTransaction
// ("Rollback Complete"); statements naming its transactionId run in it
// (they must name the same cluster and secretArn; they run in the
// transaction's database; a call naming another cluster answers
// TransactionNotFoundException, as for an unknown id). A transaction that goes Options.TransactionTimeout (3 minutes)
// without a call is rolled back, and its id then answers
// TransactionNotFoundException. A second call in a transaction while one
// runs is refused at once. A failed statement leaves the transaction
// aborted, as PostgreSQL does: later statements fail with SQLState 25P02
// until the rollback; committing it rolls back and answers
// DatabaseErrorException with that 25P02 message (the service's answer
// here is not documented; an error cannot hide a lost write). A call
// that runs longer than Options.StatementTimeout (45 s) answers
// StatementTimeoutException ("Request timed out", with dbConnectionId);
// the statement is cancelled unless continueAfterTimeout.
//
// # Limits
//
// The service measures a result as PostgreSQL's DataRow messages: each
// row costs 2 bytes, plus 4 bytes a column, plus the bytes of each value
// in text form. This is what public integration tests against the service
// measured: 24,800 rows of one uuid column pass and 25,000 fail; 6,625
// rows of three uuids, a 20- and an 8-character string pass and 6,640
// fail; 522 rows of 1,000 'é' pass and 523 fail. Rows adding up to more
// than 1 MiB (Options.MaxResponseBytes) fail the call; so does one row over
// 64 KiB (Options.MaxRowBytes). Either way the statement has run, as on the
// service (an INSERT ... RETURNING stays inserted). A request body over 4
// MiB is refused.
//
// # Errors
//
// An error is the exception's HTTP status, its name in X-Amzn-ErrorType and
// a JSON body {"message": …} (an empty object for the exceptions the model
// gives no message), which the SDK decodes into the typed exceptions of
// service/rdsdata/types. Statuses are the Smithy model's httpError traits
// (aws-sdk-go-v2 and api-models-aws rds-data models, botocore's
// service-2.json): BadRequestException, DatabaseErrorException,
// DatabaseResumingException, HttpEndpointNotEnabledException,
// InvalidResourceStateException, InvalidSecretException,
// SecretsErrorException, StatementTimeoutException,
// UnsupportedResultException 400; AccessDeniedException,
// ForbiddenException 403; DatabaseNotFoundException, NotFoundException,
// TransactionNotFoundException 404; InternalServerErrorException 500;
// ServiceUnavailableError 503; DatabaseUnavailableException 504. Names the
// model does not have (ValidationException 400, InternalFailure 500, the
// signature errors) reach the SDK as smithy.GenericAPIError with that
// code. The SDK's CommitTransaction and RollbackTransaction do not decode
// DatabaseResumingException: while resuming they answer
// TransactionNotFoundException, since the pause ended the transaction.
//
// The messages, and where each comes from:
//
//   - A SQL error: DatabaseErrorException, PostgreSQL's error on one line,
//     without its Detail:
//     "ERROR: <message>[; Hint: <hint>][; Position: <n>][; Where: <context>]; SQLState: <code>",
//     for example `ERROR: duplicate key value violates unique constraint
//     "items_pkey"; SQLState: 23505` and `ERROR: null value in column
//     "name" of relation "t" violates not-null constraint; SQLState:
//     23502`. The format is that of messages captured from the service in
//     public code and reports ("ERROR: relation \"x\" does not exist;
//     Position: 15; SQLState: 42P01", "...; Hint: No operator matches...;
//     Position: 36; SQLState: 42883"). The service returns no SQLSTATE,
//     constraint or column field: a driver reads the SQLSTATE after
//     "SQLState: " and the constraint's name from the message (it is in the
//     message of every integrity violation; a not-null violation also names
//     the column), and the constraint's columns from the catalog. A login
//     failure is the same with severity FATAL.
//   - Several statements: ValidationException "Multistatements aren't
//     supported." (Aurora User Guide, "Comparing Amazon RDS Data API
//     behaviors for Aurora Serverless v2 and provisioned clusters with
//     Aurora Serverless v1 clusters").
//   - The schema parameter: ValidationException "The schema parameter isn't
//     supported" (same page).
//   - A second call in a busy transaction: DatabaseErrorException
//     "Transaction is still running a query" (same page).
//   - An unsupported type: UnsupportedResultException "The result contains
//     the unsupported data type <type>." (same page; messages captured from
//     the service give `"CHAR"` for "char" and `regclass.`); more than one
//     dimension: "The result contains a multidimensional array" (captured).
//     The supported types are the User Guide's list (Data API operations
//     reference), plus timestamptz, which it says it returns in UTC.
//   - Over 1 MiB: UnsupportedResultException "The result exceeds the size
//     limit 1 MB." (public integration tests against the service, and
//     client libraries that match it).
//   - A row over 64 KiB: UnsupportedResultException "Packet for query is
//     too large". The message is the User Guide's (troubleshooting, "The
//     Data API size limit is 64 KB per row"); which exception carries it on
//     Serverless v2 is not documented, and UnsupportedResultException is the
//     one the model gives for a result "too large".
//   - An unknown or expired transaction id: TransactionNotFoundException
//     "Transaction <id> is not found" (User Guide troubleshooting; reports).
//     So is the id of a transaction begun on another cluster, or with
//     another secret: the service's answer there is not documented, and
//     to the cluster named the id is one it does not know.
//   - Resuming: DatabaseResumingException "The Aurora DB instance
//     db-… is resuming after being auto-paused. Please wait a few seconds
//     and try again." (the model's documentation; messages matched by
//     client code).
//   - A timeout: StatementTimeoutException "Request timed out" with
//     dbConnectionId (reports from the service).
//   - A secretArn not in Options.Secrets: SecretsErrorException "Secrets
//     Manager can't find the specified secret."; a resourceArn that is none
//     of the endpoint's clusters: BadRequestException "Invalid cluster arn: <arn>"; the
//     model's length limits (sql at most 65,536 characters, database 64):
//     ValidationException "1 validation error detected: ...". These follow
//     the usual AWS wording; the service's exact text is not documented.
//   - Signatures: no Authorization header is
//     MissingAuthenticationTokenException "Missing Authentication Token"
//     (403); a credential scoped to another service, InvalidSignatureException
//     "Credential should be scoped to correct service: 'rds-data'. "; a
//     wrong signature, InvalidSignatureException "The request signature we
//     calculated does not match the signature you provided. ..."; an unknown
//     key id, UnrecognizedClientException "The security token included in
//     the request is invalid." (the AWS front end's usual answers).
//
// Serverless v1 answered differently: SQL errors as BadRequestException
// (the model says BadRequestException "only appears in calls from Aurora
// Serverless v1 databases"), at times with "\n  Detail: ..." before the
// SQLState; an oversized result as BadRequestException "Database returned
// more than the allowed response size limit"; several statements ran and
// returned the first result; schema was ignored. A driver that matches
// "SQLState: " and both size messages works with either.
//
// # For tests
//
// StartResuming and StopResuming make every call answer
// DatabaseResumingException for a while; FailNext makes the next calls
// answer any other exception (both for every cluster of the endpoint);
// Calls counts requests per operation (Op
// constants) and Unsigned those without a signature; OpenTransactions
// counts open transactions; PutSecret adds or rotates a secret.
package fakerdsdata
