package postgres

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/internal/fakerdsdata"
	"github.com/tenantapi/tenantapi/internal/testdb"
)

// The stores over the Data API driver, against the local endpoint on the
// same kind of PostgreSQL: what the driver must do as the pgx pool does
// (SPEC §11), below the HTTP suites that cmd/tenantapi runs over both.

// setupDataAPI is setupWith over the Data API driver: a fresh database
// behind a local Data API endpoint (configured by opts), logged in to as
// its owner. It returns the endpoint too.
func setupDataAPI(t *testing.T, cfg Config, opts ...func(*fakerdsdata.Options)) (*stores, *fakerdsdata.Server) {
	t.Helper()
	dbURL := testdb.New(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	const secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:owner"
	o := fakerdsdata.Options{DatabaseURL: dbURL,
		Secrets: map[string]fakerdsdata.Credentials{secret: {Username: u.User.Username(), Password: password}}}
	for _, f := range opts {
		f(&o)
	}
	srv, err := fakerdsdata.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg.DataAPI = &DataAPI{
		Client: rdsdata.New(rdsdata.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}),
		ClusterARN: srv.ClusterARN(), Database: strings.TrimPrefix(u.Path, "/"),
		OwnerSecretARN: secret, OwnerUser: u.User.Username(),
	}
	return storesOn(t, dbURL, open(t, cfg)), srv
}

// dataAPIModes runs fn over the Data API with tenant roles off (the
// driver's default) and on, as parallel subtests.
func dataAPIModes(t *testing.T, fn func(t *testing.T, s *stores, srv *fakerdsdata.Server)) {
	t.Parallel()
	for _, roles := range []bool{false, true} {
		t.Run(map[bool]string{false: "roles-off", true: "roles-on"}[roles], func(t *testing.T) {
			t.Parallel()
			s, srv := setupDataAPI(t, Config{TenantRoles: roles})
			fn(t, s, srv)
		})
	}
}

// TestDataAPIItemCRUD runs the RowStore's item lifecycle over the Data
// API: create, get, replace with every precondition, check, patch with
// and without merge, delete.
func TestDataAPIItemCRUD(t *testing.T) {
	dataAPIModes(t, func(t *testing.T, s *stores, _ *fakerdsdata.Server) {
		testItemCRUD(t, s, s.createTenant(t, "acme"))
	})
}

// TestDataAPIDuplicateTenant: creating a tenant whose id is taken is
// ErrTenantExists, as with a connection, though the Data API's error
// names the constraint and not its table.
func TestDataAPIDuplicateTenant(t *testing.T) {
	dataAPIModes(t, func(t *testing.T, s *stores, srv *fakerdsdata.Server) {
		s.createTenant(t, "acme")
		_, err := s.tenants.CreateTenant(t.Context(), "acme", "Again")
		wantErr(t, err, tenantapi.ErrTenantExists)
		if n := srv.OpenTransactions(); n != 0 {
			t.Errorf("%d transactions left open", n)
		}
	})
}

// TestDataAPIResuming: while the cluster resumes from zero capacity a
// statement is retried with backoff within its deadline, then fails as
// unavailable before the deadline, without the service's message; a
// resume shorter than the deadline is waited out.
func TestDataAPIResuming(t *testing.T) {
	dataAPIModes(t, func(t *testing.T, s *stores, srv *fakerdsdata.Server) {
		ref := s.createTenant(t, "acme")
		res := itemsAt(t, s.db, ref)
		c, err := s.rows.Create(t.Context(), ref, res, item(res, "kept", `{}`), nil)
		if err != nil {
			t.Fatal(err)
		}

		srv.StartResuming(0)
		srv.ResetCalls()
		const deadline = time.Second
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		start := time.Now()
		_, err = s.rows.Get(ctx, ref, res, c.Row.ID)
		took := time.Since(start)
		cancel()
		wantCode(t, err, tenantapi.CodeUnavailable)
		if took >= deadline {
			t.Errorf("gave up after %v, not before the deadline of %v", took, deadline)
		}
		if n := srv.Calls(fakerdsdata.OpExecuteStatement) + srv.Calls(fakerdsdata.OpBeginTransaction); n < 3 {
			t.Errorf("%d calls while resuming: no retries", n)
		}
		if strings.Contains(err.Error(), "auto-paused") {
			t.Errorf("the error shows the service's message: %v", err)
		}
		srv.StopResuming()

		srv.StartResuming(300 * time.Millisecond)
		srv.ResetCalls()
		ctx, cancel = context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		got, err := s.rows.Get(ctx, ref, res, c.Row.ID)
		if err != nil || string(got.JSON) != string(c.Row.JSON) {
			t.Fatalf("Get across a short resume = %s, %v", got.JSON, err)
		}
		if n := srv.Calls(fakerdsdata.OpExecuteStatement) + srv.Calls(fakerdsdata.OpBeginTransaction); n < 2 {
			t.Errorf("%d calls across the resume, want the resuming answers and then the statement", n)
		}
	})
}

// TestDataAPITimeoutIsUnavailable: a statement that outlives the
// request's deadline (here waiting on a lock) is unavailable, as with a
// connection.
func TestDataAPITimeoutIsUnavailable(t *testing.T) {
	dataAPIModes(t, func(t *testing.T, s *stores, _ *fakerdsdata.Server) {
		testItemTimeout(t, s, 300*time.Millisecond)
	})
}

// TestDataAPIConstraintErrorsAsWithConnections: SQL errors are translated
// by their SQLSTATE and constraint exactly as the pgx driver's are, and
// nothing of the server's message is in them.
func TestDataAPIConstraintErrorsAsWithConnections(t *testing.T) {
	t.Parallel()
	viaPgx := setup(t)
	viaAPI, _ := setupDataAPI(t, Config{})
	cases := []struct {
		name string
		vals func(res *tenantapi.Resource) []tenantapi.Value
	}{
		{"check (empty name)", func(res *tenantapi.Resource) []tenantapi.Value { return item(res, "", `{}`) }},
		{"too long for varchar(200)", func(res *tenantapi.Resource) []tenantapi.Value { return item(res, strings.Repeat("n", 201), `{}`) }},
		{"not null", func(res *tenantapi.Resource) []tenantapi.Value {
			vals := item(res, "x", `{}`)
			vals[fieldOf(res, "description")] = tenantapi.Value{Field: fieldOf(res, "description"), Null: true}
			return vals
		}},
		{"not JSON", func(res *tenantapi.Resource) []tenantapi.Value { return item(res, "x", `{"a":`) }},
	}
	errsOf := func(s *stores) []error {
		ref := s.createTenant(t, "acme")
		res := itemsAt(t, s.db, ref)
		var out []error
		for _, c := range cases {
			_, err := s.rows.Create(t.Context(), ref, res, c.vals(res), nil)
			out = append(out, err)
		}
		return out
	}
	want, got := errsOf(viaPgx), errsOf(viaAPI)
	for i, c := range cases {
		var we, ge *tenantapi.Error
		if !errors.As(want[i], &we) || !errors.As(got[i], &ge) {
			t.Errorf("%s: errors %v (pgx) and %v (Data API), want *tenantapi.Error", c.name, want[i], got[i])
			continue
		}
		t.Logf("%s: %v %+v", c.name, ge, ge.Fields)
		if we.Code != ge.Code || we.Detail != ge.Detail || !reflect.DeepEqual(we.Fields, ge.Fields) {
			t.Errorf("%s: Data API %v %+v, pgx %v %+v", c.name, ge, ge.Fields, we, we.Fields)
		}
		for _, leak := range []string{"violates", "SQLState", "ERROR:", "value too long", "invalid input"} {
			if strings.Contains(ge.Error(), leak) {
				t.Errorf("%s: the error shows the server's message: %v", c.name, ge)
			}
		}
	}
}

// TestDataAPIExpiredTransaction: a transaction the service expired after
// going idle (3 minutes on the service, shortened here) is unavailable,
// not an internal error, and rolling it back is not an error.
func TestDataAPIExpiredTransaction(t *testing.T) {
	t.Parallel()
	s, srv := setupDataAPI(t, Config{}, func(o *fakerdsdata.Options) { o.TransactionTimeout = 200 * time.Millisecond })
	tx, err := s.db.owner.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); srv.OpenTransactions() > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	_, err = tx.Exec(t.Context(), `SELECT 1`)
	wantCode(t, translate(err, publicScope), tenantapi.CodeUnavailable)
	if err := tx.Rollback(t.Context()); err != nil {
		t.Errorf("Rollback of an expired transaction = %v", err)
	}
}

// TestDataAPIFailedStatementEndsTransaction: a statement that fails in a
// transaction ends it (rolled back, nothing kept open on the service),
// and its error is the statement's.
func TestDataAPIFailedStatementEndsTransaction(t *testing.T) {
	t.Parallel()
	s, srv := setupDataAPI(t, Config{})
	s.exec(t, `CREATE TABLE public.t (n int PRIMARY KEY)`)
	err := inTx(t.Context(), s.db.owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `INSERT INTO public.t VALUES (1)`); err != nil {
			return err
		}
		_, err := tx.Exec(t.Context(), `INSERT INTO public.t VALUES (1)`)
		return err
	})
	if sqlState(err) != sqlUniqueViolation {
		t.Errorf("error %v (SQLSTATE %q), want the duplicate key's", err, sqlState(err))
	}
	if n := srv.OpenTransactions(); n != 0 {
		t.Errorf("%d transactions left open", n)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.t`); n != 0 {
		t.Errorf("%d rows kept by a transaction that failed", n)
	}
}

// TestDataAPILoginFailureIsUnavailable: when the service cannot log in
// as a secret's user (a password rotated in the database but not yet in
// the secret, a role not created yet), a tenant request is unavailable,
// as with a connection the server refuses; not an internal error.
func TestDataAPILoginFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	const runtimeSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:runtime"
	s, _ := setupDataAPI(t, Config{}, func(o *fakerdsdata.Options) {
		o.Secrets[runtimeSecret] = fakerdsdata.Credentials{Username: "no_such_runtime_role", Password: "wrong-password"}
	})
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	a := *s.db.owner.(*dataAPI)
	a.secret, a.u = runtimeSecret, "no_such_runtime_role"
	s.db.runtime, s.db.main.runtime = &a, &a
	_, err := s.rows.Get(t.Context(), ref, res, uuid.Must(uuid.NewV7()))
	wantCode(t, err, tenantapi.CodeUnavailable)

	// The same with connections.
	viaPgx := setup(t)
	ref = viaPgx.createTenant(t, "acme")
	u, err := url.Parse(viaPgx.url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("no_such_runtime_role", "wrong-password")
	db := open(t, Config{URL: viaPgx.url, RuntimeURL: u.String()})
	_, err = NewRowStore(db).Get(t.Context(), ref, itemsAt(t, viaPgx.db, ref), uuid.Must(uuid.NewV7()))
	wantCode(t, err, tenantapi.CodeUnavailable)
}

// TestDataAPIChangeFeed: the registry's change feed reads through the Data
// API as through a connection: a revoked key and an updated tenant are
// reported (the feed's arrays are ones the Data API can answer).
func TestDataAPIChangeFeed(t *testing.T) {
	t.Parallel()
	s, _ := setupDataAPI(t, Config{})
	ctx := t.Context()
	feed := NewChangeStore(s.db)
	first, err := feed.RegistryChanges(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	s.createTenant(t, "acme")
	key, _, err := s.keys.CreateKey(ctx, "acme", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.keys.RevokeKey(ctx, "acme", key.ID); err != nil {
		t.Fatal(err)
	}
	name := "Renamed"
	if _, err := s.tenants.UpdateTenant(ctx, "acme", tenantapi.TenantUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	c, err := feed.RegistryChanges(ctx, first.Until)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RevokedKeys) != 1 || !slices.Contains(c.Tenants, "acme") || c.Reset {
		t.Errorf("changes = %+v; want the revoked key and acme", c)
	}
}
