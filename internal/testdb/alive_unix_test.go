//go:build unix

package testdb

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestAlive(t *testing.T) {
	if !alive(os.Getpid()) {
		t.Error("alive(our own pid) = false")
	}

	// A child that has exited but is not yet waited for is a zombie: its
	// owner is gone, so its cluster may be reaped.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("alive still true for an exited child")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
