package httpapi

import (
	"strings"
	"testing"
)

// TestNumericFits pins numericFits to what PostgreSQL 15's jsonb input
// accepts (each case was checked with SELECT '<n>'::jsonb).
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
}
