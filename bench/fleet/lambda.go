package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/tenantapi/tenantapi/internal/fakesecrets"
)

const (
	ownerARN   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench/owner-AbCdEf"
	runtimeARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench/runtime-AbCdEf"
)

// lambdaResult is the bootstrap's cold start and warm latency under the
// Runtime Interface Emulator, as a client of the emulator sees them.
type lambdaResult struct {
	// ColdMs are the first invocations of fresh execution environments:
	// process start, secrets fetched from the local Secrets Manager
	// endpoint, first database connection, key lookup and the item read.
	ColdMs       []float64 `json:"cold_ms"`
	ColdMedianMs float64   `json:"cold_median_ms"`
	// WarmMedianMs and WarmP90Ms are later invocations of one environment.
	WarmMedianMs float64 `json:"warm_median_ms"`
	WarmP90Ms    float64 `json:"warm_p90_ms"`
	Warm         int     `json:"warm_invocations"`
	Request      string  `json:"request"`
	TenantRoles  bool    `json:"tenant_roles"`
}

func coldStart(args []string) (any, error) {
	fs := flag.NewFlagSet("lambda", flag.ExitOnError)
	bootstrap := fs.String("bootstrap", "", "the tenantapi bootstrap")
	emulator := fs.String("emulator", "", "aws-lambda-rie")
	host := fs.String("db-host", "127.0.0.1", "database host")
	port := fs.String("db-port", "5432", "database port")
	name := fs.String("db-name", "", "database name")
	ownerUser := fs.String("owner-user", "", "owner role")
	ownerPass := fs.String("owner-password", "", "owner password")
	runtimeUser := fs.String("runtime-user", "", "runtime role")
	runtimePass := fs.String("runtime-password", "", "runtime password")
	tenant := fs.String("tenant", "", "tenant id")
	key := fs.String("key", "", "the tenant's API key")
	item := fs.String("item", "", "an item id of the tenant")
	colds := fs.Int("cold", 5, "cold starts to measure")
	warm := fs.Int("warm", 50, "warm invocations to measure")
	tenantRoles := fs.Bool("tenant-roles", true, "DB_TENANT_ROLES of the function")
	fs.Parse(args)

	sm := fakesecrets.Start()
	defer sm.Close()
	sm.Put(ownerARN, fmt.Sprintf(`{"username":%q,"password":%q}`, *ownerUser, *ownerPass))
	sm.Put(runtimeARN, fmt.Sprintf(`{"username":%q,"password":%q}`, *runtimeUser, *runtimePass))
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"DB_SECRET_ARN=" + ownerARN, "DB_RUNTIME_SECRET_ARN=" + runtimeARN,
		"DB_HOST=" + *host, "DB_PORT=" + *port, "DB_NAME=" + *name, "DB_SSLMODE=disable",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + sm.URL, "AWS_REGION=eu-west-1",
		"AWS_ACCESS_KEY_ID=AKIDBENCH", "AWS_SECRET_ACCESS_KEY=bench-secret", "AWS_EC2_METADATA_DISABLED=true",
		"LOG_LEVEL=info", "DB_TENANT_ROLES=" + strconv.FormatBool(*tenantRoles),
	}
	event, _ := json.Marshal(map[string]any{
		"resource": "/{proxy+}", "path": "/items/" + *item, "httpMethod": "GET",
		"headers":           map[string]string{"X-Tenant-ID": *tenant, "Authorization": "Bearer " + *key},
		"multiValueHeaders": map[string][]string{"X-Tenant-ID": {*tenant}, "Authorization": {"Bearer " + *key}},
		"requestContext": map[string]any{"requestId": "bench", "stage": "prod", "path": "/prod/items/" + *item,
			"httpMethod": "GET", "identity": map[string]any{"sourceIp": "203.0.113.9"}},
	})
	res := lambdaResult{Request: "REST API (payload 1.0) GET /items/{id} with an API key", TenantRoles: *tenantRoles}
	var warmMs []float64
	for i := range *colds {
		url, stop, err := startEmulator(*emulator, *bootstrap, env)
		if err != nil {
			return nil, err
		}
		ms, err := invoke(url, event)
		if err != nil {
			stop()
			return nil, fmt.Errorf("cold invocation: %w", err)
		}
		res.ColdMs = append(res.ColdMs, ms)
		if i == 0 {
			for range *warm {
				ms, err := invoke(url, event)
				if err != nil {
					stop()
					return nil, fmt.Errorf("warm invocation: %w", err)
				}
				warmMs = append(warmMs, ms)
			}
		}
		stop()
	}
	res.ColdMedianMs = median(res.ColdMs)
	res.Warm = len(warmMs)
	res.WarmMedianMs = median(warmMs)
	if len(warmMs) > 0 {
		slices.Sort(warmMs)
		res.WarmP90Ms = warmMs[len(warmMs)*9/10]
	}
	return res, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// startEmulator starts the emulator with the bootstrap and waits until it
// accepts connections; the bootstrap itself starts at the first invocation.
func startEmulator(emulator, bootstrap string, env []string) (string, func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	api, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, emulator, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		cancel()
		return "", nil, err
	}
	stop := func() { cancel(); cmd.Wait() }
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr + "/2015-03-31/functions/function/invocations", stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("the emulator did not start")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// invoke sends the event and returns how long the answer took, checking
// that it is a 200 proxy response.
func invoke(url string, event []byte) (float64, error) {
	start := time.Now()
	resp, err := http.Post(url, "application/json", bytes.NewReader(event))
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ms := float64(time.Since(start).Microseconds()) / 1000
	var out struct {
		StatusCode int `json:"statusCode"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &out) != nil || out.StatusCode != 200 {
		return 0, fmt.Errorf("answer %d: %s", resp.StatusCode, truncate(body))
	}
	return ms, nil
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return strconv.Quote(string(b))
}
