package postgres

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/tenantapi/tenantapi"
)

// This file is the one place where driver and server errors become domain
// errors. Everything else in the package returns translate's result (or asks
// one of the predicates below), so the mapping can be read and tested here.

// SQLSTATE codes the package reacts to by name.
const (
	sqlUniqueViolation       = "23505"
	sqlForeignKeyViolation   = "23503"
	sqlDuplicateSchema       = "42P06"
	sqlUndefinedTable        = "42P01"
	sqlInvalidSchemaName     = "3F000"
	sqlInsufficientPrivilege = "42501"
	sqlInvalidParameterValue = "22023"
	sqlLockNotAvailable      = "55P03"
	sqlQueryCanceled         = "57014"
	sqlSerialization         = "40001"
	sqlDeadlock              = "40P01"
	sqlReadOnlyTransaction   = "25006"
)

// errUnavailable is the caller-safe detail of every CodeUnavailable error.
const errUnavailable = "database unavailable"

// scope says what a failed call was working on, because a few server errors
// mean different things in different places.
type scope struct {
	// notFound is returned for pgx.ErrNoRows and for a foreign key that
	// points at a row that has gone; nil means "no rows" is unexpected.
	notFound error
	// tenant is set when the statement ran in a tenant schema. A missing
	// schema or table there means the tenant was dropped while the call ran,
	// not that the deployment is broken.
	tenant bool
}

// The scopes of the package's statements.
var (
	publicScope     = scope{} // public tables where "no rows" is unexpected
	registryScope   = scope{notFound: tenantapi.ErrTenantNotFound}
	credentialScope = scope{notFound: tenantapi.ErrUnauthorized}
	configScope     = scope{notFound: tenantapi.ErrNotFound}
	itemScope       = scope{notFound: tenantapi.ErrItemNotFound, tenant: true}
)

// translate returns err as a *tenantapi.Error. Domain errors pass through
// unchanged. The Detail of what it returns never contains SQL or values: the
// server's message (which may quote either) is kept only as the wrapped cause.
func translate(err error, s scope) error {
	if err == nil {
		return nil
	}
	var de *tenantapi.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) && s.notFound != nil {
		return s.notFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !isConnectError(err) {
		return translateServer(pe, err, s)
	}
	var busy *dataAPIUnavailable
	if errors.As(err, &busy) {
		return tenantapi.Wrap(tenantapi.CodeUnavailable, err, errUnavailable)
	}
	if connectionLost(err) {
		return tenantapi.Wrap(tenantapi.CodeUnavailable, err, errUnavailable)
	}
	return tenantapi.Wrap(tenantapi.CodeInternal, err, "internal error")
}

// translateServer maps an error the server reported for a statement.
func translateServer(pe *pgconn.PgError, err error, s scope) error {
	switch {
	case pe.Code == sqlUniqueViolation && pe.TableName == "tenants" && pe.SchemaName == "public",
		// The Data API names the constraint only, not its table.
		pe.Code == sqlUniqueViolation && pe.TableName == "" && pe.ConstraintName == "tenants_pkey",
		pe.Code == sqlDuplicateSchema:
		// The tenants primary key, or a schema of that name left behind:
		// either way the id is taken.
		return tenantapi.ErrTenantExists
	case (pe.Code == sqlInvalidSchemaName || pe.Code == sqlUndefinedTable) && s.tenant:
		return tenantapi.ErrTenantNotFound
	case pe.Code == sqlTenantMoved:
		// A move's fence, and the placement did not flip in time.
		return tenantapi.Wrap(tenantapi.CodeUnavailable, err, tenantapi.ErrTenantMoving.Detail)
	case pe.Code == sqlForeignKeyViolation && s.notFound != nil:
		return s.notFound
	case serverUnavailable(pe.Code):
		return tenantapi.Wrap(tenantapi.CodeUnavailable, err, errUnavailable)
	}
	return tenantapi.Wrap(tenantapi.CodeInternal, err, "internal error")
}

// serverUnavailable reports whether a SQLSTATE means "try again later": the
// server is overloaded, shutting down, failing over, or gave up waiting.
// Serialization failures and deadlocks are here too: they are the loser of a
// race (a tenant being dropped, say), not a bug, and a retry succeeds.
func serverUnavailable(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "08", // connection exception
		"53": // insufficient resources, incl. 53300 too_many_connections
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "57P04", "57P05", // shutdown, cannot connect now
		sqlQueryCanceled,       // statement_timeout or a cancel request
		sqlLockNotAvailable,    // lock_timeout
		sqlSerialization,       // lost a race
		sqlDeadlock,            // lost a race
		sqlReadOnlyTransaction: // writer became a reader during failover
		return true
	}
	return false
}

// connectionLost reports whether err means the database could not be reached
// or the call ran out of time, rather than that a statement was wrong.
func connectionLost(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		pgconn.Timeout(err),
		isConnectError(err),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, puddle.ErrClosedPool),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr),
		pgconn.SafeToRetry(err):
		return true
	}
	return false
}

// isConnectError reports whether err happened while connecting. A server
// error inside it (too many connections, a bad password during rotation) is
// about the connection, not the statement.
func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// sqlState returns err's SQLSTATE, or "" when the server did not report one.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isUndefinedTable reports whether err says a table does not exist.
func isUndefinedTable(err error) bool { return sqlState(err) == sqlUndefinedTable }
