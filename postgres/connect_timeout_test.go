package postgres

import (
	"testing"
	"time"
)

// Connection attempts are bounded by default; the connection string's
// connect_timeout wins. Opening does not connect, so no server is needed.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want time.Duration
	}{
		{"postgres://u:p@127.0.0.1:1/db?sslmode=disable", DefaultConnectTimeout},
		{"postgres://u:p@127.0.0.1:1/db?sslmode=disable&connect_timeout=7", 7 * time.Second},
	} {
		db := open(t, Config{URL: tc.url, RuntimeURL: tc.url})
		for name, p := range map[string]*pool{"owner": db.owner.(*pool), "runtime": db.runtime.(*pool)} {
			if got := p.Config().ConnConfig.ConnectTimeout; got != tc.want {
				t.Errorf("%s: %s pool connect timeout %v, want %v", tc.url, name, got, tc.want)
			}
		}
	}
}
