package testdb

import (
	"regexp"
	"testing"
)

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"postgres://u:p@h:5432/postgres?sslmode=disable", "postgres://u:p@h:5432/test_x?sslmode=disable"},
		{"postgresql://u@h/", "postgresql://u@h/test_x"},
		{"host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=test_x"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.in, "test_x")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDatabaseName(t *testing.T) {
	valid := regexp.MustCompile(`^test_[a-z0-9_]{0,24}_[0-9a-f]{16}$`)
	for _, name := range []string{"TestX", "TestNew/group/0", "Test" + string(make([]byte, 100)), "Тест"} {
		got := databaseName(name)
		if !valid.MatchString(got) || len(got) > 63 {
			t.Errorf("databaseName(%q) = %q", name, got)
		}
	}
	if a, b := databaseName("TestX"), databaseName("TestX"); a == b {
		t.Error("databaseName gives the same name twice")
	}
}
