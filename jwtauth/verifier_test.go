package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantapi/tenantapi"
)

const (
	testIssuer   = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
	testClientID = "3n4b5urk1ft4fl3mg5e62d9ado"
)

// issuer is a local identity provider: signing keys made by the test and a
// JWKS endpoint on 127.0.0.1 that serves whichever of them are published.
type issuer struct {
	t       *testing.T
	srv     *httptest.Server
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	mu      sync.Mutex
	keys    map[string]any // kid → public key published
	status  int            // answer of the endpoint; 200 serves the keys
	fetches atomic.Int32
}

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

// testKeys returns keys generated once per test binary (RSA is slow to make).
func testKeys(t *testing.T) (r1, r2 *rsa.PrivateKey, ec *ecdsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, rsaKey2, ecKey
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	r1, _, ec := testKeys(t)
	iss := &issuer{t: t, rsa: r1, ec: ec, status: 200,
		keys: map[string]any{"rsa-1": &r1.PublicKey, "ec-1": &ec.PublicKey}}
	iss.srv = httptest.NewServer(http.HandlerFunc(iss.serveJWKS))
	t.Cleanup(iss.srv.Close)
	return iss
}

func (iss *issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	iss.fetches.Add(1)
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if iss.status != 200 {
		w.WriteHeader(iss.status)
		return
	}
	var set jwkset.JWKSMarshal
	for kid, pub := range iss.keys {
		alg := jwkset.AlgRS256
		if _, ok := pub.(*ecdsa.PublicKey); ok {
			alg = jwkset.AlgES256
		}
		jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig}})
		if err != nil {
			iss.t.Error(err)
			return
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(set)
}

func (iss *issuer) publish(kid string, pub any) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if pub == nil {
		delete(iss.keys, kid)
	} else {
		iss.keys[kid] = pub
	}
}

func (iss *issuer) setStatus(status int) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.status = status
}

// verifier returns a Verifier of iss's tokens for testClientID.
func (iss *issuer) verifier(mod ...func(*Config)) *Verifier {
	iss.t.Helper()
	cfg := Config{JWKSURL: iss.srv.URL + "/.well-known/jwks.json", Issuer: testIssuer, Audience: testClientID, Leeway: 30 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		iss.t.Fatal(err)
	}
	return v
}

// idClaims are the claims of a Cognito ID token for tenant acme.
func idClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub":              "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"aud":              testClientID,
		"email_verified":   true,
		"event_id":         "cc5b1e4f-4e3f-4d0a-9f8e-6f1f2a3b4c5d",
		"token_use":        "id",
		"auth_time":        now.Add(-time.Minute).Unix(),
		"iss":              testIssuer,
		"cognito:username": "alice",
		"exp":              now.Add(time.Hour).Unix(),
		"iat":              now.Add(-time.Minute).Unix(),
		"jti":              "2d2f1b1e-7a5e-4a52-9c41-0f3b8e1d2c3a",
		"origin_jti":       "7b6a5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d",
		"email":            "alice@example.com",
		"custom:tenant_id": "acme",
	}
}

// accessClaims are the claims of a Cognito access token for tenant acme (the
// tenant claim added by a pre token generation trigger).
func accessClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub":              "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"iss":              testIssuer,
		"client_id":        testClientID,
		"origin_jti":       "7b6a5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d",
		"event_id":         "cc5b1e4f-4e3f-4d0a-9f8e-6f1f2a3b4c5d",
		"token_use":        "access",
		"scope":            "aws.cognito.signin.user.admin",
		"auth_time":        now.Add(-time.Minute).Unix(),
		"exp":              now.Add(time.Hour).Unix(),
		"iat":              now.Add(-time.Minute).Unix(),
		"jti":              "5f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c",
		"username":         "alice",
		"custom:tenant_id": "acme",
	}
}

// sign returns a token with claims signed by key under method, naming kid
// ("" names none).
func sign(t *testing.T, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// with returns claims changed by edits; a nil value deletes the claim.
func with(claims jwt.MapClaims, edits map[string]any) jwt.MapClaims {
	for k, v := range edits {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	return claims
}

// unsigned returns a token with alg "none" and an empty signature.
func unsigned(t *testing.T, kid string, claims jwt.MapClaims) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "."
}

func TestVerify(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	v := iss.verifier()
	r1, r2, ec := testKeys(t)
	now := time.Now()
	pubDER, err := x509.MarshalPKIXPublicKey(&r1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	tampered := func() string {
		parts := strings.Split(sign(t, jwt.SigningMethodRS256, "rsa-1", r1, idClaims()), ".")
		c, _ := json.Marshal(with(idClaims(), map[string]any{"custom:tenant_id": "other"}))
		parts[1] = base64.RawURLEncoding.EncodeToString(c)
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name   string
		token  string
		tenant string // "" when the token must be refused with 401
		detail string // part of the refusal's detail
	}{
		{"valid RS256 ID token", sign(t, jwt.SigningMethodRS256, "rsa-1", r1, idClaims()), "acme", ""},
		{"valid ES256 ID token", sign(t, jwt.SigningMethodES256, "ec-1", ec, idClaims()), "acme", ""},
		{"Cognito access token, right client_id", sign(t, jwt.SigningMethodRS256, "rsa-1", r1, accessClaims()), "acme", ""},
		{"generic OIDC token (no token_use), aud list", sign(t, jwt.SigningMethodES256, "ec-1", ec,
			with(idClaims(), map[string]any{"token_use": nil, "aud": []string{"other", testClientID}})), "acme", ""},
		{"expired within the leeway", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), "acme", ""},

		{"expired", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})), "", "expired"},
		{"nbf in the future", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})), "", "not valid yet"},
		{"no exp", sign(t, jwt.SigningMethodRS256, "rsa-1", r1, with(idClaims(), map[string]any{"exp": nil})), "", "required claim"},
		{"exp not a number", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"exp": "tomorrow"})), "", "claims are invalid"},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"})), "", "another issuer"},
		{"no issuer", sign(t, jwt.SigningMethodRS256, "rsa-1", r1, with(idClaims(), map[string]any{"iss": nil})), "", "required claim"},
		{"ID token, wrong audience", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"aud": "another-client"})), "", "another audience"},
		{"ID token, no audience", sign(t, jwt.SigningMethodRS256, "rsa-1", r1, with(idClaims(), map[string]any{"aud": nil})), "", "another audience"},
		{"ID token with the client id only in client_id", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"aud": "another-client", "client_id": testClientID})), "", "another audience"},
		{"access token, wrong client_id", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(accessClaims(), map[string]any{"client_id": "another-client"})), "", "another client"},
		{"access token with the client id only in aud", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(accessClaims(), map[string]any{"client_id": nil, "aud": testClientID})), "", "another client"},
		{"token_use refresh", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"token_use": "refresh"})), "", "neither id nor access"},
		{"token_use not a string", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"token_use": 1})), "", "token_use"},
		{"no tenant claim", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"custom:tenant_id": nil})), "", "no tenant claim"},
		{"tenant claim not a string", sign(t, jwt.SigningMethodRS256, "rsa-1", r1,
			with(idClaims(), map[string]any{"custom:tenant_id": 42})), "", "no tenant claim"},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, "rsa-9", r2, idClaims()), "", "unknown"},
		{"no kid", sign(t, jwt.SigningMethodRS256, "", r1, idClaims()), "", "names no signing key"},
		{"signed by another key under a known kid", sign(t, jwt.SigningMethodRS256, "rsa-1", r2, idClaims()), "", "signature is invalid"},
		{"payload changed after signing", tampered(), "", "signature is invalid"},
		{"alg none", unsigned(t, "rsa-1", idClaims()), "", "algorithm is not allowed"},
		{"alg none without kid", unsigned(t, "", idClaims()), "", "algorithm is not allowed"},
		{"HS256 with the RSA public key's PEM as secret", sign(t, jwt.SigningMethodHS256, "rsa-1", pubPEM, idClaims()), "", "algorithm is not allowed"},
		{"HS256 with the RSA public key's DER as secret", sign(t, jwt.SigningMethodHS256, "rsa-1", pubDER, idClaims()), "", "algorithm is not allowed"},
		{"RS384 (not allowed)", sign(t, jwt.SigningMethodRS384, "rsa-1", r1, idClaims()), "", "algorithm is not allowed"},
		{"PS256 (not allowed)", sign(t, jwt.SigningMethodPS256, "rsa-1", r1, idClaims()), "", "algorithm is not allowed"},
		{"ES256 naming the RSA key", sign(t, jwt.SigningMethodES256, "rsa-1", ec, idClaims()), "", "does not match its signing key"},
		{"RS256 naming the EC key", sign(t, jwt.SigningMethodRS256, "ec-1", r1, idClaims()), "", "does not match its signing key"},
		{"not a JWT", "tak_0123456789abcdef_secret", "", "not a well-formed JWT"},
		{"empty", "", "", "not a well-formed JWT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			if tc.tenant != "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Tenant != tc.tenant || c.Subject == "" {
					t.Fatalf("claims %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if code := tenantapi.ErrorCode(err); code != tenantapi.CodeUnauthorized {
				t.Fatalf("code %q, want unauthorized: %v", code, err)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not say %q", err, tc.detail)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("the error includes the token")
			}
		})
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1: an unknown kid right after a fetch must not fetch again", n)
	}
}

func TestTenantClaimConfigurable(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	v := iss.verifier(func(c *Config) { c.TenantClaim = "tenant" })
	r1, _, _ := testKeys(t)
	tenant, err := v.TenantOf(context.Background(), sign(t, jwt.SigningMethodRS256, "rsa-1", r1, with(idClaims(), map[string]any{"tenant": "globex"})))
	if err != nil || tenant != "globex" {
		t.Fatalf("TenantOf = %q, %v", tenant, err)
	}
	if _, err := v.TenantOf(context.Background(), sign(t, jwt.SigningMethodRS256, "rsa-1", r1, with(idClaims(), map[string]any{"tenant": nil}))); tenantapi.ErrorCode(err) != tenantapi.CodeUnauthorized {
		t.Fatalf("without the configured claim: %v", err)
	}
}

// clock is a manual clock for the key set's refresh and rate-limit times.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock makes v's key set read the time from a manual clock.
func withClock(v *Verifier) *clock {
	c := &clock{now: time.Now()}
	v.keys.now = c.Now
	return c
}

// TestKeyRotation: a token naming a new key id fetches the key set again,
// but at most once per RefetchInterval, and a key the issuer withdrew stops
// working at the next fetch.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	v := iss.verifier() // RefetchInterval 30s, RefreshInterval 1h
	clk := withClock(v)
	r1, r2, _ := testKeys(t)
	ctx := context.Background()
	old := sign(t, jwt.SigningMethodRS256, "rsa-1", r1, idClaims())
	rotated := sign(t, jwt.SigningMethodRS256, "rsa-2", r2, idClaims())
	fetches := func(want int32) {
		t.Helper()
		if n := iss.fetches.Load(); n != want {
			t.Fatalf("%d JWKS fetches, want %d", n, want)
		}
	}

	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	fetches(1)
	// A burst of unknown key ids right after a fetch fetches nothing.
	for range 100 {
		if _, err := v.Verify(ctx, rotated); tenantapi.ErrorCode(err) != tenantapi.CodeUnauthorized {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	fetches(1)

	// The issuer rotates: rsa-2 published, rsa-1 withdrawn. Within 30 s of
	// the last fetch the new kid is still refused without a fetch...
	iss.publish("rsa-2", &r2.PublicKey)
	iss.publish("rsa-1", nil)
	clk.Advance(29 * time.Second)
	if _, err := v.Verify(ctx, rotated); tenantapi.ErrorCode(err) != tenantapi.CodeUnauthorized {
		t.Fatalf("unknown kid within the refetch interval: %v", err)
	}
	fetches(1)
	// ...and after it the same token fetches the set once and works.
	clk.Advance(time.Second)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("the rotated key after the refetch interval: %v", err)
	}
	fetches(2)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatal(err)
	}
	fetches(2)
	// The withdrawn key is gone with the old set.
	if _, err := v.Verify(ctx, old); tenantapi.ErrorCode(err) != tenantapi.CodeUnauthorized {
		t.Errorf("a withdrawn key still verifies: %v", err)
	}
	fetches(2)

	// Made-up key ids over ten minutes: one fetch per 30 s at most.
	madeUp := sign(t, jwt.SigningMethodRS256, "made-up", r1, idClaims())
	for range 600 {
		v.Verify(ctx, madeUp)
		clk.Advance(time.Second)
	}
	if n := iss.fetches.Load() - 2; n > 20 {
		t.Errorf("%d fetches in 10 minutes of unknown kids, want at most 20", n)
	}
}

// TestRefresh: keys older than RefreshInterval are fetched again; while the
// endpoint fails, the keys held keep working.
func TestRefresh(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	v := iss.verifier(func(c *Config) { c.RefreshInterval = 10 * time.Minute })
	clk := withClock(v)
	r1, _, _ := testKeys(t)
	tok := sign(t, jwt.SigningMethodRS256, "rsa-1", r1, idClaims())
	ctx := context.Background()
	for range 10 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute - time.Second)
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the refresh interval, want 1", n)
	}
	clk.Advance(time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (one refresh)", n)
	}
	iss.setStatus(http.StatusInternalServerError)
	clk.Advance(10 * time.Minute)
	for range 10 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("a failed refresh must keep the keys held: %v", err)
		}
	}
	if n := iss.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3 (one failed refresh, then the backoff)", n)
	}
	clk.Advance(5 * time.Second)
	iss.setStatus(http.StatusOK)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := iss.fetches.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4 (a retry after the backoff)", n)
	}
}

// TestKeySetUnavailable: with no keys ever fetched, a failing or slow
// endpoint is unavailable (503), not the token's fault, and is tried again
// after 5 s, not at every request.
func TestKeySetUnavailable(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	iss.setStatus(http.StatusBadGateway)
	v := iss.verifier()
	clk := withClock(v)
	r1, _, _ := testKeys(t)
	tok := sign(t, jwt.SigningMethodRS256, "rsa-1", r1, idClaims())
	ctx := context.Background()
	for range 10 {
		if _, err := v.Verify(ctx, tok); tenantapi.ErrorCode(err) != tenantapi.CodeUnavailable {
			t.Fatalf("JWKS endpoint failing: %v", err)
		}
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Errorf("%d fetches while failing, want 1", n)
	}
	iss.setStatus(http.StatusOK)
	clk.Advance(5 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after the endpoint recovered: %v", err)
	}

	// A hanging endpoint is given up after FetchTimeout.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)
	v = iss.verifier(func(c *Config) { c.JWKSURL = hang.URL; c.FetchTimeout = 100 * time.Millisecond })
	start := time.Now()
	if _, err := v.Verify(ctx, tok); tenantapi.ErrorCode(err) != tenantapi.CodeUnavailable {
		t.Fatalf("hanging JWKS endpoint: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// TestFirstFetchConcurrent: many requests arriving before the first fetch
// share one fetch.
func TestFirstFetchConcurrent(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	v := iss.verifier()
	_, _, ec := testKeys(t)
	tok := sign(t, jwt.SigningMethodES256, "ec-1", ec, idClaims())
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := iss.fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// TestKeySetFiltering: keys that cannot verify RS256/ES256 are left out.
func TestKeySetFiltering(t *testing.T) {
	t.Parallel()
	r1, _, _ := testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	marshal := func(pub any, kid string, use jwkset.USE) jwkset.JWKMarshal {
		jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: use}})
		if err != nil {
			t.Fatal(err)
		}
		return jwk.Marshal()
	}
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{
		marshal(&small.PublicKey, "small", jwkset.UseSig),
		marshal(&p384.PublicKey, "p384", jwkset.UseSig),
		marshal(&r1.PublicKey, "enc", jwkset.UseEnc),
		marshal(&r1.PublicKey, "", jwkset.UseSig),
		{KTY: jwkset.KtyOct, KID: "hmac", K: base64.RawURLEncoding.EncodeToString([]byte("secret"))},
		marshal(&r1.PublicKey, "good", ""),
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(set) }))
	t.Cleanup(srv.Close)
	v, err := New(Config{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testClientID})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := v.keys.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys["good"].key == nil {
		t.Fatalf("kept %v, want only good", keys)
	}
	hs := sign(t, jwt.SigningMethodHS256, "hmac", []byte("secret"), idClaims())
	if _, err := v.Verify(context.Background(), hs); tenantapi.ErrorCode(err) != tenantapi.CodeUnauthorized {
		t.Fatalf("HS256 with a symmetric key from the JWKS: %v", err)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	ok := Config{JWKSURL: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json", Issuer: testIssuer, Audience: testClientID}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"no issuer":          func(c *Config) { c.Issuer = "" },
		"no audience":        func(c *Config) { c.Audience = "" },
		"no JWKS URL":        func(c *Config) { c.JWKSURL = "" },
		"http off loopback":  func(c *Config) { c.JWKSURL = "http://idp.example.com/jwks.json" },
		"not a URL":          func(c *Config) { c.JWKSURL = "jwks.json" },
		"another URL scheme": func(c *Config) { c.JWKSURL = "file:///etc/jwks.json" },
	} {
		c := ok
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
