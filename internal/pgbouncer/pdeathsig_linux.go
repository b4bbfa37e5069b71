package pgbouncer

import "syscall"

// setPdeathsig has the kernel kill PgBouncer when the test binary dies
// (a timeout, a panic), so none is left listening.
func setPdeathsig(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
