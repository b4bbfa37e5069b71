package postgres

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// migrateHelperEnv carries the database URL to TestMigrateHelperProcess.
const migrateHelperEnv = "TENANTAPI_MIGRATE_HELPER_URL"

// slowMigration takes a while per tenant and logs each application in
// public.apply_log, so that a test can kill a run in the middle and see
// double applications.
var slowMigration = Migration{Version: 2, Name: "slow", SQL: `
	INSERT INTO public.apply_log (schema_name) VALUES ('"' || current_schema() || '"');
	ALTER TABLE items ADD COLUMN killed_mid_run text;
	SELECT pg_catalog.pg_sleep(0.1)`}

// TestMigrateHelperProcess is not a test: TestMigrateKilledMidRun runs this
// binary again with migrateHelperEnv set, to have a migration run in a
// process it can SIGKILL. It migrates every tenant with slowMigration,
// printing its progress on stdout.
func TestMigrateHelperProcess(t *testing.T) {
	url := os.Getenv(migrateHelperEnv)
	if url == "" {
		t.Skip("runs only as TestMigrateKilledMidRun's helper process")
	}
	db := open(t, Config{URL: url})
	m := NewMigrator(db).WithTenantMigrations(slowMigration)
	_, err := m.MigrateTenants(context.Background(), MigrateOptions{Concurrency: 4, Progress: func(done, total int) {
		fmt.Printf("progress %d of %d\n", done, total)
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateKilledMidRun kills a tenant migration run (SIGKILL, in a
// process of its own) half way. Every tenant is left at a consistent
// version: its registry row's schema_version equals its ledger's newest
// version, and the migration's DDL is there exactly when the ledger says
// so. Then two runs at once finish the job, and no tenant had the
// migration applied twice.
func TestMigrateKilledMidRun(t *testing.T) {
	t.Parallel()
	const tenants = 24
	s := setup(t)
	s.exec(t, `CREATE TABLE public.apply_log (schema_name text NOT NULL)`)
	var ids []tenantapi.TenantID
	for i := range tenants {
		id := tenantapi.TenantID(fmt.Sprintf("k%02d", i))
		ids = append(ids, id)
		s.createTenant(t, id)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateHelperProcess$", "-test.count=1", "-test.v=false")
	// TEST_DATABASE_URL keeps the helper's TestMain from starting a
	// PostgreSQL of its own.
	cmd.Env = append(os.Environ(), migrateHelperEnv+"="+s.url, "TEST_DATABASE_URL="+s.url)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		done := 0
		for sc.Scan() {
			if n, _ := fmt.Sscanf(sc.Text(), "progress %d of", &done); n == 1 && done >= tenants/3 {
				cmd.Process.Kill()
				killed <- done
				break
			}
		}
		for sc.Scan() {
		}
		close(killed)
	}()
	var progressAtKill int
	select {
	case progressAtKill = <-killed:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
	}
	cmd.Wait()
	// The killed process's sessions end when their backends notice; one
	// that had sent its COMMIT still commits. Count only once none is left
	// in a transaction.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s.queryInt(t, `SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database()
			AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')`) == 0 {
			break
		}
	}
	if progressAtKill == 0 {
		t.Fatalf("the helper finished or failed before it could be killed:\n%s", stderr.String())
	}

	migrated := checkTenantVersions(t, s, ids)
	if migrated == 0 || migrated == tenants {
		t.Fatalf("%d of %d tenants migrated when the run was killed; want some, not all", migrated, tenants)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM public.tenants WHERE migration_error IS NOT NULL`); n != 0 {
		t.Errorf("%d tenants have a migration error; being killed is not failing", n)
	}

	// Two runs at once finish the job.
	m2 := s.mig.WithTenantMigrations(slowMigration)
	reports := make([]Report, 2)
	var wg sync.WaitGroup
	for i := range reports {
		wg.Go(func() {
			var err error
			if reports[i], err = m2.MigrateTenants(t.Context(), MigrateOptions{Concurrency: 4}); err != nil {
				t.Errorf("rerun: %v", err)
			}
		})
	}
	wg.Wait()
	rerunMigrated := 0
	for _, r := range reports {
		if !r.Complete || len(r.Failed) != 0 || r.Total != tenants {
			t.Errorf("rerun report %+v: want complete, %d tenants, no failures", r, tenants)
		}
		rerunMigrated += r.Migrated
	}
	if rerunMigrated != tenants-migrated {
		t.Errorf("the reruns migrated %d tenants, want %d", rerunMigrated, tenants-migrated)
	}
	if n := checkTenantVersions(t, s, ids); n != tenants {
		t.Errorf("%d of %d tenants at version 2 after the reruns", n, tenants)
	}
	for _, id := range ids {
		if n := appliedCount(t, s, id); n != 1 {
			t.Errorf("%s: migration applied %d times", id, n)
		}
	}
	t.Logf("killed after %d progress reports: %d of %d tenants migrated, all consistent; two concurrent reruns migrated the other %d, each once",
		progressAtKill, migrated, tenants, rerunMigrated)
}

// checkTenantVersions checks, in one snapshot, that each tenant's registry
// version equals the newest version in its own ledger and that the slow
// migration's column exists exactly when the ledger records it. It returns
// how many tenants are at version 2.
func checkTenantVersions(t *testing.T, s *stores, ids []tenantapi.TenantID) int {
	t.Helper()
	ctx := t.Context()
	migrated := 0
	err := pgx.BeginTxFunc(ctx, s.db.owner.(*pool), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, id := range ids {
			var registry, ledger int
			var column bool
			err := tx.QueryRow(ctx, `SELECT
				(SELECT schema_version FROM public.tenants WHERE id = $1),
				(SELECT max(version) FROM `+quotedSchema(id)+`._tenantapi_migrations WHERE track = 'app'),
				EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
					JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
					JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
					WHERE n.nspname = $2 AND c.relname = 'items' AND a.attname = 'killed_mid_run' AND NOT a.attisdropped)`,
				string(id), id.Schema()).Scan(&registry, &ledger, &column)
			if err != nil {
				return err
			}
			if registry != ledger || column != (ledger == 2) {
				t.Errorf("%s: registry at version %d, ledger at %d, column there: %v", id, registry, ledger, column)
			}
			if ledger == 2 {
				migrated++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return migrated
}
