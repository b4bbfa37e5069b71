package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"

	"github.com/tenantapi/tenantapi/internal/fakerdsdata"
	"github.com/tenantapi/tenantapi/postgres"
)

// The HTTP suites of items and resources run a second time with the RDS
// Data API driver, against the local Data API endpoint on the same kind of
// PostgreSQL: TestOverDataAPI runs each of them as a subtest, and setup
// opens its database through the Data API for any test under it.

// dataAPISuite are the suites that run over both drivers.
var dataAPISuite = []struct {
	name string
	fn   func(*testing.T)
}{
	{"ItemLifecycle", TestItemLifecycle},
	{"ItemValidation", TestItemValidation},
	{"ErrorPrecedence", TestErrorPrecedence},
	{"Preconditions", TestPreconditions},
	{"Pagination", TestPagination},
	{"IdempotencyKey", TestIdempotencyKey},
	{"ItemOneRepresentationPerVersion", TestItemOneRepresentationPerVersion},
	{"TenantIsolation", TestTenantIsolation},
	{"RequestIDAndCORS", TestRequestIDAndCORS},
	{"AccessLogHasNoSecrets", TestAccessLogHasNoSecrets},
	{"AcceptPatchOnOptions", TestAcceptPatchOnOptions},
	{"CrossTenantProperty", TestCrossTenantProperty},
	{"HostileJSONValues", TestHostileJSONValues},
	{"TenantUsageEndpoint", TestTenantUsageEndpoint},
	{"CachesFollowTheChangeFeed", TestCachesFollowTheChangeFeed},
	{"AuthChallenge", TestAuthChallenge},
	{"TenantUsageCountsEveryResource", TestTenantUsageCountsEveryResource},
	{"ResourceVersionsInFlight", TestResourceVersionsInFlight},
	{"ResourceTypesRoundTrip", TestResourceTypesRoundTrip},
	{"ResourceNoCoercion", TestResourceNoCoercion},
	{"ResourceConstraintsAreProblems", TestResourceConstraintsAreProblems},
	{"ResourceWrites", TestResourceWrites},
	{"ResourceFilters", TestResourceFilters},
	{"ResourceWithoutVersion", TestResourceWithoutVersion},
}

func TestOverDataAPI(t *testing.T) {
	t.Parallel()
	for _, s := range dataAPISuite {
		t.Run(s.name, s.fn)
	}
}

// overDataAPI reports whether t runs under TestOverDataAPI.
func overDataAPI(t *testing.T) bool { return strings.HasPrefix(t.Name(), "TestOverDataAPI/") }

// dataAPIFor starts a local Data API endpoint on the database at dbURL,
// whose user is the owner's secret, and returns the driver's configuration.
func dataAPIFor(t *testing.T, dbURL string) *postgres.DataAPI {
	t.Helper()
	api, _ := fakeDataAPI(t, dbURL)
	return api
}

// fakeDataAPI is dataAPIFor that returns the endpoint too.
func fakeDataAPI(t testing.TB, dbURL string) (*postgres.DataAPI, *fakerdsdata.Server) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	const ownerSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:owner"
	srv, err := fakerdsdata.Start(fakerdsdata.Options{
		DatabaseURL: dbURL,
		Secrets:     map[string]fakerdsdata.Credentials{ownerSecret: {Username: u.User.Username(), Password: password}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	client := rdsdata.New(rdsdata.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
	return &postgres.DataAPI{Client: client, ClusterARN: fakerdsdata.DefaultClusterARN, Database: strings.TrimPrefix(u.Path, "/"),
		OwnerSecretARN: ownerSecret, OwnerUser: u.User.Username()}, srv
}
