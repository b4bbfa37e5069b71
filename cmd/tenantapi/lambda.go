package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenantapi/tenantapi/awslambda"
	"github.com/tenantapi/tenantapi/awssecrets"
	"github.com/tenantapi/tenantapi/httpapi"
	"github.com/tenantapi/tenantapi/metrics/emf"
	"github.com/tenantapi/tenantapi/postgres"
)

// lambdaDefaults size the pool for Lambda, where one execution environment
// serves one request at a time: a couple of connections, closed after 30 s
// idle so that an idle Aurora Serverless cluster can pause.
const (
	lambdaMaxConns        = 2
	lambdaMaxConnIdleTime = 30 * time.Second
	// migrateMargin is how long before the function's deadline a direct
	// migrate stops taking new tenants, and a direct move stops where it
	// is, so they can answer in time.
	migrateMargin = 20 * time.Second
)

// cmdLambda serves Lambda invocations until the runtime stops the process.
// Everything costly (secrets, pools) is made once here, outside the
// handler, and reused while the execution environment is warm.
func cmdLambda(ctx context.Context, env *env, stdout, stderr io.Writer) error {
	cfg := env.server()
	// API Gateway throttles on Lambda (stage limits, usage plans); a limit
	// here would count only the slice of traffic one instance sees.
	cfg.NoRateLimit = true
	dbc := env.db()
	if dbc.MaxConns == 0 {
		dbc.MaxConns = lambdaMaxConns
	}
	if dbc.MaxConnIdleTime == 0 {
		dbc.MaxConnIdleTime = lambdaMaxConnIdleTime
	}
	tr, err := startTracing(ctx, env, &cfg, &dbc)
	if err != nil {
		return err
	}
	defer tr.shutdown()
	log, err := env.logger(stdout)
	if err != nil {
		return err
	}
	dbc.notice = func(msg string) { log.Warn(msg) }
	if cfg.AuthMode == httpapi.AuthNone {
		return usagef("AUTH_MODE=none is refused on Lambda; use apikey, jwt or gateway")
	}
	if root := env.getenv("LAMBDA_TASK_ROOT"); dbc.Migrations == "" && root != "" {
		// A set packaged without TenantMigrations=migrations would be
		// ignored without a word: the built-in items served instead.
		if set, err := postgres.LoadMigrations(filepath.Join(root, "migrations")); err == nil && len(set) > 0 {
			log.Warn("the package holds an application set in migrations/ but TENANT_MIGRATIONS is not set: serving the built-in items; deploy with TenantMigrations=migrations to use it",
				"folder", filepath.Join(root, "migrations"))
		}
	}
	if _, err := newVerifier(cfg, log); err != nil {
		return err
	}
	var secrets *awssecrets.Cache
	adminSecret := env.getenv("ADMIN_TOKEN_SECRET_ARN")
	if dbc.URL == "" && dbc.SecretARN != "" || dbc.RuntimeURL == "" && dbc.RuntimeSecretARN != "" || adminSecret != "" {
		if secrets, err = awssecrets.New(ctx, dbc.SecretsTTL); err != nil {
			return err
		}
	}
	if cfg.AdminToken == "" && adminSecret != "" {
		token, err := secrets.String(ctx, adminSecret)
		if err != nil {
			return fmt.Errorf("reading the admin token: %w", err)
		}
		cfg.AdminToken = strings.TrimSpace(token)
	}
	if dbc.URL == "" && dbc.SecretARN == "" {
		// A function that serves tenants only: no owner credentials, so no
		// admin API either.
		cfg.AdminToken = ""
	}
	env.secrets = secrets
	db, err := openDatabase(ctx, dbc, secrets, stderr)
	if err != nil {
		return err
	}
	defer db.close()
	if cfg.Metrics {
		// EMF lines share stdout with the log; CloudWatch tells them apart
		// by their _aws member.
		w := emf.New(stdout, emf.Options{Namespace: cfg.MetricsNamespace, Service: cfg.MetricsService,
			TenantDimension: cfg.MetricsTenantLabel})
		cfg.observer = w
		env.migrated = w.Migrations
	}
	api, err := newAPI(cfg, db.DB, log)
	if err != nil {
		return usageError{err.Error()}
	}
	var h lambda.Handler = awslambda.NewHandler(api, directCommands(env))
	if tr != nil {
		h = flushing{h, tr}
	}
	lambda.StartWithOptions(h, lambda.WithContext(ctx))
	return nil
}

// directCommands runs the CLI's migrate, tenants, keys and databases commands for
// direct invocations, with --json, and returns the JSON they print. They
// share the process's secrets cache.
func directCommands(env *env) awslambda.Commands {
	return func(ctx context.Context, command string, args []string) (json.RawMessage, error) {
		if !slices.Contains(args, "--json") {
			args = append(slices.Clone(args), "--json")
		}
		var out, errb bytes.Buffer
		var err error
		// A migrate or a move stops cleanly before the function's deadline
		// and reports; invoking it again carries on.
		if deadline, ok := ctx.Deadline(); ok && (command == "migrate" || command == "tenants" && len(args) > 0 && args[0] == "move") {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-migrateMargin))
			defer cancel()
		}
		switch command {
		case "migrate":
			err = cmdMigrate(ctx, env, args, &out, &errb)
		case "tenants":
			err = cmdTenants(ctx, env, args, &out, &errb)
		case "keys":
			err = cmdKeys(ctx, env, args, &out, &errb)
		case "databases":
			err = cmdDatabases(ctx, env, args, &out, &errb)
		default:
			return nil, fmt.Errorf("unknown command %q (want migrate, tenants, keys or databases)", command)
		}
		var result json.RawMessage
		if b := bytes.TrimSpace(out.Bytes()); len(b) > 0 && json.Valid(b) {
			result = b
		}
		if err != nil {
			msg := strings.TrimSpace(errb.String())
			if !errors.Is(err, errSilent) {
				msg = strings.TrimSpace(msg + "\n" + err.Error())
			}
			if msg == "" {
				msg = "the command failed"
			}
			return result, errors.New(msg)
		}
		return result, nil
	}
}

// flushing exports the spans of each invocation before answering it: the
// execution environment may be frozen, or never thawed, right after.
type flushing struct {
	lambda.Handler
	tr *tracing
}

func (f flushing) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := f.Handler.Invoke(ctx, payload)
	f.tr.flush(ctx)
	return out, err
}
