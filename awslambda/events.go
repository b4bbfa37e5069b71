package awslambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tenantapi/tenantapi"
)

// serveV1 serves a REST API proxy event (payload 1.0).
func (h *Handler) serveV1(ctx context.Context, payload []byte, g *tenantapi.Gateway) ([]byte, error) {
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decoding a REST API event: %w", err)
	}
	body, err := decodeBody(ev.Body, ev.IsBase64Encoded)
	if err != nil {
		return nil, err
	}
	u := &url.URL{Path: ev.Path}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
	}
	query := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			query[k] = append(query[k], vs...)
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			query.Set(k, v)
		}
	}
	u.RawQuery = query.Encode()

	header := http.Header{}
	if ev.MultiValueHeaders != nil {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				header.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			header.Add(k, v)
		}
	}

	rc := ev.RequestContext
	g.RequestID = rc.RequestID
	// requestContext.path is what the client asked for, stage (or custom
	// domain base path) included; path is the same without it.
	if strings.HasSuffix(rc.Path, u.Path) {
		g.BasePath = strings.TrimSuffix(rc.Path[:len(rc.Path)-len(u.Path)], "/")
	}
	g.Claims = flattenClaims(rc.Authorizer)

	r, err := newRequest(ctx, ev.HTTPMethod, u, header, body, rc.DomainName, rc.Identity.SourceIP, g)
	if err != nil {
		return nil, err
	}
	w := newRecorder()
	h.http.ServeHTTP(w, r)
	resp := events.APIGatewayProxyResponse{StatusCode: w.status, MultiValueHeaders: w.header}
	resp.Body, resp.IsBase64Encoded = encodeBody(w.body(r.Method), w.header.Get("Content-Type"))
	return json.Marshal(resp)
}

// serveV2 serves an HTTP API event (payload 2.0).
func (h *Handler) serveV2(ctx context.Context, payload []byte, g *tenantapi.Gateway) ([]byte, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decoding an HTTP API event: %w", err)
	}
	body, err := decodeBody(ev.Body, ev.IsBase64Encoded)
	if err != nil {
		return nil, err
	}
	raw := ev.RawPath
	if !strings.HasPrefix(raw, "/") {
		raw = "/" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host != "" || u.Scheme != "" {
		u = &url.URL{Path: raw}
	}
	u.RawQuery = ev.RawQueryString
	rc := ev.RequestContext
	// A named stage is part of rawPath; $default has no prefix.
	if st := rc.Stage; st != "" && st != "$default" {
		prefix := "/" + st
		if u.Path == prefix || strings.HasPrefix(u.Path, prefix+"/") {
			u.Path = strings.TrimPrefix(u.Path, prefix)
			u.RawPath = ""
			if u.Path == "" {
				u.Path = "/"
			}
			g.BasePath = prefix
		}
	}

	header := http.Header{}
	for k, v := range ev.Headers {
		header.Add(k, v)
	}
	if len(ev.Cookies) > 0 {
		header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	g.RequestID = rc.RequestID
	if a := rc.Authorizer; a != nil {
		claims := map[string]string{}
		if a.JWT != nil {
			for k, v := range a.JWT.Claims {
				claims[k] = v
			}
		}
		for k, v := range flattenClaims(a.Lambda) {
			claims[k] = v
		}
		if len(claims) > 0 {
			g.Claims = claims
		}
	}

	r, err := newRequest(ctx, rc.HTTP.Method, u, header, body, rc.DomainName, rc.HTTP.SourceIP, g)
	if err != nil {
		return nil, err
	}
	w := newRecorder()
	h.http.ServeHTTP(w, r)
	resp := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	for k, vs := range w.header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ", ")
	}
	resp.Body, resp.IsBase64Encoded = encodeBody(w.body(r.Method), w.header.Get("Content-Type"))
	return json.Marshal(resp)
}

func newRequest(ctx context.Context, method string, u *url.URL, header http.Header, body []byte, host, remote string, g *tenantapi.Gateway) (*http.Request, error) {
	if method == "" {
		return nil, fmt.Errorf("the event has no HTTP method")
	}
	r, err := http.NewRequestWithContext(tenantapi.WithGateway(ctx, g), strings.ToUpper(method), "/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.URL = u
	r.RequestURI = u.RequestURI()
	r.Header = header
	if tid, _ := ctx.Value(lambdaTraceKey).(string); tid != "" {
		// The invocation's X-Ray header names the function's segment as
		// parent (API Gateway's names its own); spans continue under it.
		if r.Header == nil {
			r.Header = http.Header{}
		}
		r.Header.Set("X-Amzn-Trace-Id", tid)
	}
	r.Host = host
	r.RemoteAddr = remote
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body = http.NoBody
	}
	return r, nil
}

// decodeBody returns an event's body bytes.
func decodeBody(body string, isBase64 bool) ([]byte, error) {
	if !isBase64 {
		return []byte(body), nil
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("the event body is not valid base64: %w", err)
	}
	return b, nil
}

// encodeBody returns a response body for API Gateway: as text when it is
// text, else base64.
func encodeBody(b []byte, contentType string) (string, bool) {
	if isText(contentType) {
		return string(b), false
	}
	if len(b) == 0 {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(b), true
}

func isText(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") ||
		strings.Contains(ct, "xml") || strings.Contains(ct, "javascript")
}

// flattenClaims turns an authorizer map into string claims: a Lambda
// authorizer's context values and a Cognito authorizer's "claims".
func flattenClaims(m map[string]any) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // "claims" entries win over same-named top-level ones
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			if _, taken := out[k]; !taken {
				out[k] = v
			}
		case map[string]any:
			if k == "claims" {
				for ck, cv := range v {
					if s, ok := cv.(string); ok {
						out[ck] = s
					}
				}
			}
		case float64, bool:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// recorder is an http.ResponseWriter that keeps the response in memory.
type recorder struct {
	header http.Header
	status int
	buf    bytes.Buffer
	wrote  bool
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, status: http.StatusOK} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.buf.Write(b)
}

// body returns the response body; a HEAD response has none.
func (w *recorder) body(method string) []byte {
	if method == http.MethodHead {
		return nil
	}
	return w.buf.Bytes()
}

// lambdaTraceKey is the context key under which aws-lambda-go puts the
// invocation's X-Ray trace header (it uses a plain string).
const lambdaTraceKey = "x-amzn-trace-id"
