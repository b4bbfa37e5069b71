//go:build !unix

package pgbouncer

import (
	"os"
	"syscall"
)

// Without Unix users PgBouncer runs as the current user.
type account struct{}

func runAccount() (account, error)                { return account{}, nil }
func (account) sysProcAttr() *syscall.SysProcAttr { return nil }
func (account) tempRoot() string                  { return os.TempDir() }
func (account) give(string) error                 { return nil }
