//go:build !unix

package pgcluster

import (
	"io/fs"
	"syscall"
)

// On systems without Unix users the programs always run as the current
// user, and there is nothing to hand over.

func serverAccount() (account, error)             { return account{}, nil }
func ownerAccount(string) (account, bool)         { return account{}, false }
func (account) sysProcAttr() *syscall.SysProcAttr { return nil }
func (account) canReach(string) bool              { return true }
func (account) owns(string) bool                  { return true }
func (account) trusts(fs.FileInfo) bool           { return true }
func (account) give(string, bool) error           { return nil }
