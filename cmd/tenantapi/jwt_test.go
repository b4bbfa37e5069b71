package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantapi/tenantapi/awslambda"
)

const testJWTClientID = "3n4b5urk1ft4fl3mg5e62d9ado"

// testIDP is a local stand-in for a Cognito user pool: an RSA key made by
// the test, its JWKS served on 127.0.0.1 under <issuer>/.well-known/jwks.json.
type testIDP struct {
	issuer string
	key    *rsa.PrivateKey
	mu     sync.Mutex
	paths  []string // paths the JWKS endpoint was asked for
}

func newTestIDP(t *testing.T) *testIDP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIDP{key: key}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idp.mu.Lock()
		idp.paths = append(idp.paths, r.URL.Path)
		idp.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(srv.Close)
	idp.issuer = srv.URL + "/eu-west-1_AbCdEf123"
	return idp
}

// claims returns the claims of a Cognito ID token for tenant.
func (idp *testIDP) claims(tenant string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "aud": testJWTClientID, "token_use": "id",
		"iss": idp.issuer, "cognito:username": "alice", "auth_time": now.Unix(),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "custom:tenant_id": tenant,
	}
}

// token signs claims with method and key under key id kid.
func (idp *testIDP) token(t *testing.T, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWTAuthMode serves the API in AUTH_MODE=jwt with tokens of a local
// identity provider: a valid token reaches its tenant's items; another
// tenant's is 403; every bad token is 401 invalid_token; the registry still
// decides after the token; and no token reaches the log.
func TestJWTAuthMode(t *testing.T) {
	idp := newTestIDP(t)
	e := setup(t, func(c *serverConfig) {
		c.AuthMode = "jwt"
		c.JWTIssuer = idp.issuer // JWT_JWKS_URL unset: <issuer>/.well-known/jwks.json
		c.JWTAudience = testJWTClientID
	})
	e.tenant("acme")
	e.tenant("globex")
	expect(t, e.admin("PATCH", "/admin/tenants/globex", `{"status":"suspended"}`), 200, "")

	var tokens []string
	call := func(method, tenant, token, body string) response {
		t.Helper()
		h := map[string]string{"X-Tenant-ID": tenant}
		if token != "" {
			h["Authorization"] = "Bearer " + token
			tokens = append(tokens, token)
		}
		if body != "" {
			h["Content-Type"] = "application/json"
		}
		return e.do(req{method: method, path: "/items", header: h, body: body})
	}
	sign := func(claims jwt.MapClaims) string { return idp.token(t, jwt.SigningMethodRS256, "k1", idp.key, claims) }
	with := func(tenant string, edits map[string]any) string {
		c := idp.claims(tenant)
		for k, v := range edits {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return sign(c)
	}

	acme := sign(idp.claims("acme"))
	expect(t, call("POST", "acme", acme, `{"name":"Widget"}`), 201, "")
	r := call("GET", "acme", acme, "")
	expect(t, r, 200, "")
	if items := r.json(t)["items"].([]any); len(items) != 1 {
		t.Fatalf("items %v", items)
	}
	idp.mu.Lock()
	paths := idp.paths
	idp.mu.Unlock()
	if len(paths) != 1 || paths[0] != "/eu-west-1_AbCdEf123/.well-known/jwks.json" {
		t.Errorf("JWKS fetched at %v, want once at <issuer>/.well-known/jwks.json", paths)
	}

	// A valid token of another tenant: 403; the registry after the token.
	expect(t, call("GET", "globex", acme, ""), 403, "forbidden")
	expect(t, call("GET", "globex", sign(idp.claims("globex")), ""), 403, "tenant-suspended")
	expect(t, call("GET", "nobody", sign(idp.claims("nobody")), ""), 404, "tenant-not-found")
	// Without a credential an unknown tenant is 401, not 404.
	r = call("GET", "nobody", "", "")
	expect(t, r, 401, "unauthorized")
	if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="tenantapi"` {
		t.Errorf("no token: WWW-Authenticate %q", got)
	}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&idp.key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": "k1"})
	payload, _ := json.Marshal(idp.claims("acme"))
	none := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."

	for _, tc := range []struct{ name, token string }{
		{"expired", with("acme", map[string]any{"exp": time.Now().Add(-5 * time.Minute).Unix()})},
		{"not valid yet", with("acme", map[string]any{"nbf": time.Now().Add(5 * time.Minute).Unix()})},
		{"wrong issuer", with("acme", map[string]any{"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"})},
		{"wrong audience", with("acme", map[string]any{"aud": "another-client"})},
		{"access token of another client", with("acme", map[string]any{"token_use": "access", "aud": nil, "client_id": "another-client"})},
		{"no tenant claim", with("acme", map[string]any{"custom:tenant_id": nil})},
		{"unknown kid", idp.token(t, jwt.SigningMethodRS256, "k2", other, idp.claims("acme"))},
		{"forged signature", idp.token(t, jwt.SigningMethodRS256, "k1", other, idp.claims("acme"))},
		{"alg none", none},
		{"HS256 keyed with the public key", idp.token(t, jwt.SigningMethodHS256, "k1", pubPEM, idp.claims("acme"))},
		{"an API key", e.keyOf["acme"]},
		{"garbage", "not.a.jwt"},
	} {
		r := call("GET", "acme", tc.token, "")
		if r.status != 401 || r.code(t) != "unauthorized" {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
			continue
		}
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="tenantapi", error="invalid_token"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
		}
		if strings.Contains(string(r.body), tc.token) {
			t.Errorf("%s: the response repeats the token", tc.name)
		}
	}

	// The same handler behind API Gateway (Lambda) authenticates the same way.
	h := awslambda.NewHandler(e.api, nil)
	raw, err := h.Invoke(context.Background(), mustMarshal(t, restEvent("GET", "/items",
		map[string]string{"X-Tenant-ID": "acme", "Authorization": "Bearer " + acme}, nil, "", false)))
	if err != nil {
		t.Fatal(err)
	}
	var g gwResponse
	json.Unmarshal(raw, &g)
	if g.StatusCode != 200 {
		t.Errorf("through the Lambda adapter: %d %s", g.StatusCode, g.Body)
	}

	logs := e.logs.String()
	for _, tok := range tokens {
		if strings.Contains(logs, tok) {
			t.Fatalf("the log contains a token")
		}
	}
	if strings.Contains(logs, "eyJ") {
		t.Errorf("the log contains something like a JWT:\n%s", logs)
	}
}

// TestJWTAuthModeNeedsConfig: AUTH_MODE=jwt without issuer or audience, or
// with a JWKS URL that is not https, is a usage error in serve, dev and on
// Lambda, before any database is touched.
func TestJWTAuthModeNeedsConfig(t *testing.T) {
	t.Parallel()
	db := "postgres://x@127.0.0.1:1/x"
	full := map[string]string{"AUTH_MODE": "jwt", "DATABASE_URL": db, "DATABASE_RUNTIME_URL": db,
		"JWT_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", "JWT_AUDIENCE": testJWTClientID}
	for name, edit := range map[string]map[string]string{
		"no issuer":      {"JWT_ISSUER": ""},
		"no audience":    {"JWT_AUDIENCE": ""},
		"plain http":     {"JWT_JWKS_URL": "http://idp.example.com/jwks.json"},
		"bad leeway":     {"JWT_LEEWAY": "a bit"},
		"bad refresh":    {"JWKS_REFRESH_INTERVAL": "-1h"},
		"nothing at all": {"JWT_ISSUER": "", "JWT_AUDIENCE": ""},
	} {
		env := maps.Clone(full)
		env["TENANTAPI_DIR"] = t.TempDir()
		maps.Copy(env, edit)
		for _, mode := range []string{"serve", "dev", "lambda"} {
			env := maps.Clone(env)
			if mode == "lambda" {
				env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:1" // whatever the arguments
			}
			if code, _, errs := cli(t, env, mode); code != 2 {
				t.Errorf("%s, %s: exit %d, want 2 (%s)", name, mode, code, errs)
			}
		}
	}
}

// TestJWTFetchFailureLogTraceID checks that the line about a failed JWKS
// fetch, written during a request, carries the request's trace_id like the
// request's access and error lines.
func TestJWTFetchFailureLogTraceID(t *testing.T) {
	idp := newTestIDP(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing answers at its address now
	e := setup(t, func(c *serverConfig) {
		c.AuthMode = "jwt"
		c.JWTIssuer = idp.issuer
		c.JWKSURL = gone.URL + "/jwks.json"
		c.JWTAudience = testJWTClientID
	})
	e.tenant("acme")
	const root = "1-5759e988-bd862e3fe1be46a994272793"
	r := e.do(req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "acme",
		"Authorization":   "Bearer " + idp.token(t, jwt.SigningMethodRS256, "k1", idp.key, idp.claims("acme")),
		"X-Amzn-Trace-Id": "Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1"}})
	expect(t, r, 503, "unavailable")
	seen := map[string]bool{}
	for _, m := range jsonLines(t, e.logs.String()) {
		switch m["msg"] {
		case "fetching the JWKS failed", "request failed", "request":
			if m["msg"] == "request" && m["request_id"] != r.header.Get("X-Request-ID") {
				continue
			}
			seen[m["msg"].(string)] = true
			if m["trace_id"] != root {
				t.Errorf("%q line trace_id %v, want %s", m["msg"], m["trace_id"], root)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("lines seen %v, want the fetch failure, the error and the access line:\n%s", seen, e.logs.String())
	}
}
