package httpapi

import (
	"context"
	"net/http"

	"github.com/tenantapi/tenantapi"
)

// TokenVerifier checks the bearer JWTs of AuthJWT mode.
type TokenVerifier interface {
	// TenantOf verifies token and returns the tenant id its tenant claim
	// holds. It returns a *tenantapi.Error with CodeUnauthorized for a token
	// that is invalid, expired, not for this service or without the claim,
	// and one with CodeUnavailable when the issuer's keys cannot be had. No
	// error includes the token.
	TenantOf(ctx context.Context, token string) (string, error)
}

// jwtTenant authenticates the request's bearer JWT: no token or an invalid
// one is 401 (with error="invalid_token" for the latter, RFC 6750), a token
// of another tenant 403; then the registry decides.
func (s *Server) jwtTenant(w http.ResponseWriter, r *http.Request, id tenantapi.TenantID) (tenantStatus, error) {
	token, ok := bearer(r)
	if !ok {
		return tenantStatus{}, tenantapi.ErrUnauthorized
	}
	tenant, err := s.stores.Tokens.TenantOf(r.Context(), token)
	if err != nil {
		if tenantapi.ErrorCode(err) == tenantapi.CodeUnauthorized {
			refusedBearer(w, r)
		}
		return tenantStatus{}, err
	}
	if tenant != string(id) {
		return tenantStatus{}, tenantapi.Errorf(tenantapi.CodeForbidden, "the credential does not belong to this tenant")
	}
	return s.tenantStatus(r.Context(), id)
}
