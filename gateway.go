package tenantapi

import "context"

// Gateway is what a front door (Amazon API Gateway through the Lambda
// adapter) knows about a request that plain HTTP does not carry. The adapter
// puts it in the request context; the HTTP layer reads it.
type Gateway struct {
	// RequestID is API Gateway's request id, used as the X-Request-ID when
	// the caller sent none.
	RequestID string
	// BasePath is the path prefix the client sees before the routes, such as
	// "/prod" for a REST API stage; "" when there is none.
	BasePath string
	// Claims are the authorizer's claims or context values, flattened to
	// strings; nil when the request had no authorizer.
	Claims map[string]string
	// LambdaRequestID is the Lambda invocation's request id.
	LambdaRequestID string
	// ColdStart is true for the first invocation of an execution environment.
	ColdStart bool
}

type gatewayKey struct{}

// WithGateway returns ctx carrying g.
func WithGateway(ctx context.Context, g *Gateway) context.Context {
	return context.WithValue(ctx, gatewayKey{}, g)
}

// GatewayFrom returns the Gateway in ctx, or nil for a plain HTTP request.
func GatewayFrom(ctx context.Context) *Gateway {
	g, _ := ctx.Value(gatewayKey{}).(*Gateway)
	return g
}
