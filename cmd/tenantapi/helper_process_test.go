package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// helperEnv names what this test binary does when it runs as a helper
// process of another test (TestHelperProcess).
const helperEnv = "TENANTAPI_TEST_HELPER"

// TestHelperProcess is not a test: other tests run this binary again with
// helperEnv set, to get a separate process whose goroutines and heap they
// can watch. In mode "serve" it runs 'tenantapi serve' with its environment
// until SIGTERM, printing its goroutine count and heap every 100 ms on
// stderr. The parent sets TEST_DATABASE_URL so that TestMain starts no
// PostgreSQL of its own.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "":
		t.Skip("runs only as another test's helper process")
	case "serve":
	default:
		t.Fatalf("unknown helper mode %q", os.Getenv(helperEnv))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		var ms runtime.MemStats
		for range time.Tick(100 * time.Millisecond) {
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(os.Stderr, "helper-stats goroutines=%d heap=%d\n", runtime.NumGoroutine(), ms.HeapInuse)
		}
	}()
	if err := run(ctx, []string{"tenantapi", "serve"}, os.Getenv, nil, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// startHelper runs this test binary as a helper process in mode with env.
func startHelper(t *testing.T, mode string, env map[string]string) *process {
	t.Helper()
	full := map[string]string{helperEnv: mode}
	for k, v := range env {
		full[k] = v
	}
	if full["TEST_DATABASE_URL"] == "" {
		full["TEST_DATABASE_URL"] = env["DATABASE_URL"]
	}
	return startProcess(t, os.Args[0], full, "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v=false")
}

var helperStatsRE = regexp.MustCompile(`helper-stats goroutines=(\d+) heap=(\d+)`)

// helperStats is what a helper process reported since an offset of its
// output: the samples' maximum and last goroutine count and heap.
type helperStats struct {
	samples                   int
	maxGoroutines, goroutines int
	maxHeap, heap             uint64
}

func statsSince(out string, offset int) helperStats {
	var s helperStats
	for _, m := range helperStatsRE.FindAllStringSubmatch(out[offset:], -1) {
		g, _ := strconv.Atoi(m[1])
		h, _ := strconv.ParseUint(m[2], 10, 64)
		s.samples++
		s.goroutines, s.heap = g, h
		s.maxGoroutines, s.maxHeap = max(s.maxGoroutines, g), max(s.maxHeap, h)
	}
	return s
}
