package main

import (
	"log/slog"
	"strings"

	"github.com/tenantapi/tenantapi/httpapi"
	"github.com/tenantapi/tenantapi/jwtauth"
)

// newVerifier returns the JWT verifier of AUTH_MODE=jwt, and nil in the
// other modes. JWT_JWKS_URL defaults to <JWT_ISSUER>/.well-known/jwks.json,
// where Amazon Cognito publishes a user pool's keys. A missing issuer or
// audience, or an unusable URL, is a usage error. It fetches nothing.
func newVerifier(cfg serverConfig, log *slog.Logger) (httpapi.TokenVerifier, error) {
	if cfg.AuthMode != httpapi.AuthJWT {
		return nil, nil
	}
	if cfg.JWTIssuer == "" || cfg.JWTAudience == "" {
		return nil, usagef("AUTH_MODE=jwt needs JWT_ISSUER and JWT_AUDIENCE (the app client id), and JWT_JWKS_URL unless the keys are at <issuer>/.well-known/jwks.json")
	}
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		jwksURL = strings.TrimSuffix(cfg.JWTIssuer, "/") + "/.well-known/jwks.json"
	}
	v, err := jwtauth.New(jwtauth.Config{
		JWKSURL:         jwksURL,
		Issuer:          cfg.JWTIssuer,
		Audience:        cfg.JWTAudience,
		TenantClaim:     cfg.TenantClaim,
		Leeway:          cfg.JWTLeeway,
		RefreshInterval: cfg.JWKSRefreshInterval,
		Log:             requestLogger(log),
	})
	if err != nil {
		return nil, usagef("AUTH_MODE=jwt: %v", err)
	}
	return v, nil
}
