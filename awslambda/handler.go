// Package awslambda serves AWS Lambda invocations with the same http.Handler
// that serves HTTP: API Gateway REST API events (payload 1.0) and HTTP API
// events (payload 2.0), told apart by the event itself, plus direct
// invocations ({"command": …}) that run operator commands.
package awslambda

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tenantapi/tenantapi"
)

// Commands runs an operator command of a direct invocation ("migrate",
// "tenants", "keys") with the CLI's arguments and returns its JSON result.
type Commands func(ctx context.Context, command string, args []string) (json.RawMessage, error)

// Handler is a lambda.Handler: it decodes each invocation, serves it and
// encodes the answer.
type Handler struct {
	http     http.Handler
	commands Commands
	invoked  atomic.Bool
}

// NewHandler returns a Handler that serves API Gateway events with h and
// direct invocations with commands (nil refuses them).
func NewHandler(h http.Handler, commands Commands) *Handler {
	return &Handler{http: h, commands: commands}
}

// probe holds the fields that tell the kinds of event apart.
type probe struct {
	Version    string          `json:"version"`
	HTTPMethod string          `json:"httpMethod"`
	Command    string          `json:"command"`
	Args       []string        `json:"args"`
	RC         json.RawMessage `json:"requestContext"`
}

// ErrUnknownEvent is returned for a payload that is neither an API Gateway
// event nor a direct invocation.
var ErrUnknownEvent = errors.New("unrecognised event: want an API Gateway REST (1.0) or HTTP API (2.0) event, or {\"command\": …}")

// Invoke serves one invocation.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var p probe
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, ErrUnknownEvent
	}
	cold := !h.invoked.Swap(true)
	g := &tenantapi.Gateway{ColdStart: cold}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		g.LambdaRequestID = lc.AwsRequestID
	}
	switch {
	case p.Command != "" && len(p.RC) == 0:
		return h.direct(ctx, p.Command, p.Args)
	case p.Version == "2.0":
		return h.serveV2(ctx, payload, g)
	case p.HTTPMethod != "":
		return h.serveV1(ctx, payload, g)
	}
	return nil, ErrUnknownEvent
}

// directResult is the answer to a direct invocation.
type directResult struct {
	Command string          `json:"command"`
	OK      bool            `json:"ok"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   string          `json:"error,omitempty"`
}

func (h *Handler) direct(ctx context.Context, command string, args []string) ([]byte, error) {
	out := directResult{Command: command}
	if h.commands == nil {
		out.Error = "direct invocations are not enabled"
		return json.Marshal(out)
	}
	res, err := h.commands(ctx, command, args)
	out.Result = res
	if err != nil {
		out.Error = err.Error()
	} else {
		out.OK = true
	}
	return json.Marshal(out)
}
