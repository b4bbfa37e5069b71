package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
)

const fleetDatabase = "fleet"

// fleet measures provisioning through the admin API (in a database of its
// own, so the load runs' data set stays as it was), the Lambda cold start,
// and last, because it changes every tenant's schema, migrating all the
// provisioned tenants with one new migration.
func (h *harness) fleet(ctx context.Context) map[string]any {
	out := map[string]any{}
	n := 1000
	if h.o.quick {
		n = 20
	}
	out["provision"] = h.fleetProvision(ctx, n)
	out["first_connection"] = h.connectProbe(ctx)
	if !h.o.quick {
		t := h.ds.Tenants[0]
		u, _ := url.Parse(h.c.ownerURL(benchDatabase))
		pw, _ := u.User.Password()
		// With tenant roles on and off: at thousands of tenants the first
		// role switch of a backend is most of a cold start.
		for _, run := range []struct{ key, roles string }{{"lambda", "true"}, {"lambda_roles_off", "false"}} {
			out[run.key] = h.fleetTool(ctx, "lambda", "--bootstrap", h.bins["bootstrap"], "--emulator", h.bins["aws-lambda-rie"],
				"--db-host", "127.0.0.1", "--db-port", strconv.Itoa(h.c.port), "--db-name", benchDatabase,
				"--owner-user", u.User.Username(), "--owner-password", pw,
				"--runtime-user", runtimeUser, "--runtime-password", runtimePassword,
				"--tenant", t.ID, "--key", t.Key, "--item", t.Items[0], "--tenant-roles="+run.roles)
		}
	}
	out["migrate"] = h.fleetTool(ctx, "migrate", "--db", h.c.ownerURL(benchDatabase),
		"--runtime-db", h.c.runtimeURL(benchDatabase), "--concurrency", "4")
	return out
}

func (h *harness) fleetProvision(ctx context.Context, n int) map[string]any {
	fail := func(err error) map[string]any { return map[string]any{"error": err.Error()} }
	conn, err := pgx.Connect(ctx, h.c.ownerURL(benchDatabase))
	if err != nil {
		return fail(err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+fleetDatabase)
	conn.Close(ctx)
	if err != nil {
		return fail(err)
	}
	if err := h.tenantapiCommand(ctx, fleetDatabase, "migrate"); err != nil {
		return fail(err)
	}
	port, err := pgcluster.FreePort()
	if err != nil {
		return fail(err)
	}
	token := strings.Repeat("benchadmintoken-", 3)
	svc, err := startService(ctx, h.dir, "tenantapi-admin", "tenantapi", port, "/readyz", []string{
		"DATABASE_URL=" + h.c.ownerURL(fleetDatabase), "DATABASE_RUNTIME_URL=" + h.c.runtimeURL(fleetDatabase),
		"HOST=127.0.0.1", "PORT=" + strconv.Itoa(port), "ADMIN_TOKEN=" + token, "LOG_LEVEL=warn",
	}, h.bins["tenantapi"], "serve")
	if err != nil {
		return fail(err)
	}
	defer svc.stop()
	return h.fleetTool(ctx, "provision", "--url", svc.url, "--admin-token", token, "--n", strconv.Itoa(n), "--concurrency", "4")
}

// fleetTool runs bench/fleet and returns the JSON it prints, or the error.
func (h *harness) fleetTool(ctx context.Context, args ...string) map[string]any {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bins["fleet"], args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return map[string]any{"error": fmt.Sprintf("fleet %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{"error": fmt.Sprintf("fleet %s: %v", args[0], err)}
	}
	fmt.Fprintf(os.Stderr, "bench: fleet %s: %s", args[0], b)
	return m
}
