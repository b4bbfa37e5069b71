package postgres

import (
	"slices"
	"testing"

	"github.com/tenantapi/tenantapi"
)

func TestReadSchemaOfTheExampleSet(t *testing.T) {
	t.Parallel()
	set, err := LoadMigrations("../examples/projects")
	if err != nil {
		t.Fatal(err)
	}
	s := setupWith(t, Config{ApplicationSet: set})
	s.createTenant(t, "acme")
	got, err := readSchema(t.Context(), s.db.owner, "tenant_acme")
	if err != nil {
		t.Fatalf("readSchema: %v", err)
	}
	var names []string
	for _, r := range got.Resources {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"items", "projects", "tasks"}) {
		t.Errorf("resources = %v", names)
	}
	private := map[string]string{}
	for _, p := range got.Private {
		private[p.Name] = p.Reason
	}
	want := map[string]string{
		"_audit":        "its name starts with _",
		"task_counters": "its primary key is not one column id of type uuid",
	}
	if _, ok := private["_tenantapi_migrations"]; ok {
		t.Error("the product's own tables are listed")
	}
	for name, reason := range want {
		if private[name] != reason {
			t.Errorf("private %s: %q, want %q", name, private[name], reason)
		}
	}

	projects, _ := got.Resource("projects")
	if !projects.Versioned || !projects.Created || !projects.Updated {
		t.Errorf("projects managed columns: %+v", projects)
	}
	fields := map[string]tenantapi.Field{}
	for _, f := range projects.Fields {
		fields[f.Name] = f
	}
	check := func(name string, want tenantapi.Type, required, filterable bool) {
		t.Helper()
		f, ok := fields[name]
		if !ok {
			t.Errorf("projects has no field %s", name)
			return
		}
		want.SQL = f.Type.SQL
		if !equalType(f.Type, want) || f.Required() != required || f.Filterable != filterable {
			t.Errorf("field %s = %+v (required %v); want %+v required %v filterable %v", name, f, f.Required(), want, required, filterable)
		}
	}
	check("code", tenantapi.Type{Kind: tenantapi.KindString, MaxLength: 12}, true, true)
	check("title", tenantapi.Type{Kind: tenantapi.KindString}, true, false)
	check("budget", tenantapi.Type{Kind: tenantapi.KindNumeric, Precision: 12, Scale: 2}, false, false)
	check("starts_on", tenantapi.Type{Kind: tenantapi.KindDate}, false, false)
	check("tags", tenantapi.Type{Kind: tenantapi.KindString, Array: true}, false, false)
	check("settings", tenantapi.Type{Kind: tenantapi.KindJSON}, false, false)
	check("archived", tenantapi.Type{Kind: tenantapi.KindBoolean}, false, false)
	if _, ok := fields["version"]; ok {
		t.Error("version is listed as a field")
	}
	if len(projects.Uniques) != 1 || !slices.Equal(projects.Uniques[0].Columns, []string{"code"}) {
		t.Errorf("projects uniques = %+v", projects.Uniques)
	}

	tasks, _ := got.Resource("tasks")
	fields = map[string]tenantapi.Field{}
	for _, f := range tasks.Fields {
		fields[f.Name] = f
	}
	check("status", tenantapi.Type{Kind: tenantapi.KindEnum, Labels: []string{"todo", "doing", "done"}, Name: "task_status"}, false, true)
	check("project_id", tenantapi.Type{Kind: tenantapi.KindUUID}, true, true)
	check("priority", tenantapi.Type{Kind: tenantapi.KindInteger, Bits: 16}, false, false)
	check("estimate", tenantapi.Type{Kind: tenantapi.KindFloat, Bits: 64}, false, false)
	if len(tasks.ForeignKeys) != 1 || tasks.ForeignKeys[0].References != "projects" || !slices.Equal(tasks.ForeignKeys[0].Columns, []string{"project_id"}) {
		t.Errorf("tasks foreign keys = %+v", tasks.ForeignKeys)
	}
	var multi bool
	for _, c := range tasks.Checks {
		multi = multi || len(c.Columns) > 1
	}
	if !multi {
		t.Errorf("tasks checks = %+v; want the one over several columns", tasks.Checks)
	}
}

func equalType(a, b tenantapi.Type) bool {
	return a.Kind == b.Kind && a.SQL == b.SQL && a.Array == b.Array && a.MaxLength == b.MaxLength && a.Bits == b.Bits &&
		a.Precision == b.Precision && a.Scale == b.Scale && slices.Equal(a.Labels, b.Labels) && a.Name == b.Name
}

func TestReadSchemaKeepsUnsupportedTablesPrivate(t *testing.T) {
	t.Parallel()
	s := setup(t)
	m := s.mig.WithTenantMigrations(Migration{Version: 2, Name: "odd", SQL: `
		CREATE TABLE wallets (id uuid PRIMARY KEY, balance money);
		CREATE TABLE pairs (a uuid, b uuid, PRIMARY KEY (a, b));
		CREATE TABLE serials (id bigserial PRIMARY KEY);
		CREATE TABLE docs (id uuid PRIMARY KEY);
		CREATE TABLE stamped (id uuid PRIMARY KEY, version integer)`})
	if _, err := NewTenantStore(s.db, m).CreateTenant(t.Context(), "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	got, err := readSchema(t.Context(), s.db.owner, "tenant_acme")
	if err != nil {
		t.Fatal(err)
	}
	private := map[string]string{}
	for _, p := range got.Private {
		private[p.Name] = p.Reason
	}
	for name, reason := range map[string]string{
		"wallets": "column balance has type money, which no JSON type maps to",
		"pairs":   "its primary key is not one column id of type uuid",
		"serials": "its primary key is not one column id of type uuid",
		"docs":    "its name is a path the service answers itself",
		"stamped": "column version is managed by tenantapi and must be bigint, not integer",
	} {
		if private[name] != reason {
			t.Errorf("private %s: %q, want %q", name, private[name], reason)
		}
	}
}
