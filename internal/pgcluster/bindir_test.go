package pgcluster

import (
	"slices"
	"testing"
)

func TestNewestFirst(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{nil, nil},
		{
			[]string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin"},
			[]string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin", "/usr/lib/postgresql/9.6/bin"},
		},
		{
			[]string{"/usr/lib/postgresql/odd/bin", "/usr/lib/postgresql/16/bin"},
			[]string{"/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/odd/bin"},
		},
	}
	for _, tt := range tests {
		if got := newestFirst(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("newestFirst(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFindBinDir(t *testing.T) {
	dir, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if missing := missingPrograms(dir); len(missing) > 0 {
		t.Errorf("FindBinDir = %s, which lacks %v", dir, missing)
	}
}
