package awslambda

import (
	"context"
	"net/http"
	"testing"
)

// TestTraceHeaderFromInvocation checks that the invocation's X-Ray header,
// which aws-lambda-go puts in the context, reaches the request, overriding
// API Gateway's, so that spans join the function's segment.
func TestTraceHeaderFromInvocation(t *testing.T) {
	var got []string
	h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("X-Amzn-Trace-Id"))
	}), nil)
	const lambdaHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	ctx := context.WithValue(context.Background(), lambdaTraceKey, lambdaHeader) //lint:ignore SA1029 aws-lambda-go's own key is this string
	events := []string{
		`{"httpMethod":"GET","path":"/x","headers":{"X-Amzn-Trace-Id":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=1111111111111111;Sampled=1"},"requestContext":{}}`,
		`{"version":"2.0","rawPath":"/x","requestContext":{"http":{"method":"GET"}}}`,
	}
	for _, ev := range events {
		if _, err := h.Invoke(ctx, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Invoke(context.Background(), []byte(`{"httpMethod":"GET","path":"/x","headers":{"X-Amzn-Trace-Id":"Root=1-abc"},"requestContext":{}}`)); err != nil {
		t.Fatal(err)
	}
	want := []string{lambdaHeader, lambdaHeader, "Root=1-abc"}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("trace headers %q, want %q", got, want)
		}
	}
}
