package fakerdsdata

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// exceptions maps every error name the endpoint can answer to its HTTP
// status. The model's exceptions carry the status of their Smithy
// smithy.api#httpError trait; the others are the ones the service (or the
// AWS front end before it) answers although the model does not list them.
var exceptions = map[string]int{
	// The service model (aws-sdk-go-v2 service/rdsdata, api-models-aws).
	"AccessDeniedException":           http.StatusForbidden,
	"BadRequestException":             http.StatusBadRequest,
	"DatabaseErrorException":          http.StatusBadRequest,
	"DatabaseNotFoundException":       http.StatusNotFound,
	"DatabaseResumingException":       http.StatusBadRequest,
	"DatabaseUnavailableException":    http.StatusGatewayTimeout,
	"ForbiddenException":              http.StatusForbidden,
	"HttpEndpointNotEnabledException": http.StatusBadRequest,
	"InternalServerErrorException":    http.StatusInternalServerError,
	"InvalidResourceStateException":   http.StatusBadRequest,
	"InvalidSecretException":          http.StatusBadRequest,
	"NotFoundException":               http.StatusNotFound,
	"SecretsErrorException":           http.StatusBadRequest,
	"ServiceUnavailableError":         http.StatusServiceUnavailable,
	"StatementTimeoutException":       http.StatusBadRequest,
	"TransactionNotFoundException":    http.StatusNotFound,
	"UnsupportedResultException":      http.StatusBadRequest,

	// Not in the model: the SDK decodes these as smithy.GenericAPIError.
	"ValidationException":                 http.StatusBadRequest,
	"InternalFailure":                     http.StatusInternalServerError,
	"MissingAuthenticationTokenException": http.StatusForbidden,
	"IncompleteSignatureException":        http.StatusBadRequest,
	"InvalidSignatureException":           http.StatusForbidden,
	"UnrecognizedClientException":         http.StatusForbidden,
	"UnknownOperationException":           http.StatusNotFound,
	"RequestEntityTooLargeException":      http.StatusRequestEntityTooLarge,
}

// withoutMessage are the model's exceptions that have no message member:
// their body is an empty object.
var withoutMessage = map[string]bool{
	"DatabaseUnavailableException": true,
	"InternalServerErrorException": true,
	"ServiceUnavailableError":      true,
	"InternalFailure":              true,
}

// apiError is an error answer: an exception name, its message and, for
// StatementTimeoutException, the backend that ran the statement.
type apiError struct {
	name         string
	message      string
	dbConnection int64
}

func (e *apiError) Error() string { return e.name + ": " + e.message }

func newError(name, format string, args ...any) *apiError {
	if _, ok := exceptions[name]; !ok {
		panic("fakerdsdata: unknown exception " + name)
	}
	return &apiError{name: name, message: fmt.Sprintf(format, args...)}
}

// writeError answers e the way the service does: the status of its
// exception, its name in X-Amzn-ErrorType and a JSON body with its message.
func writeError(w http.ResponseWriter, requestID string, e *apiError) {
	body := map[string]any{}
	if !withoutMessage[e.name] {
		body["message"] = e.message
	}
	if e.name == "StatementTimeoutException" {
		body["dbConnectionId"] = e.dbConnection
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.Header().Set("X-Amzn-Errortype", e.name)
	w.WriteHeader(exceptions[e.name])
	json.NewEncoder(w).Encode(body)
}

// databaseError turns an error from PostgreSQL into the answer the Data
// API gives for it. A server error becomes DatabaseErrorException with the
// server's error flattened into one line, the way the Data API does for
// Aurora PostgreSQL (Serverless v2 and provisioned):
//
//	ERROR: <message>[; Hint: <hint>][; Position: <n>][; Where: <context>]; SQLState: <code>
//
// The Detail field is left out, as the service leaves it out. Any other
// error means the database could not be reached.
func databaseError(err error) *apiError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == "42601" && strings.HasPrefix(pgErr.Message, "cannot insert multiple commands") {
			return newError("ValidationException", "Multistatements aren't supported.")
		}
		return newError("DatabaseErrorException", "%s", serverMessage(pgErr))
	}
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return newError("DatabaseUnavailableException", "%v", err)
}

// serverMessage is a server error in the Data API's one-line form.
func serverMessage(e *pgconn.PgError) string {
	var b strings.Builder
	severity := e.Severity
	if severity == "" {
		severity = "ERROR"
	}
	b.WriteString(severity)
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Hint != "" {
		b.WriteString("; Hint: ")
		b.WriteString(e.Hint)
	}
	if e.Position != 0 {
		fmt.Fprintf(&b, "; Position: %d", e.Position)
	}
	if e.Where != "" {
		b.WriteString("; Where: ")
		b.WriteString(e.Where)
	}
	b.WriteString("; SQLState: ")
	b.WriteString(e.Code)
	return b.String()
}
