//go:build unix

package testdb

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// alive reports whether process pid exists and has not exited. Signal 0
// checks without disturbing it; a process we may not signal (EPERM) exists
// too. A zombie, which signal 0 still finds until its parent collects it,
// counts as dead where /proc shows it (Linux).
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	if errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain ") ".
	_, state, found := strings.Cut(string(stat[strings.LastIndexByte(string(stat), ')')+1:]), " ")
	return !found || !strings.HasPrefix(state, "Z")
}
