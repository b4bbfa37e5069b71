package tenantapi_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMakeTargetsInstallWhatTheyNeed reads what make would run (make -n)
// for each target: make dev and the benchmarks need PostgreSQL only; the
// tests also need PgBouncer, Chromium and Node.js.
func TestMakeTargetsInstallWhatTheyNeed(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	const (
		postgres  = "scripts/ensure-postgres.sh"
		pgbouncer = "scripts/ensure-pgbouncer.sh"
		chromium  = "scripts/ensure-chromium.sh"
		node      = "scripts/ensure-node.sh"
	)
	tests := []struct {
		target  string
		want    []string
		mustNot []string
	}{
		{target: "dev", want: []string{postgres}, mustNot: []string{pgbouncer, chromium, node}},
		{target: "bench", want: []string{postgres}, mustNot: []string{pgbouncer, chromium, node}},
		{target: "bench-quick", want: []string{postgres}, mustNot: []string{pgbouncer, chromium, node}},
		{target: "soak", want: []string{postgres}, mustNot: []string{pgbouncer, chromium, node}},
		{target: "test", want: []string{postgres, pgbouncer, chromium, node}},
		{target: "tools", want: []string{postgres, pgbouncer, chromium, node}},
	}
	for _, tc := range tests {
		out, err := exec.Command("make", "-n", "--no-print-directory", tc.target).CombinedOutput()
		if err != nil {
			t.Errorf("make -n %s: %v\n%s", tc.target, err, out)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(string(out), s) {
				t.Errorf("make %s does not run %s:\n%s", tc.target, s, out)
			}
		}
		for _, s := range tc.mustNot {
			if strings.Contains(string(out), s) {
				t.Errorf("make %s runs %s, which it does not need:\n%s", tc.target, s, out)
			}
		}
	}
}
