package benchkit

import (
	"math"
	"slices"
	"time"
)

// LoadResult is what the load generator measured in its window.
type LoadResult struct {
	Target      string  `json:"target"`   // "http" or "db"
	Scenario    string  `json:"scenario"` // get, post, mix, list
	Resource    string  `json:"resource"` // what get and list read: items, projects
	Tenants     int     `json:"tenants"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"` // length of the measured window

	Requests int            `json:"requests"` // completed inside the window
	Errors   int            `json:"errors"`   // failed inside the window or during warm-up
	ByError  map[string]int `json:"by_error,omitempty"`
	RPS      float64        `json:"rps"`

	Latency Latency `json:"latency_ms"`
	// Histogram counts latencies in buckets whose upper bounds, in
	// microseconds, are HistogramBounds.
	Histogram []int `json:"histogram"`

	// CPUSeconds is the load generator's own CPU time in the window.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RoundTrips counts the network exchanges with PostgreSQL that the
	// db target's tracer saw in the window (queries plus batches).
	RoundTrips int `json:"round_trips,omitempty"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// HistogramBounds are the upper bounds of the latency histogram's buckets,
// in microseconds: four per doubling from 50 µs to about 13 s, then one
// open-ended bucket.
var HistogramBounds = func() []int64 {
	var b []int64
	for v := 50.0; v < 15e6; v *= math.Pow(2, 0.25) {
		b = append(b, int64(v))
	}
	return append(b, math.MaxInt64)
}()

// Summarize fills the latency figures of r from the samples (sorted in
// place).
func (r *LoadResult) Summarize(samples []time.Duration) {
	r.Histogram = make([]int, len(HistogramBounds))
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return ms(samples[max(i, 0)])
	}
	var sum time.Duration
	b := 0
	for _, s := range samples {
		sum += s
		for s.Microseconds() > HistogramBounds[b] {
			b++
		}
		r.Histogram[b]++
	}
	r.Latency = Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(samples[len(samples)-1]),
		Mean: ms(sum / time.Duration(len(samples)))}
}
