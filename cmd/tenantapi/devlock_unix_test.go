//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLockFolder checks the lock's contract within one process (flock
// locks open files, so two opens exclude each other as two processes do).
func TestLockFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), ".tenantapi")
	first, err := lockFolder(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if first.previous != (lockHolder{}) {
		t.Errorf("a new lock file has a previous holder: %+v", first.previous)
	}
	first.record(lockHolder{role: "dev", url: "http://127.0.0.1:1"})
	_, err = lockFolder(dir, "stop")
	var locked *folderLockedError
	if !errors.As(err, &locked) || locked.holder != (lockHolder{role: "dev", pid: os.Getpid(), url: "http://127.0.0.1:1"}) {
		t.Fatalf("second lock: %v (%+v), want a folderLockedError naming the first", err, locked)
	}

	// Released cleanly, the lock leaves no record behind.
	first.unlock()
	second, err := lockFolder(dir, "stop")
	if err != nil {
		t.Fatal(err)
	}
	if second.previous != (lockHolder{}) {
		t.Errorf("previous holder after a clean unlock: %+v", second.previous)
	}

	// A holder that dies without unlocking leaves its record, and the
	// kernel releases its lock.
	second.record(lockHolder{role: "dev", url: "http://127.0.0.1:2", postgres: true})
	second.f.Close()
	third, err := lockFolder(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	defer third.unlock()
	if want := (lockHolder{role: "dev", pid: os.Getpid(), url: "http://127.0.0.1:2", postgres: true}); third.previous != want {
		t.Errorf("previous holder = %+v, want %+v", third.previous, want)
	}
}
