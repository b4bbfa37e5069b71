package httpapi

import (
	"strings"
	"testing"
)

// TestNumericFits pins numericFits to what PostgreSQL 15's jsonb input
// accepts (each case was checked with SELECT '<n>'::jsonb) and
// numericTextLen to what it prints (SELECT length('<n>'::jsonb::text)).
func TestNumericFits(t *testing.T) {
	zeros := strings.Repeat("0", 16383)
	tests := []struct {
		n    string
		want bool
	}{
		{"0", true},
		{"-0", true},
		{"1.50", true},
		{"1E+2", true},
		{"1e-3", true},
		{"0e-5", true},
		{"0e999999999", true},
		{"0e2000000000", false},
		{"1e999999", false},
		{"1e-999999", false},
		{"1e131071", true},
		{"1e131072", false},
		{"9.9999e131071", true},
		{"99999e131067", true},
		{"0.0000001e131078", true},
		{"1e-16383", true},
		{"1e-16384", false},
		{"1.5e-16382", true},
		{"1.5e-16383", false},
		{"0." + zeros, true},
		{"0." + zeros + "0", false},
		{"12345e-16387", false},
		{"1e00000000000000000005", true},
		{"-1e1073741823", false},
	}
	for _, tt := range tests {
		if got := numericFits(tt.n); got != tt.want {
			t.Errorf("numericFits(%.40s) = %v, want %v", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n    string
		want int64
	}{
		{"0", 1}, {"-0", 1}, {"1.50", 4}, {"1E+2", 3}, {"1e-3", 5}, {"0e-5", 7}, {"-1.5", 4}, {"10", 2},
		{"123.456e-1", 7}, {"1e131071", 131072}, {"-1e-16383", 16386}, {"0.000e2", 3}, {"9.9999e3", 6},
		{"1e100", 101}, {"-12e-2", 5},
	} {
		if got := numericTextLen(tt.n); got != tt.want {
			t.Errorf("numericTextLen(%s) = %d, want %d", tt.n, got, tt.want)
		}
	}
}
