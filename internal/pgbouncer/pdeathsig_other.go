//go:build unix && !linux

package pgbouncer

import "syscall"

// Only Linux can kill a child when its parent dies; elsewhere Stop must.
func setPdeathsig(*syscall.SysProcAttr) {}
