package main

import (
	"testing"
	"time"
)

// TestMaxConnLifetimeSetting checks DB_MAX_CONN_LIFETIME: unset keeps
// pgxpool's default (0 here), a duration is taken, anything else is a usage
// error.
func TestMaxConnLifetimeSetting(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
		bad   bool
	}{
		{"", 0, false},
		{"90s", 90 * time.Second, false},
		{"15m", 15 * time.Minute, false},
		{"soon", 0, true},
		{"-1s", 0, true},
	}
	for _, tt := range tests {
		e := newEnv(func(k string) string {
			if k == "DB_MAX_CONN_LIFETIME" {
				return tt.value
			}
			return ""
		})
		got := e.db().MaxConnLifetime
		if (e.err() != nil) != tt.bad {
			t.Errorf("DB_MAX_CONN_LIFETIME=%q: error %v, want error %v", tt.value, e.err(), tt.bad)
		}
		if got != tt.want {
			t.Errorf("DB_MAX_CONN_LIFETIME=%q: %v, want %v", tt.value, got, tt.want)
		}
	}
}
