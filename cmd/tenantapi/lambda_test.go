package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/awslambda"
)

const (
	ownerSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantapi/owner-AbCdEf"
	adminSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantapi/admin-XyZ123"
)

// rie is the bootstrap running under AWS's Runtime Interface Emulator.
type rie struct {
	t      *testing.T
	url    string
	out    *syncBuffer
	cancel context.CancelFunc
}

// buildLambda builds the bootstrap (this binary, for this machine) and the
// emulator pinned in go.mod into dir.
func buildLambda(t *testing.T, dir string) (bootstrap, emulator string) {
	t.Helper()
	bootstrap = filepath.Join(dir, "bootstrap")
	goBuild(t, "-tags", "lambda.norpc", "-o", bootstrap, ".")
	return bootstrap, buildEmulator(t, dir)
}

// buildEmulator builds the Runtime Interface Emulator pinned in go.mod into dir.
func buildEmulator(t *testing.T, dir string) string {
	t.Helper()
	emulator := filepath.Join(dir, "aws-lambda-rie")
	goBuild(t, "-o", emulator, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
	return emulator
}

func goBuild(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRIE starts the emulator with the bootstrap and waits until it accepts
// connections. The function itself starts at the first invocation. A port
// that another process took between freeAddr and the emulator's bind is
// tried again with others, three times at most.
func startRIE(t *testing.T, bootstrap, emulator string, env map[string]string) *rie {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r, portTaken := tryRIE(t, bootstrap, emulator, env)
		if r != nil {
			return r
		}
		if !portTaken || attempt == 3 {
			t.Fatal("the emulator did not start")
		}
	}
}

// tryRIE is one attempt of startRIE: the emulator, or nil and whether it
// exited because a port was taken.
func tryRIE(t *testing.T, bootstrap, emulator string, env map[string]string) (*rie, bool) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, emulator, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", freeAddr(t), bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r := &rie{t: t, url: "http://" + addr + "/2015-03-31/functions/function/invocations", out: out, cancel: cancel}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			cancel()
			taken := strings.Contains(out.String(), "address already in use")
			if !taken {
				t.Logf("emulator and function output:\n%s", out.String())
			}
			return nil, taken
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Cleanup(func() {
				cancel()
				<-exited
				if t.Failed() {
					t.Logf("emulator and function output:\n%s", out.String())
				}
			})
			return r, false
		}
	}
	cancel()
	<-exited
	t.Logf("emulator and function output:\n%s", out.String())
	return nil, false
}

// invoke sends one event and returns the function's answer.
func (r *rie) invoke(event any) []byte {
	r.t.Helper()
	status, out := r.post(event)
	if status != 200 {
		r.t.Fatalf("invoke: %d %s", status, out)
	}
	return out
}

// post sends one event and returns the emulator's status and body as they are.
func (r *rie) post(event any) (int, []byte) {
	r.t.Helper()
	b, err := json.Marshal(event)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := http.Post(r.url, "application/json", bytes.NewReader(b))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// command sends a direct invocation and returns its result.
func (r *rie) command(name string, args ...string) map[string]any {
	r.t.Helper()
	var out struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	raw := r.invoke(map[string]any{"command": name, "args": args})
	if err := json.Unmarshal(raw, &out); err != nil || !out.OK {
		r.t.Fatalf("%s %v: %s", name, args, raw)
	}
	var m map[string]any
	json.Unmarshal(out.Result, &m)
	return m
}

// gwResponse is an API Gateway proxy response of either payload version.
type gwResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

func (g gwResponse) header(name string) string {
	for k, vs := range g.MultiValueHeaders {
		if strings.EqualFold(k, name) {
			return strings.Join(vs, ", ")
		}
	}
	for k, v := range g.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (g gwResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(g.Body), &m); err != nil {
		t.Fatalf("body %q: %v", g.Body, err)
	}
	return m
}

// restEvent is a REST API (payload 1.0) event for stage prod; headers are
// sent in both maps with the case given.
func restEvent(method, path string, headers map[string]string, query map[string][]string, body string, b64 bool) map[string]any {
	mv := map[string][]string{}
	for k, v := range headers {
		mv[k] = []string{v}
	}
	sq := map[string]string{}
	for k, vs := range query {
		sq[k] = vs[len(vs)-1]
	}
	if b64 {
		body = base64.StdEncoding.EncodeToString([]byte(body))
	}
	return map[string]any{
		"resource": "/{proxy+}", "path": path, "httpMethod": method,
		"headers": headers, "multiValueHeaders": mv,
		"queryStringParameters": sq, "multiValueQueryStringParameters": query,
		"body": body, "isBase64Encoded": b64,
		"requestContext": map[string]any{
			"requestId": "rest-" + fmt.Sprint(time.Now().UnixNano()), "stage": "prod",
			"path": "/prod" + path, "httpMethod": method, "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
			"identity": map[string]any{"sourceIp": "203.0.113.9"},
		},
	}
}

// httpEvent is an HTTP API (payload 2.0) event for stage prod.
func httpEvent(method, path string, headers map[string]string, rawQuery, body string) map[string]any {
	return map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": "/prod" + path, "rawQueryString": rawQuery,
		"headers": headers, "body": body, "isBase64Encoded": false,
		"requestContext": map[string]any{
			"requestId": "http-" + fmt.Sprint(time.Now().UnixNano()), "stage": "prod", "domainName": "xyz.execute-api.eu-west-1.amazonaws.com",
			"http": map[string]any{"method": method, "path": "/prod" + path, "sourceIp": "203.0.113.9"},
		},
	}
}

func (r *rie) api(event map[string]any) gwResponse {
	r.t.Helper()
	var g gwResponse
	raw := r.invoke(event)
	if err := json.Unmarshal(raw, &g); err != nil || g.StatusCode == 0 {
		r.t.Fatalf("not a proxy response: %s", raw)
	}
	if g.IsBase64Encoded {
		b, _ := base64.StdEncoding.DecodeString(g.Body)
		g.Body = string(b)
	}
	return g
}

// TestLambdaUnderEmulator runs the real bootstrap under the Runtime
// Interface Emulator, with credentials from a local Secrets Manager
// endpoint, through direct invocations and both API Gateway payloads, then
// rotates the database password under it.
func TestLambdaUnderEmulator(t *testing.T) {
	t.Parallel()
	bootstrap, emulator := buildLambda(t, t.TempDir())

	// An owner role whose password the test can rotate, owning a fresh database.
	owner := newRotatableOwner(t, "lambda_owner")
	sm := owner.sm
	sm.Put(adminSecretARN, testAdminToken)
	fnEnv := owner.env()
	maps.Copy(fnEnv, map[string]string{
		"ADMIN_TOKEN_SECRET_ARN": adminSecretARN,
		"CORS_ALLOWED_ORIGINS":   "https://app.example.com", "LOG_LEVEL": "info",
	})
	fn := startRIE(t, bootstrap, emulator, fnEnv)

	// Direct invocations: migrate, then a tenant and its key.
	if m := fn.command("migrate"); m["complete"] != true {
		t.Fatalf("migrate: %v", m)
	}
	if m := fn.command("tenants", "create", "acme", "--name", "Acme"); m["id"] != "acme" {
		t.Fatalf("tenant: %v", m)
	}
	fn.command("tenants", "create", "other")
	key := fn.command("keys", "create", "acme")["key"].(string)
	otherKey := fn.command("keys", "create", "other")["key"].(string)

	// REST API (1.0): lowercase and mixed-case headers, a base64 body, the stage prefix.
	r := fn.api(restEvent("POST", "/items", map[string]string{
		"x-tenant-id": "acme", "AuThOrIzAtIoN": "Bearer " + key, "content-type": "application/json",
	}, nil, `{"name":"from lambda","attributes":{"k":[1,2]}}`, true))
	if r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, r.Body)
	}
	id := r.json(t)["id"].(string)
	if loc := r.header("Location"); loc != "/prod/items/"+id {
		t.Errorf("Location %q, want the stage prefix", loc)
	}
	if rid := r.header("X-Request-ID"); !strings.HasPrefix(rid, "rest-") {
		t.Errorf("X-Request-ID %q is not API Gateway's request id", rid)
	}
	acme := map[string]string{"X-Tenant-Id": "acme", "authorization": "Bearer " + key}
	r = fn.api(restEvent("GET", "/items/"+id, acme, nil, "", false))
	if r.StatusCode != 200 || r.header("ETag") != `"1"` || r.json(t)["name"] != "from lambda" {
		t.Fatalf("get: %d %v %s", r.StatusCode, r.MultiValueHeaders, r.Body)
	}
	r = fn.api(restEvent("GET", "/items", acme, map[string][]string{"limit": {"10"}}, "", false))
	if r.StatusCode != 200 || len(r.json(t)["items"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.StatusCode, r.Body)
	}
	r = fn.api(restEvent("GET", "/items", acme, map[string][]string{"limit": {"1", "2"}}, "", false))
	if r.StatusCode != 400 {
		t.Errorf("repeated query parameter: %d", r.StatusCode)
	}

	// HTTP API (2.0).
	h2 := map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + key, "content-type": "application/json", "if-match": `"1"`}
	r = fn.api(httpEvent("PUT", "/items/"+id, h2, "", `{"name":"renamed"}`))
	if r.StatusCode != 200 || r.json(t)["version"] != 2.0 || r.header("etag") != `"2"` {
		t.Fatalf("put (2.0): %d %s", r.StatusCode, r.Body)
	}
	r = fn.api(httpEvent("GET", "/items", h2, "limit=5", ""))
	if r.StatusCode != 200 || !strings.Contains(r.Body, "renamed") {
		t.Fatalf("list (2.0): %d %s", r.StatusCode, r.Body)
	}
	r = fn.api(httpEvent("POST", "/items", map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + key, "content-type": "application/json"}, "", `{"name":"second"}`))
	if r.StatusCode != 201 || !strings.HasPrefix(r.header("location"), "/prod/items/") {
		t.Fatalf("create (2.0): %d %v", r.StatusCode, r.Headers)
	}

	// Errors: a missing tenant, a spoofed tenant, a CORS preflight.
	r = fn.api(restEvent("GET", "/items", map[string]string{"authorization": "Bearer " + key}, nil, "", false))
	if r.StatusCode != 400 || r.json(t)["code"] != "missing-tenant-id" {
		t.Errorf("missing tenant: %d %s", r.StatusCode, r.Body)
	}
	r = fn.api(httpEvent("GET", "/items/"+id, map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + otherKey}, "", ""))
	if r.StatusCode != 403 || r.json(t)["code"] != "forbidden" {
		t.Errorf("spoofed tenant: %d %s", r.StatusCode, r.Body)
	}
	r = fn.api(restEvent("OPTIONS", "/items", map[string]string{"origin": "https://app.example.com", "access-control-request-method": "POST"}, nil, "", false))
	if r.StatusCode != 204 || r.header("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("preflight: %d %v", r.StatusCode, r.MultiValueHeaders)
	}
	r = fn.api(restEvent("DELETE", "/items/"+id, acme, nil, "", false))
	if r.StatusCode != 204 {
		t.Errorf("delete: %d %s", r.StatusCode, r.Body)
	}

	// The access line names the request's trace. The emulator sends no
	// Lambda-Runtime-Trace-Id, so the X-Amzn-Trace-Id of the event (API
	// Gateway's) is the one taken here; a traceparent without it.
	traced := maps.Clone(acme)
	traced["X-Request-ID"], traced["X-Amzn-Trace-Id"] = "lambda-trace-1", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	if r := fn.api(restEvent("GET", "/items", traced, nil, "", false)); r.StatusCode != 200 {
		t.Errorf("traced get: %d %s", r.StatusCode, r.Body)
	}
	h2traced := map[string]string{"x-tenant-id": "acme", "authorization": "Bearer " + key,
		"x-request-id": "lambda-trace-2", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	if r := fn.api(httpEvent("GET", "/items", h2traced, "", "")); r.StatusCode != 200 {
		t.Errorf("traced get (2.0): %d %s", r.StatusCode, r.Body)
	}
	waitFor(t, fn.out, regexp.MustCompile(`"msg":"request","request_id":"lambda-trace-1",[^\n]*"trace_id":"1-5759e988-bd862e3fe1be46a994272793"`))
	waitFor(t, fn.out, regexp.MustCompile(`"msg":"request","request_id":"lambda-trace-2",[^\n]*"trace_id":"0af7651916cd43dd8448eb211c80319c"`))

	// Warm invocations reuse the cached secret.
	var warm []time.Duration
	for i := 0; i < 21; i++ {
		s := time.Now()
		if r := fn.api(restEvent("GET", "/items", acme, nil, "", false)); r.StatusCode != 200 {
			t.Fatalf("warm get: %d", r.StatusCode)
		}
		warm = append(warm, time.Since(s))
	}
	if n := sm.Calls(ownerSecretARN); n != 1 {
		t.Errorf("the owner secret was fetched %d times across warm invocations, want 1", n)
	}
	slices.Sort(warm)

	// Rotate the password under the function: change the role, the secret,
	// and drop the live connections so new ones must authenticate.
	owner.rotate(t)
	failures := 0
	for i := 0; i < 5; i++ {
		if r := fn.api(restEvent("GET", "/items", acme, nil, "", false)); r.StatusCode != 200 {
			failures++
			if r.StatusCode != 503 {
				t.Errorf("during rotation: %d %s", r.StatusCode, r.Body)
			}
		}
	}
	if failures > 1 {
		t.Errorf("%d requests failed after the rotation; want at most the one in flight", failures)
	}
	if n := sm.Calls(ownerSecretARN); n != 2 {
		t.Errorf("the secret was fetched %d times in all, want 2 (start, then once after the rotation)", n)
	}
	if r := fn.api(restEvent("GET", "/items", acme, nil, "", false)); r.StatusCode != 200 {
		t.Fatalf("after rotation: %d %s", r.StatusCode, r.Body)
	}
	if strings.Contains(fn.out.String(), "second-password") || strings.Contains(fn.out.String(), key) {
		t.Error("the function's output shows a secret")
	}

	// Cold start of a tenant request in a fresh execution environment: the
	// bootstrap process starts, fetches the secret, connects, authenticates
	// the key and reads the items.
	fresh := startRIE(t, bootstrap, emulator, fnEnv)
	start := time.Now()
	if r := fresh.api(restEvent("GET", "/items", acme, nil, "", false)); r.StatusCode != 200 {
		t.Fatalf("cold request: %d %s", r.StatusCode, r.Body)
	}
	cold := time.Since(start)
	t.Logf("cold start (process start to first answer, secret fetch and first connection included): %v; warm median: %v", cold, warm[len(warm)/2])
}

// TestGatewayAuthMode serves API Gateway events in AUTH_MODE=gateway: the
// tenant comes from the authorizer's claim and must equal X-Tenant-ID.
func TestGatewayAuthMode(t *testing.T) {
	e := setup(t, func(c *serverConfig) { c.AuthMode = "gateway" })
	expect(t, e.admin("POST", "/admin/tenants", `{"id":"acme","name":"Acme"}`), 201, "")
	h := awslambda.NewHandler(e.api, nil)
	call := func(event map[string]any) gwResponse {
		t.Helper()
		raw, err := h.Invoke(context.Background(), mustMarshal(t, event))
		if err != nil {
			t.Fatal(err)
		}
		var g gwResponse
		json.Unmarshal(raw, &g)
		return g
	}
	withClaims := func(ev map[string]any, auth map[string]any) map[string]any {
		ev["requestContext"].(map[string]any)["authorizer"] = auth
		return ev
	}
	cognito := map[string]any{"claims": map[string]any{"custom:tenant_id": "acme", "sub": "u-1"}}
	r := call(withClaims(restEvent("POST", "/items", map[string]string{"X-Tenant-ID": "acme", "Content-Type": "application/json"}, nil, `{"name":"a"}`, false), cognito))
	if r.StatusCode != 201 {
		t.Fatalf("Cognito claim: %d %s", r.StatusCode, r.Body)
	}
	lambdaAuth := map[string]any{"custom:tenant_id": "acme", "principalId": "p"}
	if r := call(withClaims(restEvent("GET", "/items", map[string]string{"X-Tenant-ID": "acme"}, nil, "", false), lambdaAuth)); r.StatusCode != 200 {
		t.Errorf("Lambda authorizer context: %d %s", r.StatusCode, r.Body)
	}
	if r := call(withClaims(restEvent("GET", "/items", map[string]string{"X-Tenant-ID": "other"}, nil, "", false), cognito)); r.StatusCode != 403 {
		t.Errorf("another tenant's claim: %d %s", r.StatusCode, r.Body)
	}
	if r := call(restEvent("GET", "/items", map[string]string{"X-Tenant-ID": "acme"}, nil, "", false)); r.StatusCode != 401 {
		t.Errorf("no claim: %d %s", r.StatusCode, r.Body)
	}
	// Outside Lambda there is no authorizer: every tenant request is 401.
	expect(t, e.do(req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": "acme"}}), 401, "unauthorized")
	if code, _, _ := cli(t, map[string]string{"AUTH_MODE": "gateway", "DATABASE_URL": e.url}, "serve"); code != 2 {
		t.Errorf("serve accepted AUTH_MODE=gateway: exit %d", code)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLambdaTraceIDInLog serves API Gateway events through the Lambda
// handler with the context aws-lambda-go gives an invocation: the access
// line names the invocation's X-Ray trace, over API Gateway's header and a
// caller's traceparent; without an invocation header, the event's
// X-Amzn-Trace-Id, then its traceparent, then none.
func TestLambdaTraceIDInLog(t *testing.T) {
	logs := &syncBuffer{}
	api, err := newAPI(newEnv(func(string) string { return "" }).server(), nil, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := awslambda.NewHandler(api, nil)
	const (
		lambdaHeader  = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
		gatewayHeader = "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=1111111111111111;Sampled=1"
		traceparent   = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	)
	// aws-lambda-go puts the invocation's Lambda-Runtime-Trace-Id here.
	invocation := context.WithValue(context.Background(), "x-amzn-trace-id", lambdaHeader) //lint:ignore SA1029 aws-lambda-go's own key is this string
	both := map[string]string{"X-Amzn-Trace-Id": gatewayHeader, "traceparent": traceparent}
	tests := []struct {
		name  string
		ctx   context.Context
		event map[string]any
		want  string
	}{
		{"invocation, REST", invocation, restEvent("GET", "/healthz", both, nil, "", false), "1-5759e988-bd862e3fe1be46a994272793"},
		{"invocation, HTTP API", invocation, httpEvent("GET", "/healthz", map[string]string{"traceparent": traceparent}, "", ""), "1-5759e988-bd862e3fe1be46a994272793"},
		{"API Gateway's header", context.Background(), restEvent("GET", "/healthz", both, nil, "", false), "1-5759e988-bd862e3fe1be46a994272794"},
		{"traceparent", context.Background(), httpEvent("GET", "/healthz", map[string]string{"traceparent": traceparent}, "", ""), "0af7651916cd43dd8448eb211c80319c"},
		{"none", context.Background(), httpEvent("GET", "/healthz", nil, "", ""), ""},
	}
	for _, tc := range tests {
		before := len(logs.String())
		if _, err := h.Invoke(tc.ctx, mustMarshal(t, tc.event)); err != nil {
			t.Fatal(err)
		}
		lines := jsonLines(t, logs.String()[before:])
		if len(lines) != 1 || lines[0]["msg"] != "request" {
			t.Fatalf("%s: log %q", tc.name, logs.String()[before:])
		}
		if got, ok := lines[0]["trace_id"]; tc.want == "" && ok || tc.want != "" && got != tc.want {
			t.Errorf("%s: trace_id %v, want %q", tc.name, got, tc.want)
		}
	}
}
