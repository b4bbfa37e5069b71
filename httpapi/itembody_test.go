package httpapi

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendTime checks the hand-written timestamp formatter against
// AppendFormat, in and out of the years it handles itself and in a zone
// other than UTC.
func TestAppendTime(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(294276, 12, 31, 23, 59, 59, 999_999_000, time.UTC),
		time.Date(2026, 11, 26, 17, 14, 40, 100_000, time.FixedZone("", -9*3600-30*60)),
		time.Now(),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		times = append(times, time.Unix(rng.Int64N(400_000_000_000)-62_167_219_200, rng.Int64N(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().AppendFormat([]byte("x"), timeFormat)
		if got := appendTime([]byte("x"), tm); string(got) != string(want) {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
