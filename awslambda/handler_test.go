package awslambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantapi/tenantapi"
)

// seen is what the echo handler reports about the request it got.
type seen struct {
	Method, Path, RawQuery, Body, Tenant, Auth, Cookie string
	Gateway                                            tenantapi.Gateway
}

func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: string(b),
			Tenant: r.Header.Get("X-Tenant-ID"), Auth: r.Header.Get("Authorization"), Cookie: r.Header.Get("Cookie")}
		if g := tenantapi.GatewayFrom(r.Context()); g != nil {
			s.Gateway = *g
		}
		w.Header().Add("Vary", "A")
		w.Header().Add("Vary", "B")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/binary" {
			w.Header().Set("Content-Type", "image/png")
		}
		w.WriteHeader(http.StatusTeapot)
		json.NewEncoder(w).Encode(s)
	})
}

type response struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

func invoke(t *testing.T, h *Handler, event string) (response, seen) {
	t.Helper()
	out, err := h.Invoke(context.Background(), []byte(event))
	if err != nil {
		t.Fatal(err)
	}
	var r response
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	body := r.Body
	if r.IsBase64Encoded {
		b, _ := base64.StdEncoding.DecodeString(body)
		body = string(b)
	}
	var s seen
	json.Unmarshal([]byte(body), &s)
	return r, s
}

func TestRESTEvent(t *testing.T) {
	h := NewHandler(echo(), nil)
	r, s := invoke(t, h, `{
	  "httpMethod": "post", "path": "/items/a b%",
	  "headers": {"x-tenant-id": "acme"},
	  "multiValueHeaders": {"x-tenant-id": ["acme"], "AUTHORIZATION": ["Bearer k"]},
	  "multiValueQueryStringParameters": {"limit": ["5"], "q": ["a&b"]},
	  "body": "eyJuYW1lIjoieCJ9", "isBase64Encoded": true,
	  "requestContext": {"requestId": "gw-1", "path": "/v1/api/items/a b%", "stage": "prod",
	    "authorizer": {"claims": {"custom:tenant_id": "acme"}, "principalId": "u1", "tenant": "t"}}}`)
	if r.StatusCode != http.StatusTeapot || r.MultiValueHeaders["Vary"][1] != "B" {
		t.Errorf("response %+v", r)
	}
	if s.Method != "POST" || s.Path != "/items/a b%" || s.Body != `{"name":"x"}` || s.Tenant != "acme" || s.Auth != "Bearer k" {
		t.Errorf("request %+v", s)
	}
	if s.RawQuery != "limit=5&q=a%26b" {
		t.Errorf("query %q", s.RawQuery)
	}
	g := s.Gateway
	if g.RequestID != "gw-1" || g.BasePath != "/v1/api" || g.Claims["custom:tenant_id"] != "acme" || g.Claims["principalId"] != "u1" || !g.ColdStart {
		t.Errorf("gateway %+v", g)
	}
	_, s = invoke(t, h, `{"httpMethod":"GET","path":"/items","requestContext":{"path":"/items"}}`)
	if s.Gateway.BasePath != "" || s.Gateway.ColdStart {
		t.Errorf("second call %+v", s.Gateway)
	}
}

func TestHTTPAPIEvent(t *testing.T) {
	h := NewHandler(echo(), nil)
	r, s := invoke(t, h, `{
	  "version": "2.0", "rawPath": "/prod/items", "rawQueryString": "limit=5&cursor=abc",
	  "cookies": ["c=1", "d=2"], "headers": {"x-tenant-id": "acme", "authorization": "Bearer k"},
	  "body": "{}", "isBase64Encoded": false,
	  "requestContext": {"requestId": "gw-2", "stage": "prod", "http": {"method": "GET"},
	    "authorizer": {"jwt": {"claims": {"custom:tenant_id": "acme"}}}}}`)
	if r.StatusCode != http.StatusTeapot || r.Headers["Vary"] != "A, B" || len(r.Cookies) != 1 || r.Cookies[0] != "a=1" {
		t.Errorf("response %+v", r)
	}
	if s.Path != "/items" || s.RawQuery != "limit=5&cursor=abc" || s.Cookie != "c=1; d=2" || s.Tenant != "acme" {
		t.Errorf("request %+v", s)
	}
	if s.Gateway.BasePath != "/prod" || s.Gateway.Claims["custom:tenant_id"] != "acme" {
		t.Errorf("gateway %+v", s.Gateway)
	}
	_, s = invoke(t, h, `{"version":"2.0","rawPath":"/items","requestContext":{"stage":"$default","http":{"method":"GET"},
	  "authorizer":{"lambda":{"tenant_id":"acme","n":3}}}}`)
	if s.Path != "/items" || s.Gateway.BasePath != "" || s.Gateway.Claims["tenant_id"] != "acme" || s.Gateway.Claims["n"] != "3" {
		t.Errorf("default stage %+v", s)
	}
}

func TestBinaryAndHeadResponses(t *testing.T) {
	h := NewHandler(echo(), nil)
	r, _ := invoke(t, h, `{"httpMethod":"GET","path":"/binary","requestContext":{}}`)
	if !r.IsBase64Encoded {
		t.Error("a binary body was not base64-encoded")
	}
	r, _ = invoke(t, h, `{"httpMethod":"HEAD","path":"/items","requestContext":{}}`)
	if r.Body != "" {
		t.Errorf("HEAD answered a body: %q", r.Body)
	}
}

func TestDirectInvocations(t *testing.T) {
	h := NewHandler(echo(), func(ctx context.Context, command string, args []string) (json.RawMessage, error) {
		if command == "fail" {
			return nil, io.ErrUnexpectedEOF
		}
		return json.RawMessage(`{"command":"` + command + `","args":"` + strings.Join(args, " ") + `"}`), nil
	})
	out, err := h.Invoke(context.Background(), []byte(`{"command":"tenants","args":["list"]}`))
	if err != nil || string(out) != `{"command":"tenants","ok":true,"result":{"command":"tenants","args":"list"}}` {
		t.Errorf("%s %v", out, err)
	}
	out, _ = h.Invoke(context.Background(), []byte(`{"command":"fail"}`))
	if !strings.Contains(string(out), `"ok":false`) || !strings.Contains(string(out), "unexpected EOF") {
		t.Errorf("failure: %s", out)
	}
	if _, err := h.Invoke(context.Background(), []byte(`{"hello":"world"}`)); err != ErrUnknownEvent {
		t.Errorf("unknown event: %v", err)
	}
	if _, err := h.Invoke(context.Background(), []byte(`[`)); err != ErrUnknownEvent {
		t.Errorf("not JSON: %v", err)
	}
}
