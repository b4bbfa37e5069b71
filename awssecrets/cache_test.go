package awssecrets

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi/internal/fakesecrets"
)

const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"

func newCache(t *testing.T, ttl time.Duration) (*Cache, *fakesecrets.Server) {
	t.Helper()
	srv := fakesecrets.Start()
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	c, err := New(context.Background(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestCacheFetchesOnceWhileFresh(t *testing.T) {
	c, srv := newCache(t, time.Hour)
	srv.Put(arn, `{"username":"app","password":"p1"}`)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		d, err := c.DBCredentials(ctx, arn)
		if err != nil || d.Username != "app" || d.Password != "p1" {
			t.Fatalf("%+v %v", d, err)
		}
	}
	if srv.Calls(arn) != 1 || c.Fetches() != 1 {
		t.Errorf("%d calls, want 1", srv.Calls(arn))
	}
	if srv.Unsigned() != 0 {
		t.Error("a request bypassed SigV4 signing")
	}
	srv.Put(arn, `{"username":"app","password":"p2","host":"db.internal","port":"6432","dbname":"main"}`)
	c.Refresh(arn)
	d, err := c.DBCredentials(ctx, arn)
	if err != nil || d.Password != "p2" || d.Port != 6432 || d.Host != "db.internal" || d.DBName != "main" {
		t.Fatalf("after refresh: %+v %v", d, err)
	}
}

func TestCacheExpires(t *testing.T) {
	c, srv := newCache(t, 50*time.Millisecond)
	srv.Put(arn, "v1")
	ctx := context.Background()
	c.String(ctx, arn)
	time.Sleep(80 * time.Millisecond)
	c.String(ctx, arn)
	if srv.Calls(arn) != 2 {
		t.Errorf("%d calls, want 2", srv.Calls(arn))
	}
}

func TestDBCredentialsErrors(t *testing.T) {
	c, srv := newCache(t, time.Hour)
	ctx := context.Background()
	tests := []struct{ name, value, want string }{
		{"not JSON", `hunter2`, "not a JSON object"},
		{"no password", `{"username":"app"}`, "username and password are required"},
		{"bad port", `{"username":"a","password":"b","port":"x"}`, "port"},
	}
	for i, tt := range tests {
		a := arn + string(rune('a'+i))
		srv.Put(a, tt.value)
		_, err := c.DBCredentials(ctx, a)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the secret", tt.name)
		}
	}
	if _, err := c.String(ctx, "arn:aws:secretsmanager:eu-west-1:1:secret:missing"); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("missing secret: %v", err)
	}
}
