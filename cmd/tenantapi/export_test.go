package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
	"github.com/tenantapi/tenantapi/postgres"
)

const projectsSet = "../../examples/projects"

// rewriteArchive returns archive with each entry's body passed through
// edit (by entry name).
func rewriteArchive(t *testing.T, archive []byte, edit func(name string, body []byte) []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(archive))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		body = edit(h.Name, body)
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

// editManifest rewrites the archive's manifest with edit.
func editManifest(t *testing.T, archive []byte, edit func(*postgres.Manifest)) []byte {
	return rewriteArchive(t, archive, func(name string, body []byte) []byte {
		if name != "manifest.json" {
			return body
		}
		var m postgres.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		edit(&m)
		b, _ := json.Marshal(m)
		return b
	})
}

func TestTenantExportImport(t *testing.T) {
	e := setupSet(t, exampleSet(t))
	ctx := context.Background()
	e.tenant("src")
	p := e.as("src", "POST", "/projects", `{"code":"APP","title":"Mobile app","budget":1234567890.10,
		"starts_on":"2026-02-28","tags":["ios","android",null],"settings":{"theme":"dark","n":[1,2.50]},"archived":true}`)
	expect(t, p, 201, "")
	pid := p.json(t)["id"].(string)
	expect(t, e.as("src", "POST", "/tasks", `{"project_id":"`+pid+`","title":"Login","status":"doing","priority":5,
		"estimate":0.1,"due_on":"2026-03-01"}`), 201, "")
	expect(t, e.as("src", "POST", "/tasks", `{"project_id":"`+pid+`","title":"Défaults \t tab\nline"}`), 201, "")
	idem := e.as("src", "POST", "/items", `{"name":"once","attributes":{"a":[1,"x",null]}}`, "Idempotency-Key", "k-1")
	expect(t, idem, 201, "")
	conn, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO tenant_src.task_counters VALUES ($1, 7)`, pid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO tenant_src._audit (note) SELECT 'note ' || g FROM generate_series(1, 3) g;
		INSERT INTO tenant_src.items (id, name, created_at, updated_at)
			SELECT gen_random_uuid(), 'bulk ' || g, now(), now() FROM generate_series(1, 2000) g`); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"DATABASE_URL": e.url, "TENANT_MIGRATIONS": projectsSet}
	file := filepath.Join(t.TempDir(), "src.tar")
	m := cliJSON(t, env, "tenants", "export", "src", "--out", file, "--json")
	if m["tables"].(float64) != 7 || m["rows"].(float64) < 2009 {
		t.Errorf("export: %v", m)
	}
	archive, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	// Refused archives leave nothing behind.
	nothingLeft := func(id string) {
		t.Helper()
		var n int
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM public.tenants WHERE id = $1)
			+ (SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_' || $1)
			+ (SELECT count(*) FROM pg_roles WHERE rolname LIKE '%\_' || $1)`, id).Scan(&n)
		if err != nil || n != 0 {
			t.Errorf("%s: %d objects left behind (%v)", id, n, err)
		}
	}
	flip := rewriteArchive(t, archive, func(name string, body []byte) []byte {
		return bytes.Replace(body, []byte("Mobile app"), []byte("Mobile apq"), 1)
	})
	for _, tc := range []struct {
		name, want string
		archive    []byte
	}{
		{"truncated", "truncated", archive[:len(archive)*2/3]},
		{"cut in the manifest", "manifest", archive[:700]},
		{"not tar", "not a tenant archive", []byte("hello, this is not an archive at all")},
		{"flipped byte", "table projects: checksum", flip},
		{"edited count", "table task_counters: 1 rows, the manifest says 2", editManifest(t, archive, func(m *postgres.Manifest) {
			for i := range m.Tables {
				if m.Tables[i].Name == "task_counters" {
					m.Tables[i].Rows++
				}
			}
		})},
		{"newer", "newer version", editManifest(t, archive, func(m *postgres.Manifest) { m.AppVersion = 99 })},
		{"foreign", "different application set", editManifest(t, archive, func(m *postgres.Manifest) {
			for i := range m.Ledger {
				if m.Ledger[i].Track == "app" && m.Ledger[i].Version == 2 {
					m.Ledger[i].Checksum = strings.Repeat("0", 64)
				}
			}
		})},
	} {
		bad := filepath.Join(t.TempDir(), "bad.tar")
		os.WriteFile(bad, tc.archive, 0o600)
		code, _, errs := cli(t, env, "tenants", "import", bad, "--as", "bad_x")
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.name, code, errs, tc.want)
		}
		nothingLeft("bad_x")
	}
	// The same id again is refused.
	if code, _, errs := cli(t, env, "tenants", "import", file); code != 1 || !strings.Contains(errs, "already exists") {
		t.Errorf("import over src: exit %d, %s", code, errs)
	}

	m = cliJSON(t, env, "tenants", "import", file, "--as", "dst", "--json")
	if m["id"] != "dst" || m["schema_version"] != 2.0 || m["name"] != "Tenant src" {
		t.Errorf("import: %v", m)
	}
	store := postgres.NewTenantStore(e.db, nil)
	srcSums, srcCounts, err := store.TableChecksums(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	dstSums, dstCounts, err := store.TableChecksums(ctx, "dst")
	if err != nil {
		t.Fatal(err)
	}
	if len(srcSums) != 7 {
		t.Errorf("tables: %v", srcSums)
	}
	for name, sum := range srcSums {
		if dstSums[name] != sum || dstCounts[name] != srcCounts[name] || srcCounts[name] == 0 {
			t.Errorf("table %s: src %d rows %s, dst %d rows %s", name, srcCounts[name], sum, dstCounts[name], dstSums[name])
		}
	}
	// Through the API: the same rows, and the idempotency key replays.
	r := e.admin("POST", "/admin/tenants/dst/api-keys", `{"name":"test"}`)
	expect(t, r, 201, "")
	e.keyOf["dst"] = r.json(t)["key"].(string)
	for _, path := range []string{"/projects/" + pid, "/tasks?limit=10", "/items?limit=5"} {
		a, b := e.as("src", "GET", path, ""), e.as("dst", "GET", path, "")
		if a.status != 200 || a.status != b.status || !bytes.Equal(a.body, b.body) {
			t.Errorf("GET %s: src %d %s\ndst %d %s", path, a.status, a.body, b.status, b.body)
		}
	}
	again := e.as("dst", "POST", "/items", `{"name":"once","attributes":{"a":[1,"x",null]}}`, "Idempotency-Key", "k-1")
	if again.status != 201 || !bytes.Equal(again.body, idem.body) {
		t.Errorf("idempotent replay on dst: %d %s, want %s", again.status, again.body, idem.body)
	}
	// The identity sequence came along: new rows do not collide.
	var next int64
	if err := conn.QueryRow(ctx, `INSERT INTO tenant_dst._audit (note) VALUES ('after') RETURNING id`).Scan(&next); err != nil || next != 4 {
		t.Errorf("audit id after import: %d (%v)", next, err)
	}
}

// TestTenantExportStreams exports a tenant of 20,000 rows of 2 KB each
// (about 40 MB) and checks the heap does not grow with it. It does not run
// in parallel, so nothing else moves the heap meanwhile.
func TestTenantExportStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("large export")
	}
	env := map[string]string{"DATABASE_URL": testdb.New(t)}
	if code, _, errs := cli(t, env, "migrate"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := cli(t, env, "tenants", "create", "big"); code != 0 {
		t.Fatal(errs)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO tenant_big.items (id, name, description, created_at, updated_at)
		SELECT gen_random_uuid(), 'row ' || g, repeat(md5(g::text), 64), now(), now() FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "big.tar")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
		}
	}()
	code, _, errs := cli(t, env, "tenants", "export", "big", "--out", file)
	close(stop)
	<-sampled
	if code != 0 {
		t.Fatal(errs)
	}
	info, err := os.Stat(file)
	if err != nil || info.Size() < 40<<20 {
		t.Fatalf("archive %v bytes (%v)", info.Size(), err)
	}
	if grew := int64(peak.Load()) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew %d MB exporting a %d MB archive", grew>>20, info.Size()>>20)
	}
	t.Logf("archive %d MB, heap peak +%d KB", info.Size()>>20, (int64(peak.Load())-int64(before.HeapAlloc))>>10)

	// And it imports back, streamed too.
	m := cliJSON(t, env, "tenants", "import", file, "--as", "big2", "--json")
	if m["id"] != "big2" {
		t.Errorf("import: %v", m)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tenant_big2.items`).Scan(&n); err != nil || n != 20000 {
		t.Errorf("imported %d items (%v)", n, err)
	}
}
