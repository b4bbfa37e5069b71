package main

import (
	"testing"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
)

// TestReconcile checks the move's reconciliation of the client's log with
// the target and the kept source.
func TestReconcile(t *testing.T) {
	tenant := benchkit.Tenant{ID: "t1", Items: []string{"i1", "i2"}}
	tt := &tenantTraffic{
		acks:       []ack{{ID: "a1", Name: "load-0"}, {ID: "a2", Name: "load-1"}, {ID: "a3", Name: "load-2"}},
		unanswered: []string{"load-3"},
	}
	target := map[string][]string{
		"i1": {"item 1 of t1"}, "i2": {"item 2 of t1"},
		"a1": {"load-0"}, "a2": {"load-1"}, // a3 lost
		"u1": {"load-3"}, // a write whose answer was lost
		"x1": {"load-1"}, // the same write twice, under another id
		"x2": {"stray"},  // nobody wrote this
	}
	source := map[string][]string{"i1": nil, "i2": nil, "a1": nil, "s1": nil}
	var r loadMoveResult
	reconcile(&r, tenant, tt, target, source)
	want := loadMoveResult{Lost: 1, Duplicated: 1, FromUnanswered: 1, Unexplained: 2, SourceOnly: 1, TargetRows: 7}
	if r.Lost != want.Lost || r.Duplicated != want.Duplicated || r.FromUnanswered != want.FromUnanswered ||
		r.Unexplained != want.Unexplained || r.SourceOnly != want.SourceOnly || r.TargetRows != want.TargetRows {
		t.Errorf("reconcile: lost %d, duplicated %d, from unanswered %d, unexplained %d, source only %d, target rows %d; want %+v",
			r.Lost, r.Duplicated, r.FromUnanswered, r.Unexplained, r.SourceOnly, r.TargetRows, want)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	if got := percentile(v, 0.5); got != 3 {
		t.Errorf("p50 = %v, want 3", got)
	}
	if got := percentile(v, 1); got != 5 {
		t.Errorf("max = %v, want 5", got)
	}
	if got := percentile(nil, 0.99); got != 0 {
		t.Errorf("p99 of nothing = %v, want 0", got)
	}
}
