package fakerdsdata

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata"
	"github.com/aws/aws-sdk-go-v2/service/rdsdata/types"
)

// A request without a signature is refused, and counted.
func TestUnsignedRequestRefused(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	body := `{"resourceArn":"` + f.srv.ClusterARN() + `","secretArn":"` + ownerSecret + `","sql":"SELECT 1"}`
	resp, err := http.Post(f.srv.URL+"/Execute", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg map[string]string
	json.NewDecoder(resp.Body).Decode(&msg)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" ||
		msg["message"] != "Missing Authentication Token" {
		t.Fatalf("unsigned request: %d %s %v", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), msg)
	}
	if f.srv.Unsigned() != 1 || f.srv.Calls(OpExecuteStatement) != 1 {
		t.Fatalf("unsigned = %d, calls = %d", f.srv.Unsigned(), f.srv.Calls(OpExecuteStatement))
	}
}

// signed sends body to /Execute signed by the SDK's own signer with the
// given key, service, region and time.
func signed(t *testing.T, f *fixture, body []byte, keyID, secret, service, region string, when time.Time, tamper bool) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/Execute", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, when); err != nil {
		t.Fatal(err)
	}
	if tamper {
		req.Body = io.NopCloser(bytes.NewReader(bytes.ToUpper(body)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg map[string]string
	json.NewDecoder(resp.Body).Decode(&msg)
	return resp, resp.Header.Get("X-Amzn-ErrorType") + ": " + msg["message"]
}

func TestSignaturesChecked(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	body := []byte(`{"resourceArn":"` + f.srv.ClusterARN() + `","secretArn":"` + ownerSecret + `","sql":"SELECT 1"}`)
	now := time.Now()
	for _, c := range []struct {
		name, key, secret, service, region string
		when                               time.Time
		tamper                             bool
		want                               string
	}{
		{"good", testKeyID, testSecretKey, "rds-data", "us-east-1", now, false, ""},
		{"another service", testKeyID, testSecretKey, "rds", "us-east-1", now, false,
			"InvalidSignatureException: Credential should be scoped to correct service: 'rds-data'. "},
		{"another region", testKeyID, testSecretKey, "rds-data", "eu-west-1", now, false,
			"InvalidSignatureException: Credential should be scoped to a valid region, not 'eu-west-1'. "},
		{"wrong secret", testKeyID, "not-it", "rds-data", "us-east-1", now, false,
			"InvalidSignatureException: The request signature we calculated does not match the signature you provided."},
		{"changed body", testKeyID, testSecretKey, "rds-data", "us-east-1", now, true,
			"InvalidSignatureException: The request signature we calculated does not match the signature you provided."},
		{"unknown key", "AKIAUNKNOWN000000000", testSecretKey, "rds-data", "us-east-1", now, false,
			"UnrecognizedClientException: The security token included in the request is invalid."},
		{"stale", testKeyID, testSecretKey, "rds-data", "us-east-1", now.Add(-20 * time.Minute), false,
			"InvalidSignatureException: Signature expired: "},
	} {
		resp, got := signed(t, f, body, c.key, c.secret, c.service, c.region, c.when, c.tamper)
		if c.want == "" {
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %d %s", c.name, resp.StatusCode, got)
			}
			continue
		}
		if resp.StatusCode/100 != 4 || len(got) < len(c.want) || got[:len(c.want)] != c.want {
			t.Errorf("%s: %d %q, want %q", c.name, resp.StatusCode, got, c.want)
		}
	}
	if f.srv.Unsigned() != 0 {
		t.Fatalf("signed requests counted as unsigned: %d", f.srv.Unsigned())
	}

	// The SDK client with the wrong secret is refused too.
	_, err := newClient(f.srv.URL, testKeyID, "not-it").ExecuteStatement(t.Context(), f.input(`SELECT 1`))
	wantError(t, err, "InvalidSignatureException", "does not match")
}

// Without AccessKeys any key is taken, the signature's form still checked.
func TestAnyKeyWithoutAccessKeys(t *testing.T) {
	t.Parallel()
	f := start(t, func(o *Options) { o.AccessKeys = nil; o.Region = "" })
	f.client = newClient(f.srv.URL, "AKIDANYTHING", "whatever")
	f.exec(t, `SELECT 1`)
	body := []byte(`{"resourceArn":"` + f.srv.ClusterARN() + `","secretArn":"` + ownerSecret + `","sql":"SELECT 1"}`)
	_, got := signed(t, f, body, "AKIDANYTHING", "x", "s3", "eu-west-1", time.Now(), false)
	if got != "InvalidSignatureException: Credential should be scoped to correct service: 'rds-data'. " {
		t.Fatalf("another service's signature: %q", got)
	}
}

// The product reaches the endpoint through the SDK's own endpoint
// variable, with the SDK's default configuration.
func TestEndpointFromEnvironment(t *testing.T) {
	f := start(t, nil)
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL_RDS_DATA", f.srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out, err := rdsdata.NewFromConfig(cfg).ExecuteStatement(t.Context(), f.input(`SELECT 'through the environment'`))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Records[0][0].(*types.FieldMemberStringValue).Value; got != "through the environment" {
		t.Fatalf("got %q", got)
	}
	if f.srv.Calls(OpExecuteStatement) != 1 || f.srv.Unsigned() != 0 {
		t.Fatalf("calls %v, unsigned %d", f.srv.CallCounts(), f.srv.Unsigned())
	}
}
