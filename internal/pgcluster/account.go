package pgcluster

import "fmt"

// account is the operating-system user that runs PostgreSQL's programs.
// PostgreSQL refuses to run as root, so when this process is root the
// programs run as another user, switched to at exec (see sysProcAttr), and
// the cluster's files belong to that user. Otherwise dropRoot is false and
// the programs run as the current user, who needs nothing more.
type account struct {
	name     string
	uid, gid uint32
	dropRoot bool
}

// String names the account for messages to the user.
func (a account) String() string {
	if a.name != "" {
		return a.name
	}
	return fmt.Sprintf("uid %d", a.uid)
}
