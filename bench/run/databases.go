package main

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
	"github.com/tenantapi/tenantapi/internal/pgcluster"
	"github.com/tenantapi/tenantapi/postgres"
)

// The databases section runs on three clusters: the harness's own (cluster
// 1) holds the control database (tenantapi's "main") and "many", the
// database of the catalog figures; clusters 2 and 3 hold the databases "b"
// and "c" (each the cluster's own database).
const (
	dbControl = "moves" // cluster 1's database of main
	dbMany    = "many"  // cluster 1's database of the tenantapi database many
	dbScratch = "scratch"
)

// dbSizes are the section's sizes: full, or tiny with --quick.
type dbSizes struct {
	MoveItems   int `json:"move_items"`   // the tenant moved under load
	CrashItems  int `json:"crash_items"`  // the tenant killed at each step
	ExportItems int `json:"export_items"` // the tenant exported
	Spread      int `json:"spread_per_database"`
	Many        int `json:"many_tenants"`
	SmallItems  int `json:"items_of_the_other_tenants"`
	Others      int `json:"other_tenants_per_database"`
	WriteRate   int `json:"write_rate"`
	ReadRate    int `json:"read_rate"`
	OtherRate   int `json:"other_rate"`
	// WarmupSeconds of traffic come first, unmeasured (each backend's first
	// role switch at thousands of tenants takes long), then BeforeSeconds,
	// the others' window before the move.
	WarmupSeconds float64 `json:"warmup_seconds"`
	BeforeSeconds float64 `json:"before_seconds"`
}

func (h *harness) dbSizes() dbSizes {
	if h.o.quick {
		return dbSizes{MoveItems: 2000, CrashItems: 300, ExportItems: 2000, Spread: 67, Many: 200, SmallItems: 5, Others: 2,
			WriteRate: 100, ReadRate: 50, OtherRate: 60, WarmupSeconds: 2, BeforeSeconds: 3}
	}
	return dbSizes{MoveItems: 100000, CrashItems: 10000, ExportItems: 100000, Spread: 3334, Many: 10000, SmallItems: 5, Others: 3,
		WriteRate: 200, ReadRate: 100, OtherRate: 100, WarmupSeconds: 15, BeforeSeconds: 15}
}

// dbResults is what the databases section measured.
type dbResults struct {
	Sizes     dbSizes           `json:"sizes"`
	Provision []provisionResult `json:"provision,omitempty"`
	Move      *loadMoveResult   `json:"move_under_load,omitempty"`
	Offline   *offlineResult    `json:"offline_pg_dump,omitempty"`
	Crashes   []*crashResult    `json:"crashes,omitempty"`
	Export    *exportResult     `json:"export,omitempty"`
	Catalog   *catalogMemResult `json:"catalog_memory,omitempty"`
	Error     string            `json:"error,omitempty"`
}

// dbSetup is the section's clusters, databases and server.
type dbSetup struct {
	c2, c3 *cluster
	// owner is each tenantapi database's owner connection string.
	owner   map[string]string
	svc     *service
	client  *http.Client
	store   *postgres.TenantStore
	db      *postgres.DB
	ctl     *pgx.Conn
	tenants map[string]benchkit.Tenant // the big ones, by role: mover, crash, export
	others  []benchkit.Tenant
	otherDB []string                     // the database of each of others
	spread  map[string][]benchkit.Tenant // by database
	many    []benchkit.Tenant
}

func (h *harness) databasesSection(ctx context.Context) *dbResults {
	res := &dbResults{Sizes: h.dbSizes()}
	limit := 45 * time.Minute
	if h.o.quick {
		limit = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	s, err := h.dbSetUp(ctx, res)
	if s != nil {
		defer s.close()
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	step := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: databases: "+format+"\n", args...) }
	var errs []string
	note := func(what string, err error) {
		if err != nil {
			step("%s: %v", what, err)
			errs = append(errs, what+": "+err.Error())
		}
	}
	step("pg_dump | psql of the %d-item tenant into a scratch database", res.Sizes.MoveItems)
	res.Offline, err = h.offlineCopy(ctx, s)
	note("offline copy", err)
	step("moving the %d-item tenant from main to b under load", res.Sizes.MoveItems)
	res.Move, err = h.moveUnderLoad(ctx, s)
	note("move under load", err)
	if res.Move != nil && res.Offline != nil && res.Offline.Seconds > 0 {
		res.Move.OfflineRatio = res.Move.Seconds / res.Offline.Seconds
	}
	step("a move killed at each step, then carried on or aborted")
	res.Crashes, err = h.crashes(ctx, s)
	note("crashes", err)
	step("export while serving against pg_dump, then import")
	res.Export, err = h.exportCompare(ctx, s)
	note("export", err)
	s.svc.stop()
	s.svc = nil
	step("catalog memory: one database against three")
	res.Catalog, err = h.catalogMemory(ctx, s)
	note("catalog memory", err)
	res.Error = strings.Join(errs, "; ")
	return res
}

func (s *dbSetup) close() {
	if s.svc != nil {
		s.svc.stop()
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	if s.ctl != nil {
		s.ctl.Close(context.Background())
	}
	if s.db != nil {
		s.db.Close()
	}
	for _, c := range []*cluster{s.c2, s.c3} {
		if c != nil {
			c.stop()
		}
	}
}

// dbSetUp starts clusters 2 and 3, makes the control database and adds the
// others with `tenantapi databases add`, provisions every tenant and starts
// tenantapi serve on the control database.
func (h *harness) dbSetUp(ctx context.Context, res *dbResults) (*dbSetup, error) {
	sz := res.Sizes
	s := &dbSetup{tenants: map[string]benchkit.Tenant{}, spread: map[string][]benchkit.Tenant{}}
	conn, err := pgx.Connect(ctx, h.c.ownerURL("postgres"))
	if err != nil {
		return s, err
	}
	for _, d := range []string{dbControl, dbMany} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+d); err != nil {
			conn.Close(ctx)
			return s, err
		}
	}
	conn.Close(ctx)
	fmt.Fprintln(os.Stderr, "bench: databases: starting PostgreSQL 2 and 3")
	if s.c2, err = startCluster(ctx, filepath.Join(h.dir, "pg2")); err != nil {
		return s, err
	}
	if s.c3, err = startCluster(ctx, filepath.Join(h.dir, "pg3")); err != nil {
		return s, err
	}
	s.owner = map[string]string{postgres.MainDatabase: h.c.ownerURL(dbControl), dbMany: h.c.ownerURL(dbMany),
		"b": s.c2.ownerURL(benchDatabase), "c": s.c3.ownerURL(benchDatabase)}
	if err := h.tenantapiCommand(ctx, dbControl, "migrate"); err != nil {
		return s, err
	}
	for _, name := range []string{"b", "c", dbMany} {
		if err := h.tenantapiCommand(ctx, dbControl, "databases", "add", name, "--url", s.owner[name]); err != nil {
			return s, err
		}
	}
	if err := h.tenantapiCommand(ctx, dbControl, "migrate"); err != nil {
		return s, err
	}
	provision := func(place, prefix string, n, items int) ([]benchkit.Tenant, error) {
		start := time.Now()
		ds, prov, err := provisionTenants(ctx, h.c, dataSpec{database: dbControl, place: place, copyURL: s.owner[place],
			prefix: prefix, tenants: n, items: items, workers: 6})
		if err != nil {
			return nil, err
		}
		prov.Database = place
		res.Provision = append(res.Provision, prov)
		fmt.Fprintf(os.Stderr, "bench: databases: provisioned %d tenants × %d items in %s in %.1f s\n", n, items, place, time.Since(start).Seconds())
		return ds.Tenants, nil
	}
	for _, big := range []struct {
		role, place, prefix string
		items               int
	}{{"mover", postgres.MainDatabase, "mv", sz.MoveItems}, {"crash", postgres.MainDatabase, "cr", sz.CrashItems},
		{"export", dbMany, "ex", sz.ExportItems}} {
		ts, err := provision(big.place, big.prefix, 1, big.items)
		if err != nil {
			return s, err
		}
		s.tenants[big.role] = ts[0]
	}
	for _, d := range []struct{ name, prefix string }{{postgres.MainDatabase, "sa"}, {"b", "sb"}, {"c", "sc"}} {
		ts, err := provision(d.name, d.prefix, sz.Spread, sz.SmallItems)
		if err != nil {
			return s, err
		}
		s.spread[d.name] = ts
		s.others = append(s.others, ts[:sz.Others]...)
		s.otherDB = append(s.otherDB, slices.Repeat([]string{d.name}, sz.Others)...)
	}
	if s.many, err = provision(dbMany, "m", sz.Many, sz.SmallItems); err != nil {
		return s, err
	}
	s.others = append(s.others, s.many[:sz.Others]...)
	s.otherDB = append(s.otherDB, slices.Repeat([]string{dbMany}, sz.Others)...)

	port, err := pgcluster.FreePort()
	if err != nil {
		return s, err
	}
	if s.svc, err = startService(ctx, h.dir, "tenantapi-databases", "tenantapi", port, "/readyz", h.tenantapiEnv(dbControl, port, nil),
		h.bins["tenantapi"], "serve"); err != nil {
		return s, err
	}
	s.client = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	if s.db, err = postgres.Open(ctx, postgres.Config{URL: h.c.ownerURL(dbControl), RuntimeURL: h.c.runtimeURL(dbControl),
		TenantRoles: true, MaxConns: 4, RuntimeRole: runtimeUser}); err != nil {
		return s, err
	}
	s.store = postgres.NewTenantStore(s.db, nil)
	s.ctl, err = pgx.Connect(ctx, h.c.ownerURL(dbControl))
	return s, err
}

// ---- traffic ----

// ack is an acknowledged write: the id the service answered, the name the
// client gave it, when the answer came.
type ack struct {
	ID, Name string
	At       time.Time
}

// tenantTraffic drives one tenant: writes (POST /items, each answered id
// logged) and reads (GET /items/{id} of its initial items, and lists).
type tenantTraffic struct {
	mu         sync.Mutex
	acks       []ack
	unanswered []string // names of writes that got no 201: an error or another status
	writeCodes map[int]int
	readCodes  map[int]int
	readErrs   int // transport errors of reads
	writeErrs  int // transport errors of writes
	dropped    int // ticks skipped because every worker was busy
}

// otherTraffic is the other tenants' reads, latency by phase.
type otherTraffic struct {
	mu     sync.Mutex
	phase  string
	lat    map[string][]float64
	errors map[string]int
	codes  map[int]int
	// since is when the phase began; slow the requests of the during
	// phase over 100 ms: when they began after since, how long, where.
	since time.Time
	slow  []slowRequest
}

type slowRequest struct {
	AtS      float64 `json:"started_at_s"`
	Ms       float64 `json:"ms"`
	Database string  `json:"database"`
}

// pace calls fn about rate times a second, with up to workers calls in
// flight, until stop is closed; wait returns when every call has ended.
func pace(stop <-chan struct{}, rate float64, workers int, fn func(seq int)) (wait func(), dropped *int) {
	dropped = new(int)
	if rate <= 0 {
		return func() {}, dropped
	}
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for seq := range jobs {
				fn(seq)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(jobs)
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			select {
			case jobs <- seq:
			default:
				*dropped++
			}
		}
	}()
	return func() { <-done; wg.Wait() }, dropped
}

// request sends one request for the tenant and returns the status (0 on a
// transport error), the body and the latency.
func (s *dbSetup) request(method, path, body string, t benchkit.Tenant) (int, []byte, time.Duration) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.svc.url+path, rd)
	if err != nil {
		return 0, nil, 0
	}
	req.Header.Set("X-Tenant-Id", t.ID)
	req.Header.Set("Authorization", "Bearer "+t.Key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, time.Since(start)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, nil, d
	}
	return resp.StatusCode, b, d
}

// driveTenant starts writes and reads on t; stop ends them.
func (s *dbSetup) driveTenant(t benchkit.Tenant, tag string, writes, reads float64) (*tenantTraffic, func()) {
	tt := &tenantTraffic{writeCodes: map[int]int{}, readCodes: map[int]int{}}
	stop := make(chan struct{})
	waitW, dropW := pace(stop, writes, 16, func(seq int) {
		name := fmt.Sprintf("%s-%d", tag, seq)
		code, b, _ := s.request("POST", "/items", `{"name":"`+name+`","description":"written during the databases benchmark","attributes":{"seq":`+strconv.Itoa(seq)+`}}`, t)
		at := time.Now()
		var out struct {
			ID string `json:"id"`
		}
		tt.mu.Lock()
		defer tt.mu.Unlock()
		tt.writeCodes[code]++
		if code == 0 {
			tt.writeErrs++
		}
		if code == http.StatusCreated && json.Unmarshal(b, &out) == nil && out.ID != "" {
			tt.acks = append(tt.acks, ack{ID: out.ID, Name: name, At: at})
			return
		}
		tt.unanswered = append(tt.unanswered, name)
	})
	waitR, dropR := pace(stop, reads, 8, func(seq int) {
		path := "/items?limit=50"
		if seq%5 != 0 && len(t.Items) > 0 {
			path = "/items/" + t.Items[rand.IntN(len(t.Items))]
		}
		code, _, _ := s.request("GET", path, "", t)
		tt.mu.Lock()
		tt.readCodes[code]++
		if code == 0 {
			tt.readErrs++
		}
		tt.mu.Unlock()
	})
	return tt, func() {
		close(stop)
		waitW()
		waitR()
		tt.dropped = *dropW + *dropR
	}
}

func (tt *tenantTraffic) reads5xx() int {
	n := 0
	for c, k := range tt.readCodes {
		if c >= 500 {
			n += k
		}
	}
	return n
}

func (tt *tenantTraffic) readsNot200() int {
	n := 0
	for c, k := range tt.readCodes {
		if c != http.StatusOK {
			n += k
		}
	}
	return n
}

// driveOthers reads the other tenants' items (and lists) at rate.
func (s *dbSetup) driveOthers(rate float64) (*otherTraffic, func()) {
	ot := &otherTraffic{phase: "warmup", lat: map[string][]float64{}, errors: map[string]int{}, codes: map[int]int{}}
	stop := make(chan struct{})
	wait, _ := pace(stop, rate, 8, func(seq int) {
		t, db := s.others[seq%len(s.others)], s.otherDB[seq%len(s.others)]
		path := "/items?limit=50"
		if seq%4 != 0 {
			path = "/items/" + t.Items[rand.IntN(len(t.Items))]
		}
		ot.mu.Lock()
		phase, since := ot.phase, ot.since
		ot.mu.Unlock()
		began := time.Now()
		code, _, d := s.request("GET", path, "", t)
		ot.mu.Lock()
		ot.codes[code]++
		if code != http.StatusOK {
			ot.errors[phase]++
		}
		ms := float64(d.Microseconds()) / 1000
		ot.lat[phase] = append(ot.lat[phase], ms)
		ot.lat[phase+" "+db] = append(ot.lat[phase+" "+db], ms)
		if phase == "during" && ms > 100 && len(ot.slow) < 200 {
			ot.slow = append(ot.slow, slowRequest{AtS: began.Sub(since).Seconds(), Ms: ms, Database: db})
		}
		ot.mu.Unlock()
	})
	return ot, func() { close(stop); wait() }
}

func (ot *otherTraffic) setPhase(p string) {
	ot.mu.Lock()
	ot.phase, ot.since = p, time.Now()
	ot.mu.Unlock()
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// ---- the move command ----

type timedLine struct {
	At   float64 `json:"at_s"`
	Line string  `json:"line"`
}

// moveRun is one run of `tenantapi tenants move`.
type moveRun struct {
	Args     []string    `json:"args"`
	Lines    []timedLine `json:"stderr"`
	Stdout   string      `json:"stdout,omitempty"`
	Seconds  float64     `json:"seconds"`
	KilledAt string      `json:"killed_at,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// runMove runs tenantapi tenants ARGS against the control database,
// reading its progress on stderr; killOn, when set, kills it (SIGKILL) as
// soon as a line holding it appears.
func (h *harness) runMove(ctx context.Context, killOn string, args ...string) *moveRun {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	r := &moveRun{Args: args}
	cmd := exec.CommandContext(ctx, h.bins["tenantapi"], append([]string{"tenants"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + h.c.ownerURL(dbControl), "DATABASE_RUNTIME_URL=" + h.c.runtimeURL(dbControl)}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Error = err.Error()
		return r
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		r.Lines = append(r.Lines, timedLine{At: time.Since(start).Seconds(), Line: line})
		if killOn != "" && r.KilledAt == "" && strings.Contains(line, killOn) {
			cmd.Process.Signal(syscall.SIGKILL)
			r.KilledAt = line
		}
	}
	err = cmd.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Stdout = strings.TrimSpace(stdout.String())
	if err != nil && r.KilledAt == "" {
		var last string
		if n := len(r.Lines); n > 0 {
			last = r.Lines[n-1].Line
		}
		r.Error = fmt.Sprintf("%v: %s", err, last)
	}
	return r
}

// ---- checks on the databases ----

// where is the database the registry has the tenant in.
func (s *dbSetup) where(ctx context.Context, id string) (string, error) {
	var d string
	err := s.ctl.QueryRow(ctx, `SELECT database FROM public.tenants WHERE id = $1`, id).Scan(&d)
	return d, err
}

// itemsOn reads id → name of the items in schema of database (nil when
// the schema is not there): tenant_<id>, or tenant_<id>_moved for a source
// a move kept.
func (s *dbSetup) itemsOn(ctx context.Context, database, schema string) (map[string][]string, error) {
	conn, err := pgx.Connect(ctx, s.owner[database])
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".items").Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT id::text, name FROM `+pgx.Identifier{schema, "items"}.Sanitize())
	if err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		m[id] = append(m[id], name)
	}
	return m, rows.Err()
}

// replication lists the publications, replication slots and subscriptions
// left on every cluster of the section.
func (s *dbSetup) replication(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, name := range []string{postgres.MainDatabase, dbMany, "b", "c"} {
		conn, err := pgx.Connect(ctx, s.owner[name])
		if err != nil {
			return nil, err
		}
		rows, err := conn.Query(ctx, `
			SELECT 'publication ' || pubname || ' in ' || current_database() || ' of ' || inet_server_port() FROM pg_publication
			UNION ALL SELECT 'slot ' || slot_name || ' of ' || inet_server_port() FROM pg_replication_slots
			UNION ALL SELECT 'subscription ' || subname || ' of ' || inet_server_port() FROM pg_subscription`)
		if err == nil {
			var names []string
			names, err = pgx.CollectRows(rows, pgx.RowTo[string])
			for _, n := range names {
				if !seen[n] {
					seen[n] = true
					out = append(out, n)
				}
			}
		}
		conn.Close(ctx)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ---- 1. the move under load ----

type loadMoveResult struct {
	Tenant       string   `json:"tenant"`
	Items        int      `json:"initial_items"`
	Run          *moveRun `json:"run"`
	Seconds      float64  `json:"seconds"`
	HoldMs       float64  `json:"hold_ms"`
	Holds        float64  `json:"holds"`
	OfflineRatio float64  `json:"move_over_offline"`
	// The moving tenant's traffic.
	Acked          int         `json:"acked_writes"`
	Unanswered     int         `json:"writes_without_201"`
	WriteCodes     map[int]int `json:"write_statuses"`
	ReadCodes      map[int]int `json:"read_statuses"`
	Reads5xx       int         `json:"read_5xx"`
	Write503       int         `json:"write_503"`
	Dropped        int         `json:"ticks_dropped"`
	MaxGapMs       float64     `json:"longest_gap_between_acked_writes_ms"`
	MaxGapAtS      float64     `json:"longest_gap_at_s"` // from the move's start
	WriteRateDone  float64     `json:"acked_writes_per_second_during_move"`
	Lost           int         `json:"acked_missing_on_target"`
	Duplicated     int         `json:"duplicated_on_target"`
	Unexplained    int         `json:"rows_on_target_not_acked_nor_initial"`
	FromUnanswered int         `json:"rows_on_target_of_writes_without_201"`
	SourceOnly     int         `json:"rows_only_on_kept_source"`
	TargetRows     int         `json:"target_rows"`
	FinalDatabase  string      `json:"final_database"`
	// The other tenants' reads.
	Others       int      `json:"other_tenants"`
	OtherBefore  int      `json:"other_requests_before"`
	OtherDuring  int      `json:"other_requests_during"`
	OtherErrors  int      `json:"other_errors"`
	OtherP99Pre  float64  `json:"other_p99_before_ms"`
	OtherP99Move float64  `json:"other_p99_during_ms"`
	OtherP50Pre  float64  `json:"other_p50_before_ms"`
	OtherP50Move float64  `json:"other_p50_during_ms"`
	Replication  []string `json:"replication_left"`
	// OtherByDB is the others' p99 and max before and during the move, by
	// their database.
	OtherByDB []otherByDB `json:"other_by_database"`
	// OtherSlow are the others' requests over 100 ms during the move.
	OtherSlow []slowRequest `json:"other_slow_during"`
}

type otherByDB struct {
	Database  string  `json:"database"`
	Before    int     `json:"requests_before"`
	During    int     `json:"requests_during"`
	P99Before float64 `json:"p99_before_ms"`
	P99During float64 `json:"p99_during_ms"`
	MaxBefore float64 `json:"max_before_ms"`
	MaxDuring float64 `json:"max_during_ms"`
}

func (h *harness) moveUnderLoad(ctx context.Context, s *dbSetup) (*loadMoveResult, error) {
	sz := h.dbSizes()
	t := s.tenants["mover"]
	r := &loadMoveResult{Tenant: t.ID, Items: len(t.Items), Others: len(s.others)}
	ot, stopOthers := s.driveOthers(float64(sz.OtherRate))
	tt, stopMover := s.driveTenant(t, "load", float64(sz.WriteRate), float64(sz.ReadRate))
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopMover()
			stopOthers()
		}
	}
	defer stop()
	for _, w := range []struct {
		seconds float64
		next    string
	}{{sz.WarmupSeconds, "before"}, {sz.BeforeSeconds, "during"}} {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(time.Duration(w.seconds * float64(time.Second))):
		}
		ot.setPhase(w.next)
	}
	moveStart := time.Now()
	r.Run = h.runMove(ctx, "", "move", t.ID, "--to", "b", "--keep-source", "--json")
	moveEnd := time.Now()
	ot.setPhase("after")
	time.Sleep(2 * time.Second)
	stop()
	if r.Run.Error != "" {
		return r, errors.New(r.Run.Error)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.Run.Stdout), &out); err != nil {
		return r, fmt.Errorf("move --json: %v: %q", err, r.Run.Stdout)
	}
	r.Seconds, _ = out["seconds"].(float64)
	r.HoldMs, _ = out["hold_ms"].(float64)
	r.Holds, _ = out["holds"].(float64)

	r.Acked, r.Unanswered, r.WriteCodes, r.ReadCodes = len(tt.acks), len(tt.unanswered), tt.writeCodes, tt.readCodes
	r.Reads5xx, r.Write503, r.Dropped = tt.reads5xx(), tt.writeCodes[http.StatusServiceUnavailable], tt.dropped
	acks := slices.Clone(tt.acks)
	slices.SortFunc(acks, func(a, b ack) int { return a.At.Compare(b.At) })
	for i := 1; i < len(acks); i++ {
		if g := acks[i].At.Sub(acks[i-1].At); g.Seconds()*1000 > r.MaxGapMs {
			r.MaxGapMs, r.MaxGapAtS = g.Seconds()*1000, acks[i-1].At.Sub(moveStart).Seconds()
		}
	}
	during := 0
	for _, a := range acks {
		if a.At.After(moveStart) && a.At.Before(moveEnd) {
			during++
		}
	}
	r.WriteRateDone = float64(during) / moveEnd.Sub(moveStart).Seconds()

	var err error
	if r.FinalDatabase, err = s.where(ctx, t.ID); err != nil {
		return r, err
	}
	target, err := s.itemsOn(ctx, "b", "tenant_"+t.ID)
	if err != nil {
		return r, err
	}
	// The source, kept (--keep-source) and fenced under its new name.
	source, err := s.itemsOn(ctx, postgres.MainDatabase, "tenant_"+t.ID+"_moved")
	if err != nil {
		return r, err
	}
	if source == nil {
		return r, errors.New("the kept source schema is not on main: nothing to reconcile it against")
	}
	reconcile(r, t, tt, target, source)
	ot.mu.Lock()
	r.OtherBefore, r.OtherDuring = len(ot.lat["before"]), len(ot.lat["during"])
	r.OtherP99Pre, r.OtherP99Move = percentile(ot.lat["before"], 0.99), percentile(ot.lat["during"], 0.99)
	r.OtherP50Pre, r.OtherP50Move = percentile(ot.lat["before"], 0.5), percentile(ot.lat["during"], 0.5)
	for _, n := range ot.errors {
		r.OtherErrors += n
	}
	for _, d := range []string{postgres.MainDatabase, "b", "c", dbMany} {
		pre, dur := ot.lat["before "+d], ot.lat["during "+d]
		r.OtherByDB = append(r.OtherByDB, otherByDB{Database: d, Before: len(pre), During: len(dur),
			P99Before: percentile(pre, 0.99), P99During: percentile(dur, 0.99), MaxBefore: percentile(pre, 1), MaxDuring: percentile(dur, 1)})
	}
	r.OtherSlow = ot.slow
	ot.mu.Unlock()
	r.Replication, err = s.replication(ctx)
	fmt.Fprintf(os.Stderr, "bench: databases: moved in %.1f s (hold %.0f ms); %d acked, %d lost, %d duplicated, %d unexplained, %d only on the source; longest gap %.0f ms; read 5xx %d, write 503 %d; others p99 %.1f → %.1f ms, errors %d\n",
		r.Seconds, r.HoldMs, r.Acked, r.Lost, r.Duplicated, r.Unexplained, r.SourceOnly, r.MaxGapMs, r.Reads5xx, r.Write503,
		r.OtherP99Pre, r.OtherP99Move, r.OtherErrors)
	return r, err
}

// reconcile checks the client's log against the target (and the kept
// source): every acked id on the target exactly once, nothing there but
// the initial rows and acked writes.
func reconcile(r *loadMoveResult, t benchkit.Tenant, tt *tenantTraffic, target, source map[string][]string) {
	initial := map[string]bool{}
	for _, id := range t.Items {
		initial[id] = true
	}
	acked := map[string]bool{}
	for _, a := range tt.acks {
		acked[a.ID] = true
		if len(target[a.ID]) == 0 {
			r.Lost++
		}
	}
	unanswered := map[string]bool{}
	for _, n := range tt.unanswered {
		unanswered[n] = true
	}
	names := map[string]int{}
	for id, ns := range target {
		r.TargetRows += len(ns)
		if len(ns) > 1 {
			r.Duplicated += len(ns) - 1
		}
		for _, n := range ns {
			names[n]++
		}
		if initial[id] || acked[id] {
			continue
		}
		if len(ns) > 0 && unanswered[ns[0]] {
			r.FromUnanswered++
		} else {
			r.Unexplained++
		}
	}
	for n, k := range names {
		if k > 1 && !strings.HasPrefix(n, "item ") {
			r.Duplicated += k - 1
		}
	}
	for id := range source {
		if _, ok := target[id]; !ok {
			r.SourceOnly++
		}
	}
}

// ---- 2. pg_dump | psql ----

type offlineResult struct {
	Tenant      string  `json:"tenant"`
	Seconds     float64 `json:"seconds"`
	Rows        int64   `json:"rows_restored"`
	ErrorsInLog int     `json:"psql_error_lines"`
	Command     string  `json:"command"`
}

func (h *harness) offlineCopy(ctx context.Context, s *dbSetup) (*offlineResult, error) {
	t := s.tenants["mover"]
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, s.c2.ownerURL("postgres"))
	if err != nil {
		return nil, err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+dbScratch)
	conn.Close(ctx)
	if err != nil {
		return nil, err
	}
	schema := "tenant_" + t.ID
	r := &offlineResult{Tenant: t.ID, Command: "pg_dump -n " + schema + " --no-owner --no-privileges <main> | psql -q <scratch database on cluster 2>"}
	dump := exec.CommandContext(ctx, filepath.Join(bin, "pg_dump"), "-n", schema, "--no-owner", "--no-privileges", "-d", s.owner[postgres.MainDatabase])
	restore := exec.CommandContext(ctx, filepath.Join(bin, "psql"), "-q", "-X", "-d", s.c2.ownerURL(dbScratch))
	var dumpErr, restoreErr strings.Builder
	dump.Stderr, restore.Stderr, restore.Stdout = &dumpErr, &restoreErr, io.Discard
	if restore.Stdin, err = dump.StdoutPipe(); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := restore.Start(); err != nil {
		return nil, err
	}
	if err := dump.Run(); err != nil {
		restore.Wait()
		return r, fmt.Errorf("pg_dump: %v: %s", err, dumpErr.String())
	}
	if err := restore.Wait(); err != nil {
		return r, fmt.Errorf("psql: %v: %s", err, restoreErr.String())
	}
	r.Seconds = time.Since(start).Seconds()
	r.ErrorsInLog = strings.Count(restoreErr.String(), "ERROR")
	c2, err := pgx.Connect(ctx, s.c2.ownerURL(dbScratch))
	if err != nil {
		return r, err
	}
	defer c2.Close(ctx)
	err = c2.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "items"}.Sanitize()).Scan(&r.Rows)
	fmt.Fprintf(os.Stderr, "bench: databases: pg_dump | psql of %d rows: %.1f s (%d ERROR lines)\n", r.Rows, r.Seconds, r.ErrorsInLog)
	return r, err
}

// ---- 3. killed at each step ----

type crashResult struct {
	Step          string      `json:"step"`
	Line          string      `json:"line"` // what the killed move printed last
	From          string      `json:"from"`
	To            string      `json:"to"`
	Then          string      `json:"then"` // rerun or abort
	Killed        *moveRun    `json:"killed"`
	Recovery      []*moveRun  `json:"recovery"`
	Reads         int         `json:"reads"`
	Reads5xx      int         `json:"read_5xx"`
	ReadsNot200   int         `json:"reads_not_200"`
	WriteCodes    map[int]int `json:"write_statuses"`
	Final         string      `json:"final_database"`
	Want          string      `json:"expected_database"`
	Rows          int         `json:"rows"`
	Expected      int         `json:"expected_rows"` // initial + acked
	Unanswered    int         `json:"writes_without_201"`
	LostAcked     int         `json:"acked_missing"`
	Replication   []string    `json:"replication_left"`
	LeftOnSources []string    `json:"schemas_left_elsewhere,omitempty"`
	Error         string      `json:"error,omitempty"`
}

// crashSteps are the move's progress lines, in order, each that of a step.
var crashSteps = []struct{ step, line string }{
	{"schema", "schema made on"},
	{"publish", "published "},
	{"subscribe", "subscribed on"},
	{"copying", "copying: "},
	{"copied", "; streaming changes"},
	{"hold", "source fenced"},
	{"flip", "now lives in"},
	{"drop source", "dropped the source schema"},
}

func (h *harness) crashes(ctx context.Context, s *dbSetup) ([]*crashResult, error) {
	t := s.tenants["crash"]
	var out []*crashResult
	var errs []string
	for i, st := range crashSteps {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		from, err := s.where(ctx, t.ID)
		if err != nil {
			return out, err
		}
		to := map[string]string{postgres.MainDatabase: "b", "b": "c", "c": postgres.MainDatabase}[from]
		r := &crashResult{Step: st.step, From: from, To: to, Then: "rerun"}
		if i%2 == 1 {
			r.Then = "abort"
		}
		tt, stop := s.driveTenant(t, "crash"+strconv.Itoa(i), 20, 20)
		time.Sleep(500 * time.Millisecond)
		r.Killed = h.runMove(ctx, st.line, "move", t.ID, "--to", to)
		if r.Killed.KilledAt != "" {
			r.Line = r.Killed.KilledAt
		} else if n := len(r.Killed.Lines); n > 0 {
			r.Line = "not seen; the move ran to its end: " + r.Killed.Lines[n-1].Line
		}
		time.Sleep(time.Second) // the tenant served while nothing carries the move on
		r.Want = to
		if r.Then == "abort" {
			rec := h.runMove(ctx, "", "move", t.ID, "--abort")
			r.Recovery = append(r.Recovery, rec)
			r.Want = from
			if rec.Error != "" {
				// After the flip there is nothing to undo: finish it.
				rec2 := h.runMove(ctx, "", "move", t.ID, "--to", to)
				r.Recovery = append(r.Recovery, rec2)
				r.Want = to
			}
		} else {
			r.Recovery = append(r.Recovery, h.runMove(ctx, "", "move", t.ID, "--to", to))
		}
		if r.Killed.KilledAt == "" && r.Killed.Error == "" {
			r.Want = to // the move was over before the line came
		}
		time.Sleep(time.Second)
		stop()
		tt.mu.Lock()
		for _, n := range tt.readCodes {
			r.Reads += n
		}
		r.Reads5xx, r.ReadsNot200, r.WriteCodes, r.Unanswered = tt.reads5xx(), tt.readsNot200(), tt.writeCodes, len(tt.unanswered)
		tt.mu.Unlock()
		if r.Final, err = s.where(ctx, t.ID); err != nil {
			return out, err
		}
		items, err := s.itemsOn(ctx, r.Final, "tenant_"+t.ID)
		if err != nil {
			return out, err
		}
		for _, ns := range items {
			r.Rows += len(ns)
		}
		// Acked so far, in this trial and every earlier one.
		t.Items = append(t.Items, ackedIDs(tt)...)
		r.Expected = len(t.Items)
		for _, id := range t.Items {
			if len(items[id]) == 0 {
				r.LostAcked++
			}
		}
		for _, d := range []string{postgres.MainDatabase, "b", "c"} {
			if d == r.Final {
				continue
			}
			for _, schema := range []string{"tenant_" + t.ID, "tenant_" + t.ID + "_moved"} {
				if m, err := s.itemsOn(ctx, d, schema); err == nil && m != nil {
					r.LeftOnSources = append(r.LeftOnSources, d+"."+schema)
				}
			}
		}
		if r.Replication, err = s.replication(ctx); err != nil {
			return out, err
		}
		var bad []string
		for _, rec := range r.Recovery {
			if rec.Error != "" && r.Then != "abort" {
				bad = append(bad, "recovery: "+rec.Error)
			}
		}
		if r.Final != r.Want {
			bad = append(bad, fmt.Sprintf("in %s, expected %s", r.Final, r.Want))
		}
		if r.Rows != r.Expected || r.LostAcked > 0 {
			bad = append(bad, fmt.Sprintf("%d rows, expected %d (%d acked missing)", r.Rows, r.Expected, r.LostAcked))
		}
		if len(r.Replication) > 0 {
			bad = append(bad, "left: "+strings.Join(r.Replication, ", "))
		}
		if r.Reads5xx > 0 {
			bad = append(bad, fmt.Sprintf("%d read 5xx", r.Reads5xx))
		}
		r.Error = strings.Join(bad, "; ")
		if r.Error != "" {
			errs = append(errs, st.step+": "+r.Error)
		}
		fmt.Fprintf(os.Stderr, "bench: databases: killed at %s (%s), then %s: in %s, %d rows of %d expected, reads %d (5xx %d), writes %v, replication left %d%s\n",
			st.step, r.Line, r.Then, r.Final, r.Rows, r.Expected, r.Reads, r.Reads5xx, r.WriteCodes, len(r.Replication), errSuffix(r.Error))
		out = append(out, r)
	}
	s.tenants["crash"] = t
	if len(errs) > 0 {
		return out, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

func ackedIDs(tt *tenantTraffic) []string {
	ids := make([]string, len(tt.acks))
	for i, a := range tt.acks {
		ids[i] = a.ID
	}
	return ids
}

// ---- 4. export against pg_dump ----

type exportResult struct {
	Tenant          string      `json:"tenant"`
	Items           int         `json:"items"`
	SchemasInDB     int         `json:"tenant_schemas_in_database"`
	ExportSeconds   float64     `json:"export_seconds"`
	ArchiveBytes    int64       `json:"archive_bytes"`
	PgDumpSeconds   float64     `json:"pg_dump_seconds"`
	PgDumpBytes     int64       `json:"pg_dump_bytes"`
	Ratio           float64     `json:"export_over_pg_dump"`
	ImportSeconds   float64     `json:"import_seconds"`
	ImportedAs      string      `json:"imported_as"`
	Tables          int         `json:"tables"`
	ChecksumsEqual  int         `json:"tables_checksum_equal"`
	RowsEqual       int         `json:"tables_rows_equal"`
	Mismatches      []string    `json:"mismatches,omitempty"`
	Reads5xx        int         `json:"read_5xx"`
	ReadsNot200     int         `json:"reads_not_200"`
	WriteCodes      map[int]int `json:"write_statuses"`
	AckedDuringTest int         `json:"acked_writes"`
}

func (h *harness) exportCompare(ctx context.Context, s *dbSetup) (*exportResult, error) {
	t := s.tenants["export"]
	r := &exportResult{Tenant: t.ID, Items: len(t.Items), ImportedAs: t.ID + "_copy"}
	conn, err := pgx.Connect(ctx, s.owner[dbMany])
	if err != nil {
		return r, err
	}
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`).Scan(&r.SchemasInDB)
	conn.Close(ctx)
	if err != nil {
		return r, err
	}
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		return r, err
	}
	tt, stop := s.driveTenant(t, "export", 50, 50)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	time.Sleep(time.Second)
	archive := filepath.Join(h.dir, t.ID+".tar")
	start := time.Now()
	if err := h.tenantapiCommand(ctx, dbControl, "tenants", "export", t.ID, "--out", archive); err != nil {
		return r, err
	}
	r.ExportSeconds = time.Since(start).Seconds()
	dumpFile := filepath.Join(h.dir, t.ID+".sql")
	start = time.Now()
	if out, err := exec.CommandContext(ctx, filepath.Join(bin, "pg_dump"), "-n", "tenant_"+t.ID, "-f", dumpFile, "-d", s.owner[dbMany]).CombinedOutput(); err != nil {
		return r, fmt.Errorf("pg_dump: %v: %s", err, out)
	}
	r.PgDumpSeconds = time.Since(start).Seconds()
	stop()
	stopped = true
	r.Reads5xx, r.ReadsNot200, r.WriteCodes, r.AckedDuringTest = tt.reads5xx(), tt.readsNot200(), tt.writeCodes, len(tt.acks)
	if fi, err := os.Stat(archive); err == nil {
		r.ArchiveBytes = fi.Size()
	}
	if fi, err := os.Stat(dumpFile); err == nil {
		r.PgDumpBytes = fi.Size()
	}
	os.Remove(dumpFile)
	if r.PgDumpSeconds > 0 {
		r.Ratio = r.ExportSeconds / r.PgDumpSeconds
	}
	start = time.Now()
	if err := h.tenantapiCommand(ctx, dbControl, "tenants", "import", archive, "--as", r.ImportedAs, "--database", "c"); err != nil {
		return r, err
	}
	r.ImportSeconds = time.Since(start).Seconds()
	man, err := readManifest(archive)
	if err != nil {
		return r, err
	}
	sums, counts, err := s.store.TableChecksums(ctx, tenantapi.TenantID(r.ImportedAs))
	if err != nil {
		return r, err
	}
	for _, te := range man.Tables {
		r.Tables++
		if sums[te.Name] == te.SHA256 {
			r.ChecksumsEqual++
		} else {
			r.Mismatches = append(r.Mismatches, te.Name+": checksum")
		}
		if counts[te.Name] == te.Rows {
			r.RowsEqual++
		} else {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s: %d rows, archive %d", te.Name, counts[te.Name], te.Rows))
		}
	}
	fmt.Fprintf(os.Stderr, "bench: databases: export %.2f s, pg_dump %.2f s (%.2f), import %.2f s; %d of %d tables' checksums equal; reads 5xx %d\n",
		r.ExportSeconds, r.PgDumpSeconds, r.Ratio, r.ImportSeconds, r.ChecksumsEqual, r.Tables, r.Reads5xx)
	if len(r.Mismatches) > 0 {
		return r, fmt.Errorf("imported tenant differs from the archive: %s", strings.Join(r.Mismatches, ", "))
	}
	return r, nil
}

// readManifest reads an archive's manifest (its first entry).
func readManifest(path string) (postgres.Manifest, error) {
	var m postgres.Manifest
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	hdr, err := tr.Next()
	if err != nil {
		return m, err
	}
	if hdr.Name != "manifest.json" {
		return m, fmt.Errorf("the archive's first entry is %s", hdr.Name)
	}
	err = json.NewDecoder(tr).Decode(&m)
	return m, err
}

// ---- 5. catalog memory ----

// backendCatalog is one backend after it touched every tenant of its
// database.
type backendCatalog struct {
	Database string `json:"database"`
	Tenants  int    `json:"tenants_touched"`
	// CacheBytes is CacheMemoryContext and its children
	// (pg_backend_memory_contexts); AllBytes every context; Private the
	// process's private memory (smaps_rollup), as the other sections
	// measure backends.
	CacheBytes int64 `json:"cache_memory_context_bytes"`
	AllBytes   int64 `json:"all_contexts_bytes"`
	Private    int64 `json:"private_bytes"`
	// Anonymous is the process's anonymous memory (smaps_rollup's
	// Anonymous: its heap, not the shared buffers). Private also counts
	// the pages of shared buffers no other process has mapped, which on a
	// cluster with few backends can be hundreds of MB.
	Anonymous int64   `json:"anonymous_bytes"`
	Seconds   float64 `json:"seconds"`
}

type catalogMemResult struct {
	One          backendCatalog   `json:"one_database"`
	Spread       []backendCatalog `json:"spread"`
	RatioCache   float64          `json:"ratio_cache"`   // mean spread ÷ one
	RatioPrivate float64          `json:"ratio_private"` // mean spread ÷ one
	RatioAnon    float64          `json:"ratio_anonymous"`
}

func (h *harness) catalogMemory(ctx context.Context, s *dbSetup) (*catalogMemResult, error) {
	r := &catalogMemResult{}
	var err error
	if r.One, err = touchAll(ctx, s.owner[dbMany], dbMany, s.many); err != nil {
		return r, err
	}
	var cache, private, anon float64
	for _, d := range []string{postgres.MainDatabase, "b", "c"} {
		b, err := touchAll(ctx, s.owner[d], d, s.spread[d])
		if err != nil {
			return r, err
		}
		r.Spread = append(r.Spread, b)
		cache += float64(b.CacheBytes) / 3
		private += float64(b.Private) / 3
		anon += float64(b.Anonymous) / 3
	}
	if r.One.Anonymous > 0 {
		r.RatioAnon = anon / float64(r.One.Anonymous)
	}
	if r.One.CacheBytes > 0 {
		r.RatioCache = cache / float64(r.One.CacheBytes)
	}
	if r.One.Private > 0 {
		r.RatioPrivate = private / float64(r.One.Private)
	}
	fmt.Fprintf(os.Stderr, "bench: databases: catalog memory: one database %s MB (private %s MB) at %d tenants; spread %.0f MB (private %.0f MB) a backend; ratio %.2f (%.2f)\n",
		mb(r.One.CacheBytes), mb(r.One.Private), r.One.Tenants, cache/(1<<20), private/(1<<20), r.RatioCache, r.RatioPrivate)
	return r, nil
}

// touchAll reads one item of every tenant on one fresh owner connection
// (the table and its primary key index enter the backend's caches), then
// reads the backend's memory.
func touchAll(ctx context.Context, url, database string, tenants []benchkit.Tenant) (backendCatalog, error) {
	b := backendCatalog{Database: database, Tenants: len(tenants)}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return b, err
	}
	defer conn.Close(ctx)
	start := time.Now()
	for _, t := range tenants {
		var name string
		if err := conn.QueryRow(ctx, `SELECT name FROM `+pgx.Identifier{"tenant_" + t.ID, "items"}.Sanitize()+` WHERE id = $1::uuid`,
			pgx.QueryExecModeExec, t.Items[0]).Scan(&name); err != nil {
			return b, fmt.Errorf("%s: %w", t.ID, err)
		}
	}
	b.Seconds = time.Since(start).Seconds()
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return b, err
	}
	if err := conn.QueryRow(ctx, `
		SELECT coalesce(sum(total_bytes) FILTER (WHERE name = 'CacheMemoryContext' OR parent = 'CacheMemoryContext'), 0)::bigint,
		       coalesce(sum(total_bytes), 0)::bigint
		FROM pg_backend_memory_contexts`).Scan(&b.CacheBytes, &b.AllBytes); err != nil {
		return b, err
	}
	if m, err := benchkit.ReadMemory(pid); err == nil {
		b.Private = m.Private
	}
	b.Anonymous = anonymousMemory(pid)
	return b, nil
}

// anonymousMemory reads Anonymous of the process's smaps_rollup, bytes (0
// when it cannot).
func anonymousMemory(pid int) int64 {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "Anonymous:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
