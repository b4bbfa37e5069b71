// Package tenantapi holds the domain of the service: tenants, items, API keys,
// shared settings, the errors they return and the store interfaces the other
// packages implement. It imports neither the database driver nor net/http;
// postgres, httpapi and the command wire themselves to it, never to each other.
package tenantapi

import (
	"errors"
	"fmt"
)

// Code is a machine-readable error class. Its values are the problem "code"
// slugs of the HTTP API, so the HTTP layer maps each to one status.
type Code string

// The error codes. Every error a store or service returns is an *Error with one
// of these codes, or is treated as CodeInternal.
const (
	CodeMissingTenantID      Code = "missing-tenant-id"
	CodeInvalidTenantID      Code = "invalid-tenant-id"
	CodeMalformedJSON        Code = "malformed-json"
	CodeInvalidQuery         Code = "invalid-query"
	CodeInvalidCursor        Code = "invalid-cursor"
	CodeUnauthorized         Code = "unauthorized"
	CodeForbidden            Code = "forbidden"
	CodeTenantSuspended      Code = "tenant-suspended"
	CodeTenantNotFound       Code = "tenant-not-found"
	CodeItemNotFound         Code = "item-not-found"
	CodeNotFound             Code = "not-found"
	CodeMethodNotAllowed     Code = "method-not-allowed"
	CodeConflict             Code = "conflict"
	CodeIdempotencyKeyReused Code = "idempotency-key-reused"
	CodePreconditionFailed   Code = "precondition-failed"
	CodePayloadTooLarge      Code = "payload-too-large"
	CodeUnsupportedMedia     Code = "unsupported-media-type"
	CodeValidationFailed     Code = "validation-failed"
	CodeRateLimited          Code = "rate-limited"
	CodeUnavailable          Code = "unavailable"
	CodeInternal             Code = "internal"
)

// FieldError names one invalid field of a request body. Field is a JSON
// Pointer into the body ("/name", "/attributes/x").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type of the domain. Detail is safe to show to the
// caller; Err is the internal cause, kept for logs and never shown.
type Error struct {
	Code   Code
	Detail string
	Fields []FieldError
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a caller-safe detail.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and detail whose internal cause is err.
func Wrap(code Code, err error, detail string) *Error {
	return &Error{Code: code, Detail: detail, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none. A nil err has no code ("").
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Sentinel errors that stores return; compare with errors.Is or ErrorCode.
var (
	ErrTenantNotFound     = &Error{Code: CodeTenantNotFound, Detail: "tenant not found"}
	ErrItemNotFound       = &Error{Code: CodeItemNotFound, Detail: "item not found"}
	ErrNotFound           = &Error{Code: CodeNotFound, Detail: "not found"}
	ErrTenantExists       = &Error{Code: CodeConflict, Detail: "tenant already exists"}
	ErrPreconditionFailed = &Error{Code: CodePreconditionFailed, Detail: "If-Match does not match the current ETag"}
	ErrUnauthorized       = &Error{Code: CodeUnauthorized, Detail: "missing, unknown, revoked or expired credential"}
	// ErrKeyInFlight is a create whose Idempotency-Key a request still in
	// flight holds.
	ErrKeyInFlight = &Error{Code: CodeConflict, Detail: "a request with this Idempotency-Key is still in progress; retry shortly"}
	// ErrShapeChanged is a statement that met another shape of a table than
	// the one the tenant's version has: the tenant was migrated meanwhile.
	ErrShapeChanged = &Error{Code: CodeUnavailable, Detail: "the tenant's schema is being migrated; retry shortly"}
	// ErrTenantMoving is a write held while the tenant moves to another
	// database.
	ErrTenantMoving = &Error{Code: CodeUnavailable, Detail: "the tenant is moving to another database; retry shortly"}
)

// Invalid returns a CodeValidationFailed error listing fields.
func Invalid(fields ...FieldError) *Error {
	return &Error{Code: CodeValidationFailed, Detail: "the body has invalid fields", Fields: fields}
}

// Is makes errors.Is match any *Error with the same code and detail, so a
// wrapped copy of a sentinel still matches it.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Detail == e.Detail
}
