package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantapi/tenantapi"
)

func TestTranslate(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "secret value 'hunter2' in SELECT * FROM x"})
	}
	tenantsPK := &pgconn.PgError{Code: "23505", SchemaName: "public", TableName: "tenants", ConstraintName: "tenants_pkey"}
	tests := []struct {
		name  string
		err   error
		scope scope
		want  tenantapi.Code
		is    error
	}{
		{"nil", nil, publicScope, "", nil},
		{"domain error passes", tenantapi.ErrPreconditionFailed, itemScope, tenantapi.CodePreconditionFailed, tenantapi.ErrPreconditionFailed},
		{"no rows, item", pgx.ErrNoRows, itemScope, tenantapi.CodeItemNotFound, tenantapi.ErrItemNotFound},
		{"no rows, config", fmt.Errorf("x: %w", pgx.ErrNoRows), configScope, tenantapi.CodeNotFound, tenantapi.ErrNotFound},
		{"no rows unexpected", pgx.ErrNoRows, publicScope, tenantapi.CodeInternal, nil},
		{"tenants pk", tenantsPK, publicScope, tenantapi.CodeConflict, tenantapi.ErrTenantExists},
		{"other unique", pg("23505"), publicScope, tenantapi.CodeInternal, nil},
		{"duplicate schema", pg("42P06"), publicScope, tenantapi.CodeConflict, tenantapi.ErrTenantExists},
		{"schema gone", pg("3F000"), itemScope, tenantapi.CodeTenantNotFound, tenantapi.ErrTenantNotFound},
		{"table gone", pg("42P01"), itemScope, tenantapi.CodeTenantNotFound, tenantapi.ErrTenantNotFound},
		{"public table missing", pg("42P01"), publicScope, tenantapi.CodeInternal, nil},
		{"fk to a gone row", pg("23503"), scope{notFound: tenantapi.ErrTenantNotFound}, tenantapi.CodeTenantNotFound, tenantapi.ErrTenantNotFound},
		{"too many connections", pg("53300"), itemScope, tenantapi.CodeUnavailable, nil},
		{"admin shutdown", pg("57P01"), itemScope, tenantapi.CodeUnavailable, nil},
		{"crash shutdown", pg("57P02"), itemScope, tenantapi.CodeUnavailable, nil},
		{"cannot connect now", pg("57P03"), itemScope, tenantapi.CodeUnavailable, nil},
		{"connection exception", pg("08006"), itemScope, tenantapi.CodeUnavailable, nil},
		{"lock timeout", pg("55P03"), publicScope, tenantapi.CodeUnavailable, nil},
		{"query canceled", pg("57014"), itemScope, tenantapi.CodeUnavailable, nil},
		{"deadlock", pg("40P01"), itemScope, tenantapi.CodeUnavailable, nil},
		{"read only after failover", pg("25006"), itemScope, tenantapi.CodeUnavailable, nil},
		{"syntax error", pg("42601"), itemScope, tenantapi.CodeInternal, nil},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), itemScope, tenantapi.CodeUnavailable, nil},
		{"canceled", context.Canceled, itemScope, tenantapi.CodeUnavailable, nil},
		{"eof", io.ErrUnexpectedEOF, itemScope, tenantapi.CodeUnavailable, nil},
		{"conn closed", pgconn.ErrConnClosed, itemScope, tenantapi.CodeUnavailable, nil},
		{"anything else", errors.New("boom"), itemScope, tenantapi.CodeInternal, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate(tt.err, tt.scope)
			if code := tenantapi.ErrorCode(got); code != tt.want {
				t.Errorf("code = %q, want %q (error %v)", code, tt.want, got)
			}
			if tt.is != nil && !errors.Is(got, tt.is) {
				t.Errorf("error %v is not %v", got, tt.is)
			}
			var de *tenantapi.Error
			if errors.As(got, &de) && (strings.Contains(de.Detail, "hunter2") || strings.Contains(de.Detail, "SELECT")) {
				t.Errorf("Detail %q shows the server's message", de.Detail)
			}
			if tt.err != nil && tt.is == nil && !errors.Is(got, tt.err) {
				t.Errorf("error %v lost its cause %v", got, tt.err)
			}
		})
	}
}
