package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/tenantapi/tenantapi"
)

// tenant runs the tenant checks of SPEC §4.1 (3)–(7) in order and calls h
// with the resolved tenant in the context: X-Tenant-ID present, single and
// well formed (400); credential valid (401); the credential's tenant equals
// the header (403); the tenant exists, is not being deleted (404) and is not
// suspended (403); the tenant is within its rate limit (429).
func (s *Server) tenant(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	values := r.Header.Values("X-Tenant-ID")
	if len(values) == 0 {
		s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeMissingTenantID, "the X-Tenant-ID header is required"))
		return
	}
	if len(values) > 1 {
		s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeInvalidTenantID, "send exactly one X-Tenant-ID header"))
		return
	}
	id, err := tenantapi.ParseTenantID(values[0])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noteTenant(r, id)

	var ts tenantStatus
	switch s.cfg.AuthMode {
	case AuthNone:
		ts, err = s.tenantStatus(r.Context(), id)
	case AuthGateway:
		ts, err = s.gatewayTenant(r, id)
	case AuthJWT:
		ts, err = s.jwtTenant(w, r, id)
	default:
		var p tenantapi.Principal
		p, err = s.authenticate(r.Context(), r)
		if tenantapi.ErrorCode(err) == tenantapi.CodeUnauthorized {
			refusedBearer(w, r)
		}
		if err == nil && p.Tenant.ID != id {
			err = tenantapi.Errorf(tenantapi.CodeForbidden, "the credential does not belong to this tenant")
		}
		ts = tenantStatus{ref: p.Tenant, status: p.TenantStatus, limit: p.RateLimit}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch ts.status {
	case tenantapi.TenantActive:
	case tenantapi.TenantSuspended:
		s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeTenantSuspended, "the tenant is suspended"))
		return
	default:
		s.writeError(w, r, tenantapi.ErrTenantNotFound)
		return
	}
	// Usage counts the authenticated requests of an active tenant, the
	// rate-limited ones included: they are the tenant's traffic too.
	s.requests.add(id)
	if !s.limitRequest(w, r, ts) {
		return
	}
	if info, ok := r.Context().Value(logInfoKey).(*logInfo); ok {
		info.ref = ts.ref
	}
	h(w, r)
}

// gatewayTenant trusts the tenant claim that an API Gateway authorizer put
// in the request context: no claim is 401, another tenant's 403.
func (s *Server) gatewayTenant(r *http.Request, id tenantapi.TenantID) (tenantStatus, error) {
	g := tenantapi.GatewayFrom(r.Context())
	if g == nil || g.Claims[s.cfg.TenantClaim] == "" {
		return tenantStatus{}, tenantapi.Errorf(tenantapi.CodeUnauthorized, "the request carries no tenant claim")
	}
	if g.Claims[s.cfg.TenantClaim] != string(id) {
		return tenantStatus{}, tenantapi.Errorf(tenantapi.CodeForbidden, "the credential does not belong to this tenant")
	}
	return s.tenantStatus(r.Context(), id)
}

// tenantOf returns the tenant that the tenant checks resolved (the zero
// TenantRef, which no store serves, before they did).
func tenantOf(r *http.Request) tenantapi.TenantRef {
	if info, ok := r.Context().Value(logInfoKey).(*logInfo); ok {
		return info.ref
	}
	return tenantapi.TenantRef{}
}

// authenticate returns the principal of the request's API key. Malformed
// keys are refused without a database query; found keys are cached (see
// cached), unknown ones never.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (tenantapi.Principal, error) {
	token, ok := bearer(r)
	if !ok {
		return tenantapi.Principal{}, tenantapi.ErrUnauthorized
	}
	_, hash, ok := tenantapi.ParseAPIKey(token)
	if !ok {
		return tenantapi.Principal{}, tenantapi.ErrUnauthorized
	}
	p, ok := cached(ctx, s.changes, s.principals, hash)
	if !ok {
		epoch := s.principals.currentEpoch()
		var err error
		p, err = s.stores.Keys.Authenticate(ctx, hash)
		if err != nil {
			return tenantapi.Principal{}, err
		}
		s.principals.putAt(hash, p, epoch)
	}
	if p.ExpiresAt != nil && !time.Now().Before(*p.ExpiresAt) {
		return tenantapi.Principal{}, tenantapi.ErrUnauthorized
	}
	return p, nil
}

// cached returns the entry of k that may be used now. Without a change
// feed, entries live CacheTTL and always may; with one, they live
// CacheMaxAge and may while the feed has been read within CacheTTL. The
// feed is read in line only for a key that has an entry: a miss needs the
// lookup anyway.
func cached[K comparable, V any](ctx context.Context, w *changeWatch, c *ttlCache[K, V], k K) (V, bool) {
	v, ok := c.get(k)
	if !ok || w == nil {
		return v, ok
	}
	if !w.current(ctx) {
		var zero V
		return zero, false
	}
	return c.get(k)
}

// tenantStatus returns the tenant's identity, status and own rate limit,
// cached (see the function cached) when the tenant is active or suspended.
func (s *Server) tenantStatus(ctx context.Context, id tenantapi.TenantID) (tenantStatus, error) {
	if ts, ok := cached(ctx, s.changes, s.statuses, id); ok {
		return ts, nil
	}
	epoch := s.statuses.currentEpoch()
	ref, status, limit, err := s.stores.Lookup.TenantStatus(ctx, id)
	if err != nil {
		return tenantStatus{}, err
	}
	ts := tenantStatus{ref: ref, status: status, limit: limit}
	if status == tenantapi.TenantActive || status == tenantapi.TenantSuspended {
		// Not a deleting tenant: once its schema is gone, an entry would
		// answer for a new tenant created with the same id.
		s.statuses.putAt(id, ts, epoch)
	}
	return ts, nil
}

// applyChanges drops what the registry's change feed says has changed, or
// everything on Reset.
func (s *Server) applyChanges(c tenantapi.RegistryChanges) {
	if c.Reset {
		s.principals.drop(func([32]byte, tenantapi.Principal) bool { return true })
		s.statuses.drop(func(tenantapi.TenantID, tenantStatus) bool { return true })
		return
	}
	if len(c.RevokedKeys) > 0 {
		s.principals.forget(c.RevokedKeys...)
	}
	if len(c.Tenants) == 0 {
		return
	}
	s.statuses.forget(c.Tenants...)
	changed := make(map[tenantapi.TenantID]bool, len(c.Tenants))
	for _, id := range c.Tenants {
		changed[id] = true
	}
	s.principals.drop(func(_ [32]byte, p tenantapi.Principal) bool { return changed[p.Tenant.ID] })
}

// forgetTenant drops what this process caches about a tenant, so that a
// change made through this process's admin API applies here at once.
func (s *Server) forgetTenant(id tenantapi.TenantID) {
	s.statuses.drop(func(k tenantapi.TenantID, _ tenantStatus) bool { return k == id })
	s.principals.drop(func(_ [32]byte, p tenantapi.Principal) bool { return p.Tenant.ID == id })
}

// bearer returns the credential of a single "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// refusedBearer marks the coming 401 as one for a bearer credential that
// the request presented and that was refused (malformed, unknown, revoked,
// expired or wrong): error="invalid_token", RFC 6750 §3.1. A request with
// no bearer credential keeps writeError's plain challenge, without an
// error code, as §3.1 asks.
func refusedBearer(w http.ResponseWriter, r *http.Request) {
	if _, presented := bearer(r); presented {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tenantapi", error="invalid_token"`)
	}
}

// adminOnly guards the admin API: 404 while no admin token is configured,
// 401 unless the request carries it. The comparison takes the same time
// whatever the presented token is.
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			s.writeError(w, r, tenantapi.ErrNotFound)
			return
		}
		token, _ := bearer(r)
		got := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			refusedBearer(w, r)
			s.writeError(w, r, tenantapi.Errorf(tenantapi.CodeUnauthorized, "a valid admin token is required"))
			return
		}
		h(w, r)
	}
}
