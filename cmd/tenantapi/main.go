// Command tenantapi is the multi-tenant REST API service: an HTTP server, a
// Lambda function, a local development environment and the operator's CLI,
// in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a command line the program cannot act on (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errSilent is a failure already reported to the user (exit 1, no message).
var errSilent = errors.New("failed")

// exitCode reports err to the user and returns the process exit code:
// 0 success, 1 failure, 2 usage error.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "tenantapi:", ue.msg)
		fmt.Fprintln(stderr, "Run 'tenantapi --help' for usage.")
		return 2
	case errors.Is(err, errSilent):
		return 1
	default:
		fmt.Fprintln(stderr, "tenantapi:", err)
		return 1
	}
}

const usage = `tenantapi — a multi-tenant REST API service (schema per tenant on PostgreSQL).

Usage:
  tenantapi <command> [flags]

Commands:
  serve      run the HTTP server on $PORT (default 8080)
  dev        run locally on an embedded PostgreSQL, with a demo tenant and key
  migrate    apply schema migrations to public and every tenant schema
             (migrate status: tenants per version, behind and failed)
  tenants    create | list | show | suspend | activate | delete | move |
             export | import tenants
  databases  add | list | drain | remove the databases tenants live in
  keys       create | list | revoke API keys
  resources  list the resources your tenant migrations serve, and the
             tables they keep private
  version    print the version

Run 'tenantapi <command> --help' for a command's flags. Flags override
environment variables; see docs/configuration.md for every one.
When AWS_LAMBDA_RUNTIME_API is set, the binary serves Lambda invocations
whatever its arguments.
`

// run is the whole program: it parses args and the environment and runs a
// command. Tests call it with their own environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := newEnv(getenv)
	env.stdin = stdin
	if getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		// The same file is the Lambda bootstrap, whatever its arguments.
		return cmdLambda(ctx, env, stdout, stderr)
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return usagef("missing command")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, env, rest, stdout, stderr)
	case "dev":
		return cmdDev(ctx, env, rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, env, rest, stdout, stderr)
	case "tenants":
		return cmdTenants(ctx, env, rest, stdout, stderr)
	case "databases":
		return cmdDatabases(ctx, env, rest, stdout, stderr)
	case "keys":
		return cmdKeys(ctx, env, rest, stdout, stderr)
	case "resources":
		return cmdResources(ctx, env, rest, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usagef("unknown command %q", cmd)
	}
}
