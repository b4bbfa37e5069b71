package tenantapi

import (
	"regexp"
	"slices"
)

// Kind is the JSON shape of a column's PostgreSQL type (SPEC §10).
type Kind string

// The kinds of field a resource can have. A column of any other type keeps
// its table private.
const (
	KindString    Kind = "string"    // text, varchar(n), char(n)
	KindInteger   Kind = "integer"   // smallint, integer, bigint
	KindNumeric   Kind = "numeric"   // numeric(p,s): a JSON number kept exact
	KindFloat     Kind = "float"     // real, double precision
	KindBoolean   Kind = "boolean"   // boolean
	KindJSON      Kind = "json"      // jsonb, json: any JSON value
	KindTimestamp Kind = "timestamp" // timestamptz: RFC 3339
	KindDate      Kind = "date"      // date: YYYY-MM-DD
	KindUUID      Kind = "uuid"      // uuid
	KindEnum      Kind = "enum"      // an enum type: one of its labels
)

// Type is a column's type as a resource field sees it.
type Type struct {
	Kind Kind `json:"kind"`
	// SQL is the type as PostgreSQL prints it (format_type), for messages
	// and `tenantapi resources`: "character varying(12)", "task_status[]".
	SQL string `json:"sql"`
	// Array is true for an array of Kind (one dimension as JSON; PostgreSQL
	// does not record dimensions).
	Array bool `json:"array,omitempty"`
	// MaxLength is varchar(n)'s and char(n)'s n, in code points; 0: none.
	MaxLength int `json:"max_length,omitempty"`
	// Bits is an integer's size: 16, 32 or 64; a float's: 32 or 64.
	Bits int `json:"bits,omitempty"`
	// Precision and Scale are numeric(p,s)'s; 0 and -1: unconstrained.
	Precision int `json:"precision,omitempty"`
	Scale     int `json:"scale,omitempty"`
	// Labels are an enum's labels in their order.
	Labels []string `json:"labels,omitempty"`
	// Name is an enum type's name (of the element type, for an array),
	// unqualified: each tenant has its own, in its schema.
	Name string `json:"name,omitempty"`
}

// Field is a column of a resource: a JSON member of the same name.
type Field struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	// NotNull is the column's NOT NULL; HasDefault whether it has a default
	// (identity and generated columns count as having one).
	NotNull    bool `json:"not_null"`
	HasDefault bool `json:"has_default"`
	// Generated is true for a GENERATED ALWAYS column (computed, or an
	// identity): read, never written.
	Generated bool `json:"generated,omitempty"`
	// Filterable is true when the column leads an index, so that
	// ?<name>=<value> can use it.
	Filterable bool `json:"filterable,omitempty"`
}

// Required reports whether POST and PUT must give the field: NOT NULL
// without a default.
func (f Field) Required() bool { return f.NotNull && !f.HasDefault && !f.Generated }

// Resource is a table of the application set that is served at /<Name>.
type Resource struct {
	Name string `json:"name"`
	// Fields are the columns a request may write and an answer shows, in
	// column order, without the managed ones.
	Fields []Field `json:"fields"`
	// Versioned, Created and Updated say which managed columns the table
	// has: version bigint, created_at and updated_at timestamptz.
	Versioned bool `json:"versioned"`
	Created   bool `json:"created_at"`
	Updated   bool `json:"updated_at"`
	// Checks are the CHECK constraints, each with the fields it covers
	// (one field: a 422 on that field; several: on the root).
	Checks []Constraint `json:"checks,omitempty"`
	// Uniques are the unique constraints and indexes besides the primary
	// key; ForeignKeys the references to other tables.
	Uniques     []Constraint `json:"uniques,omitempty"`
	ForeignKeys []Constraint `json:"foreign_keys,omitempty"`
}

// Constraint is a named constraint over some of a table's columns.
type Constraint struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	// References is a foreign key's table.
	References string `json:"references,omitempty"`
}

// PrivateTable is a table of the application set that is not a resource,
// with the reason.
type PrivateTable struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Schema is what one version of the application set serves: its
// resources and its private tables, each by name.
type Schema struct {
	Version   int            `json:"version"`
	Resources []Resource     `json:"resources"`
	Private   []PrivateTable `json:"private"`
}

// Resource returns the resource named name.
func (s *Schema) Resource(name string) (*Resource, bool) {
	for i := range s.Resources {
		if s.Resources[i].Name == name {
			return &s.Resources[i], true
		}
	}
	return nil, false
}

// resourceName is the grammar of a table served as a resource.
var resourceName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ReservedPaths are the first path segments the service answers itself;
// a table of one of these names stays private.
var ReservedPaths = []string{"admin", "healthz", "readyz", "metrics", "openapi.json", "docs"}

// ResourceNameProblem returns why a table named name cannot be a resource,
// or "" when its name qualifies.
func ResourceNameProblem(name string) string {
	switch {
	case slices.Contains(ReservedPaths, name):
		return "its name is a path the service answers itself"
	case len(name) > 0 && name[0] == '_':
		return "its name starts with _"
	case !resourceName.MatchString(name):
		return "its name does not match ^[a-z][a-z0-9_]{0,62}$"
	}
	return ""
}
