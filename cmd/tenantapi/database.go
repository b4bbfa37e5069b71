package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"

	"github.com/tenantapi/tenantapi/awssecrets"
	"github.com/tenantapi/tenantapi/internal/pgcluster"
	"github.com/tenantapi/tenantapi/postgres"
)

// database is an open connection to PostgreSQL and, when the command had to
// start the dev cluster for it, that cluster.
type database struct {
	*postgres.DB
	cluster *pgcluster.Cluster // started by us; stopped by close
	dataDir string             // the cluster's data folder, as configured
	stderr  io.Writer
	// runtimeUser and runtimePassword are the runtime role's credentials
	// when one is configured, for migrate to create or update the role.
	runtimeUser, runtimePassword string
	// secretAddress returns where the database of a secret is, as
	// postgres://host:port/dbname (databases add --secret-arn).
	secretAddress func(ctx context.Context, arn string) (string, error)
}

// openDatabase connects the owner and runtime pools. Each role comes from
// its URL, else from its Secrets Manager secret; the owner falls back to the
// runtime role's secret (a function that serves tenants only). With nothing
// set at all it uses the dev cluster under the data folder, starting it if
// it is not running (and stopping it again on close, unless a dev has come
// up on it meanwhile). secrets may be nil; one is made when a secret is
// needed.
func openDatabase(ctx context.Context, cfg dbConfig, secrets *awssecrets.Cache, stderr io.Writer) (*database, error) {
	d := &database{}
	set, err := cfg.applicationSet()
	if err != nil {
		return nil, err
	}
	switch cfg.Driver {
	case "data-api":
		return openDataAPI(ctx, cfg, set, secrets)
	case "pgx":
	default:
		return nil, usagef("DB_DRIVER must be pgx or data-api, not %q", cfg.Driver)
	}
	pc := cfg.pools(postgres.Config{ApplicationSet: set, URL: cfg.URL, RuntimeURL: cfg.RuntimeURL})
	if cfg.RuntimeURL != "" {
		u, err := url.Parse(cfg.RuntimeURL)
		if err != nil || u.User == nil {
			return nil, usagef("DATABASE_RUNTIME_URL must be a postgres:// URL with a user and password")
		}
		d.runtimeUser = u.User.Username()
		d.runtimePassword, _ = u.User.Password()
	}
	ownerSecret := cfg.SecretARN
	if ownerSecret == "" && cfg.URL == "" {
		ownerSecret = cfg.RuntimeSecretARN
	}
	switch {
	case cfg.URL != "":
	case ownerSecret != "":
		var err error
		if secrets == nil {
			if secrets, err = awssecrets.New(ctx, cfg.SecretsTTL); err != nil {
				return nil, err
			}
		}
		if pc.URL, pc.OwnerCredentials, err = secretConnection(ctx, secrets, ownerSecret, cfg); err != nil {
			return nil, err
		}
	default:
		c, err := pgcluster.Open(pgcluster.Options{Dir: cfg.DataDir, Log: stderr})
		if err != nil {
			return nil, err
		}
		if !c.Running() {
			fmt.Fprintf(stderr, "tenantapi: no DATABASE_URL or DB_SECRET_ARN; starting the dev cluster in %s\n", c.DataDir())
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			d.cluster, d.dataDir, d.stderr = c, cfg.DataDir, stderr
		}
		pc.URL = c.URL()
	}
	if cfg.RuntimeURL == "" && cfg.RuntimeSecretARN != "" && cfg.RuntimeSecretARN != ownerSecret {
		var err error
		if secrets == nil {
			if secrets, err = awssecrets.New(ctx, cfg.SecretsTTL); err != nil {
				return nil, err
			}
		}
		if pc.RuntimeURL, pc.RuntimeCredentials, err = secretConnection(ctx, secrets, cfg.RuntimeSecretARN, cfg); err != nil {
			return nil, err
		}
		creds, err := secrets.DBCredentials(ctx, cfg.RuntimeSecretARN)
		if err != nil {
			return nil, err
		}
		d.runtimeUser, d.runtimePassword = creds.Username, creds.Password
		pc.RuntimeRole = creds.Username
	}
	d.locateBySecret(&pc, cfg, secrets)
	db, err := postgres.Open(ctx, pc)
	if err != nil {
		d.close()
		return nil, err
	}
	d.DB = db
	return d, nil
}

// locateBySecret sets pc.Locate to open the databases added by secret,
// with the pool settings of main: the owner from the database's secret,
// the runtime role (when main has one) with main's runtime credentials at
// the database's address. The secrets cache is made on first use.
func (d *database) locateBySecret(pc *postgres.Config, cfg dbConfig, secrets *awssecrets.Cache) {
	base := *pc
	// DB_HOST, DB_PORT and DB_NAME are main's; another database's secret
	// says where it is.
	own := cfg
	own.Host, own.Port, own.Name = "", "", ""
	cache := func(ctx context.Context) (*awssecrets.Cache, error) {
		var err error
		if secrets == nil {
			secrets, err = awssecrets.New(ctx, cfg.SecretsTTL)
		}
		return secrets, err
	}
	d.secretAddress = func(ctx context.Context, arn string) (string, error) {
		c, err := cache(ctx)
		if err != nil {
			return "", err
		}
		u, _, err := secretConnection(ctx, c, arn, own)
		if err != nil {
			return "", err
		}
		return postgres.Address(u)
	}
	// A process given the runtime role's secret alone (a function that
	// serves tenants only) reaches every database as that role, at the
	// address the registry has: it need not read the owners' secrets.
	runtimeOnly := cfg.URL == "" && cfg.SecretARN == ""
	pc.Locate = func(ctx context.Context, db postgres.Database) (postgres.Config, error) {
		out := base
		out.Locate = nil
		if runtimeOnly {
			u, err := postgres.WithAddress(base.URL, db.Address)
			out.URL = u
			return out, err
		}
		c, err := cache(ctx)
		if err != nil {
			return postgres.Config{}, err
		}
		if out.URL, out.OwnerCredentials, err = secretConnection(ctx, c, db.SecretARN, own); err != nil {
			return postgres.Config{}, err
		}
		out.RuntimeURL = ""
		switch {
		case base.RuntimeCredentials != nil:
			out.RuntimeURL = out.URL
		case base.RuntimeURL != "":
			if out.RuntimeURL, err = postgres.WithAddress(base.RuntimeURL, out.URL); err != nil {
				return postgres.Config{}, err
			}
		}
		return out, nil
	}
}

// dataAPILocate opens another cluster through the Data API: by its ARN,
// as its owner's secret, with main's runtime role (the same user and
// password in every database) for the runtime driver. A process with the
// runtime role's secret alone (ownerless) serves there as that role too,
// and need not read the owners' secrets.
func dataAPILocate(main postgres.DataAPI, ownerless bool) postgres.Locate {
	return func(_ context.Context, db postgres.Database) (postgres.Config, error) {
		api := main
		api.ClusterARN = db.ClusterARN
		if !ownerless {
			api.OwnerSecretARN, api.OwnerUser = db.SecretARN, ""
		}
		return postgres.Config{DataAPI: &api}, nil
	}
}

// secretConnection reads a database secret once to learn where the
// database is, and returns a connection string without credentials plus the
// credentials source that new connections read (fresh after a refusal).
func secretConnection(ctx context.Context, secrets *awssecrets.Cache, arn string, cfg dbConfig) (string, postgres.Credentials, error) {
	creds, err := secrets.DBCredentials(ctx, arn)
	if err != nil {
		return "", nil, err
	}
	host, port, name := creds.Host, fmt.Sprint(creds.Port), creds.DBName
	if cfg.Host != "" {
		host = cfg.Host
	}
	if cfg.Port != "" {
		port = cfg.Port
	} else if creds.Port == 0 {
		port = "5432"
	}
	if cfg.Name != "" {
		name = cfg.Name
	} else if name == "" {
		name = "postgres"
	}
	if host == "" {
		return "", nil, fmt.Errorf("secret %s has no host: set DB_HOST", arn)
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(host, port), Path: "/" + name,
		RawQuery: url.Values{"sslmode": {cfg.SSLMode}}.Encode()}
	source := func(ctx context.Context, refresh bool) (string, string, error) {
		if refresh {
			secrets.Refresh(arn)
		}
		c, err := secrets.DBCredentials(ctx, arn)
		return c.Username, c.Password, err
	}
	return u.String(), source, nil
}

// close closes the pools and stops a cluster this command started, holding
// the data folder's lock while it does (see folderLock). When another
// process holds that lock, a dev came up on the cluster meanwhile and relies
// on it (or another command is stopping it already): the cluster is left
// running.
func (d *database) close() {
	if d.DB != nil {
		d.DB.Close()
	}
	if d.cluster == nil {
		return
	}
	lock, err := lockFolder(d.dataDir, "stop")
	var locked *folderLockedError
	if errors.As(err, &locked) {
		if locked.holder.role == "dev" {
			fmt.Fprintf(d.stderr, "tenantapi: leaving the dev cluster running for tenantapi dev (pid %d)\n", locked.holder.pid)
		}
		return
	}
	if err == nil {
		defer lock.unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.cluster.Stop(ctx)
}

// openDataAPI opens the database through the RDS Data API (DB_DRIVER=
// data-api): no connection, the service reads the secrets itself. The
// runtime role's secret is read here too, for migrate to create the role
// with its password.
func openDataAPI(ctx context.Context, cfg dbConfig, set []postgres.Migration, secrets *awssecrets.Cache) (*database, error) {
	ownerless := cfg.SecretARN == ""
	if ownerless {
		// A function that serves tenants only is given the runtime
		// role's secret alone, as with connections.
		cfg.SecretARN, cfg.RuntimeSecretARN = cfg.RuntimeSecretARN, ""
	}
	if cfg.ClusterARN == "" || cfg.SecretARN == "" || cfg.Name == "" {
		return nil, usagef("DB_DRIVER=data-api needs DB_CLUSTER_ARN, DB_SECRET_ARN (or DB_RUNTIME_SECRET_ARN) and DB_NAME")
	}
	if cfg.URL != "" || cfg.RuntimeURL != "" {
		return nil, usagef("DB_DRIVER=data-api takes no DATABASE_URL or DATABASE_RUNTIME_URL")
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	api := &postgres.DataAPI{Client: rdsdata.NewFromConfig(awsCfg), ClusterARN: cfg.ClusterARN, Database: cfg.Name,
		OwnerSecretARN: cfg.SecretARN}
	d := &database{}
	if cfg.RuntimeSecretARN != "" && cfg.RuntimeSecretARN != cfg.SecretARN {
		if secrets == nil {
			secrets = awssecrets.NewWithConfig(awsCfg, cfg.SecretsTTL)
		}
		creds, err := secrets.DBCredentials(ctx, cfg.RuntimeSecretARN)
		if err != nil {
			return nil, err
		}
		d.runtimeUser, d.runtimePassword = creds.Username, creds.Password
		api.RuntimeSecretARN, api.RuntimeUser = cfg.RuntimeSecretARN, creds.Username
	}
	db, err := postgres.Open(ctx, postgres.Config{DataAPI: api, TenantRoles: cfg.TenantRoles, ApplicationSet: set,
		Locate: dataAPILocate(*api, ownerless)})
	if err != nil {
		return nil, err
	}
	d.DB = db
	return d, nil
}
