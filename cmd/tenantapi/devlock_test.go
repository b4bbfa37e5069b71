package main

import "testing"

func TestLockHolderRecord(t *testing.T) {
	t.Parallel()
	for _, h := range []lockHolder{
		{role: "dev", pid: 12},
		{role: "dev", pid: 12, url: "http://127.0.0.1:8080"},
		{role: "dev", pid: 12, url: "http://127.0.0.1:8080", postgres: true},
		{role: "stop", pid: 7},
	} {
		if got := parseLockHolder(h.String() + "\n"); got != h {
			t.Errorf("parseLockHolder(%q) = %+v, want %+v", h.String(), got, h)
		}
	}
	for _, record := range []string{"", "\n", "dev", "dev x", "dev -1", "serve 12", "dev12"} {
		if got := parseLockHolder(record); got != (lockHolder{}) {
			t.Errorf("parseLockHolder(%q) = %+v, want the zero holder", record, got)
		}
	}
}

func TestFolderLockedMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dir    string
		holder lockHolder
		want   string
	}{
		{".tenantapi", lockHolder{role: "dev", pid: 1234, url: "http://127.0.0.1:8080"},
			"dev is already running for ./.tenantapi (pid 1234, http://127.0.0.1:8080); stop it first, or use --dir for a separate one"},
		{"/srv/d", lockHolder{role: "dev", pid: 1234},
			"dev is already running for /srv/d (pid 1234, starting); stop it first, or use --dir for a separate one"},
		{"./d", lockHolder{role: "stop", pid: 99}, "./d is busy: pid 99 is stopping its PostgreSQL; try again in a moment"},
		{"../d", lockHolder{}, "../d is in use by another tenantapi process (it holds ../d/dev.lock); try again in a moment"},
	} {
		if got := (&folderLockedError{dir: tc.dir, holder: tc.holder}).Error(); got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.holder, got, tc.want)
		}
	}
}
