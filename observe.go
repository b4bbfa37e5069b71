package tenantapi

import "time"

// RequestInfo is what metrics learn about one answered request. The HTTP
// layer fills it in; metrics adapters (Prometheus, CloudWatch EMF) read it.
type RequestInfo struct {
	// Route is the matched route pattern ("/items/{id}"), never the
	// raw path; "unmatched" when no route matched.
	Route  string
	Method string
	Status int
	// Tenant is the tenant the request named ("" for none): X-Tenant-ID
	// once well formed, or an admin path's {id}.
	Tenant TenantID
	// ErrorCode is the problem code of an error response, else "".
	ErrorCode Code
	Duration  time.Duration
	// DBTime is the time spent in database calls (see QueryTimer).
	DBTime time.Duration
}
