// Package jwtauth verifies bearer JWTs signed with RS256 or ES256 against the
// issuer's JSON Web Key Set, as Amazon Cognito user pools and other OpenID
// Connect providers issue them, and returns the tenant they name. It imports
// the domain package for its errors and nothing else of ours.
package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantapi/tenantapi"
)

// algorithms are the only signing algorithms accepted. Everything else —
// "none", HS256 with a public key as the secret — is refused before any key
// is looked up.
var algorithms = []string{"RS256", "ES256"}

// Config configures a Verifier. Zero values take the defaults named on each
// field.
type Config struct {
	// JWKSURL is where the issuer publishes its signing keys: https, or http
	// to a loopback address (required). For Cognito it is
	// https://cognito-idp.<region>.amazonaws.com/<pool id>/.well-known/jwks.json.
	JWKSURL string
	// Issuer must equal the token's "iss" exactly (required).
	Issuer string
	// Audience is the client id the tokens are for (required): an ID token's
	// "aud" must contain it, an access token's "client_id" must equal it.
	Audience string
	// TenantClaim names the string claim that holds the tenant id (default
	// "custom:tenant_id").
	TenantClaim string
	// Leeway is the clock skew allowed when checking "exp" and "nbf"; zero
	// allows none.
	Leeway time.Duration
	// RefreshInterval is how long fetched keys are used before they are
	// fetched again (default 1h).
	RefreshInterval time.Duration
	// RefetchInterval is the least time between two fetches, so that tokens
	// naming unknown key ids cannot hammer the JWKS endpoint (default 30s).
	// After a failed fetch the next may come after 5 s at most.
	RefetchInterval time.Duration
	// FetchTimeout bounds one fetch of the key set (default 5s).
	FetchTimeout time.Duration
	// HTTPClient fetches the key set (default: a plain http.Client).
	HTTPClient *http.Client
	// Log receives failed fetches of the key set (default: discarded).
	Log *slog.Logger
}

// Claims are what a verified token says about its bearer.
type Claims struct {
	Subject string // "sub"
	// TokenUse is Cognito's "token_use": "id", "access", or "" for a token
	// without one (a generic OpenID Connect token, checked like an ID token).
	TokenUse string
	Tenant   string // the TenantClaim
}

// Verifier checks bearer JWTs. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	keys   *keySet
	parser *jwt.Parser
}

// New returns a Verifier for cfg, or an error naming what cfg lacks. It
// fetches nothing: the first token to verify fetches the key set.
func New(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.JWKSURL == "" {
		return nil, errors.New("jwt auth needs a JWKS URL, an issuer and an audience")
	}
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return nil, fmt.Errorf("the JWKS URL %q must be an https URL (or http to a loopback address)", cfg.JWKSURL)
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = "custom:tenant_id"
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = time.Hour
	}
	if cfg.RefetchInterval <= 0 {
		cfg.RefetchInterval = 30 * time.Second
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Verifier{
		cfg: cfg,
		keys: &keySet{
			url:     cfg.JWKSURL,
			client:  cfg.HTTPClient,
			timeout: cfg.FetchTimeout,
			refresh: cfg.RefreshInterval,
			refetch: cfg.RefetchInterval,
			log:     cfg.Log,
			now:     time.Now,
			fetch:   make(chan struct{}, 1),
		},
		parser: jwt.NewParser(
			jwt.WithValidMethods(algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(cfg.Leeway),
		),
	}, nil
}

// TenantOf verifies token and returns its tenant claim; see Verify.
func (v *Verifier) TenantOf(ctx context.Context, token string) (string, error) {
	c, err := v.Verify(ctx, token)
	return c.Tenant, err
}

// Verify checks token's signature against the issuer's keys, its "iss",
// "exp" (required) and "nbf", its audience ("aud" for ID and generic tokens,
// "client_id" for access tokens, told apart by "token_use") and that it
// carries the tenant claim. It returns a *tenantapi.Error with
// CodeUnauthorized and a detail safe to show for any token that fails, and
// one with CodeUnavailable when the keys cannot be fetched. No error
// includes the token.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	claims := jwt.MapClaims{}
	parsed, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		return Claims{}, v.refusal(parsed, err)
	}
	var c Claims
	var ok bool
	if c.TokenUse, ok = stringClaim(claims, "token_use"); !ok {
		return Claims{}, unauthorized("the token's token_use is not a string")
	}
	switch c.TokenUse {
	case "id", "":
		aud, err := claims.GetAudience()
		if err != nil || !slices.Contains(aud, v.cfg.Audience) {
			return Claims{}, unauthorized("the token is for another audience")
		}
	case "access":
		if id, _ := stringClaim(claims, "client_id"); id != v.cfg.Audience {
			return Claims{}, unauthorized("the access token is for another client")
		}
	default:
		return Claims{}, unauthorized("the token's token_use is neither id nor access")
	}
	c.Subject, _ = stringClaim(claims, "sub")
	if c.Tenant, _ = stringClaim(claims, v.cfg.TenantClaim); c.Tenant == "" {
		return Claims{}, unauthorized("the token carries no tenant claim")
	}
	return c, nil
}

// keyFor returns the key that must have signed t: the one its "kid" names,
// of the type its algorithm needs, and pinned to that algorithm if the JWKS
// pins it.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, unauthorized("the token names no signing key (kid)")
	}
	k, err := v.keys.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	alg := t.Method.Alg()
	if k.alg != "" && k.alg != alg {
		return nil, unauthorized("the token's algorithm does not match its signing key")
	}
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		if alg == "RS256" {
			return pub, nil
		}
	case *ecdsa.PublicKey:
		if alg == "ES256" && pub.Curve == elliptic.P256() {
			return pub, nil
		}
	}
	return nil, unauthorized("the token's algorithm does not match its signing key")
}

// refusal turns a parse error into a caller-safe *tenantapi.Error.
func (v *Verifier) refusal(t *jwt.Token, err error) error {
	var e *tenantapi.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthorized("the bearer token is not a well-formed JWT")
	case t != nil && (t.Method == nil || !slices.Contains(algorithms, t.Method.Alg())),
		errors.Is(err, jwt.ErrTokenUnverifiable):
		return unauthorized("the token's algorithm is not allowed (RS256 or ES256 only)")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized("the token's signature is invalid")
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthorized("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized("the token is not valid yet")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return unauthorized("the token is from another issuer")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return unauthorized("the token lacks a required claim (exp, iss)")
	default:
		return unauthorized("the token's claims are invalid")
	}
}

// stringClaim returns claim name; ok is false when it is present but not a
// string.
func stringClaim(claims jwt.MapClaims, name string) (s string, ok bool) {
	raw, present := claims[name]
	if !present {
		return "", true
	}
	s, ok = raw.(string)
	return s, ok
}

func unauthorized(detail string) *tenantapi.Error {
	return tenantapi.Errorf(tenantapi.CodeUnauthorized, "%s", detail)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
