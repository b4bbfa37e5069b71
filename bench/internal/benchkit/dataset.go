// Package benchkit holds what the benchmark's programs share: the data set
// the harness provisions and the load generator draws from, the load
// generator's result, and readings of processes from /proc.
package benchkit

import (
	"encoding/json"
	"fmt"
	"os"
)

// Dataset is what the harness provisioned: every tenant with its API key
// and the ids of its items (and of its rows of other resources), in
// provisioning order. A run at N tenants uses
// the first N.
type Dataset struct {
	// Database is the name of the database the tenants live in.
	Database string `json:"database"`
	// RolePrefix is the prefix of the tenants' PostgreSQL roles (see
	// postgres/roles.go), for clients that issue tenantapi's statements
	// themselves with tenant roles on.
	RolePrefix string   `json:"role_prefix"`
	Tenants    []Tenant `json:"tenants"`
}

// Tenant is one provisioned tenant.
type Tenant struct {
	ID    string   `json:"id"`
	Key   string   `json:"key"`
	Items []string `json:"items"`
	// Rows are the ids of the tenant's rows of other resources of its
	// application set, by resource (projects), when the harness made some.
	Rows map[string][]string `json:"rows,omitempty"`
}

// IDs returns the ids of the tenant's rows of resource: its items for
// "items".
func (t *Tenant) IDs(resource string) []string {
	if resource == "items" {
		return t.Items
	}
	return t.Rows[resource]
}

// LoadDataset reads a data set written by SaveDataset.
func LoadDataset(path string) (*Dataset, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dataset
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// SaveDataset writes d to path.
func SaveDataset(path string, d *Dataset) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
