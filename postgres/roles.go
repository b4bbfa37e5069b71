package postgres

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// Every tenant has a role of its own (NOLOGIN) that may use its schema and
// nothing else. The role that serves requests is a member of every tenant
// role. With tenant roles on (Config.TenantRoles), each tenant statement runs
// after set_config('role', <tenant role>, true) in the same implicit
// transaction, so PostgreSQL itself refuses a statement that names another
// tenant's schema: a bug in a query fails instead of leaking. The setting is
// local to the transaction, so no session state survives it — correct behind
// PgBouncer in transaction mode.
//
// Role names are cluster-wide while schemas are per database, so the name
// carries a hash of the database name: "t" + 8 hex digits + "_" + tenant id,
// at most 50 bytes. The hash is only a namespace, not a secret.

// rolePrefix returns "t" + the first 8 hex digits of the MD5 of the
// database name + "_", the prefix of the database's tenant roles.
func rolePrefix(database string) string {
	sum := md5.Sum([]byte(database))
	return "t" + hex.EncodeToString(sum[:4]) + "_"
}

// tenantRole returns the name of the tenant's role, unquoted.
func (s *site) tenantRole(id tenantapi.TenantID) string {
	return s.rolePrefix + string(id)
}

// grantTenant makes sure the tenant's role exists, may use the tenant's
// schema and every table in it, and that the owner (current_user) and the
// runtime role are members of it, the runtime role with the same rights
// granted directly. It is idempotent; provisioning runs it
// inside its transaction, and a tenant migration when grantsMissingSQL
// finds something missing. Two round trips: what exists, then every grant
// in one batch.
func (s *site) grantTenant(ctx context.Context, tx batcher, id tenantapi.TenantID) error {
	role := s.tenantRole(id)
	r, schema := pgx.Identifier{role}.Sanitize(), quotedSchema(id)
	var (
		exists    bool
		relations []struct {
			Name     string
			Sequence bool
		}
	)
	look := &pgx.Batch{}
	look.Queue(`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).QueryRow(func(row pgx.Row) error {
		return row.Scan(&exists)
	})
	// Name the tables: GRANT ... ON ALL TABLES IN SCHEMA looks them up by
	// scanning the whole catalog, which grows with every tenant.
	// Sequences too: an insert into a table with a serial or identity
	// column draws from one.
	look.Queue(`SELECT c.relname::text, c.relkind = 'S' `+schemaRelations("$1")+` AND c.relkind IN ('r', 'p', 'S')`, id.Schema()).Query(func(rows pgx.Rows) error {
		var err error
		relations, err = pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			Name     string
			Sequence bool
		}])
		return err
	})
	if err := tx.SendBatch(ctx, look).Close(); err != nil {
		return err
	}
	grants := &pgx.Batch{}
	if !exists {
		grants.Queue(`CREATE ROLE ` + r + ` NOLOGIN`)
	}
	grant := func(to string) {
		grants.Queue(`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + to)
		for _, rel := range relations {
			name := pgx.Identifier{id.Schema(), rel.Name}.Sanitize()
			if rel.Sequence {
				grants.Queue(`GRANT USAGE, SELECT ON SEQUENCE ` + name + ` TO ` + to)
			} else {
				grants.Queue(`GRANT SELECT, INSERT, UPDATE, DELETE ON ` + name + ` TO ` + to)
			}
		}
	}
	grant(r)
	grants.Queue(`GRANT ` + r + ` TO CURRENT_USER`)
	if s.runtimeRole != "" {
		rt := pgx.Identifier{s.runtimeRole}.Sanitize()
		grants.Queue(`GRANT ` + r + ` TO ` + rt)
		// The same rights granted directly too: with tenant roles off the
		// runtime role then reads the tenant's tables on a grant of its own,
		// and PostgreSQL need not work out its membership in every tenant
		// role (with 10,000 tenants, 0.2–1 s per new connection) to find it.
		// No new reach: the role already inherits them through membership,
		// and a statement under a tenant role has that role's rights only.
		grant(rt)
	}
	if err := tx.SendBatch(ctx, grants).Close(); err != nil {
		return fmt.Errorf("granting tenant role: %w", err)
	}
	return nil
}

// grantsMissingSQL answers whether grantTenant has something to do for a
// tenant: $1 its role, $2 its schema, $3 the runtime role (empty for none);
// the rights are checked for the tenant role and the runtime role alike. It
// reads the catalog only through indexes (roles by name, memberships by
// role, relations through pg_depend) and the ACLs themselves: no
// has_*_privilege function or pg_has_role, which would work out the owner's
// membership in every tenant role, and no pg_roles view, which costs more
// to plan than the query takes to run.
var grantsMissingSQL = `SELECT r.oid IS NULL
	OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members am
		WHERE am.roleid = r.oid AND am.member = to_regrole(quote_ident(current_user)))
	OR ($3 <> '' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members am
		WHERE am.roleid = r.oid AND am.member = to_regrole(quote_ident($3))))
	OR EXISTS (SELECT 1 FROM unnest(ARRAY[r.oid, CASE WHEN $3 <> '' THEN to_regrole(quote_ident($3))::oid END]) g(oid)
		WHERE g.oid IS NOT NULL AND (
			NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n, aclexplode(n.nspacl) a
				WHERE n.oid = to_regnamespace($2) AND a.grantee = g.oid AND a.privilege_type = 'USAGE')
			OR EXISTS (SELECT 1 ` + schemaRelations("$2") + ` AND c.relkind IN ('r', 'p')
				AND (SELECT count(*) FROM aclexplode(c.relacl) a WHERE a.grantee = g.oid
					AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')) < 4)
			OR EXISTS (SELECT 1 ` + schemaRelations("$2") + ` AND c.relkind = 'S'
				AND NOT EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = g.oid
					AND a.privilege_type = 'USAGE'))))
	FROM (SELECT to_regrole(quote_ident($1))::oid AS oid) r`

// dropTenantRole drops the tenant's role inside the transaction that drops
// its schema.
func (s *site) dropTenantRole(ctx context.Context, tx pgx.Tx, id tenantapi.TenantID) error {
	_, err := tx.Exec(ctx, `DROP ROLE IF EXISTS `+pgx.Identifier{s.tenantRole(id)}.Sanitize())
	return err
}

// EnsureRuntimeRole creates the runtime role (LOGIN, no other attribute) or
// updates its password, and grants it what serving tenants needs in public:
// reading the registry and the keys. Tenant schemas reach it through the
// tenant roles (see grantTenant); GrantTenantRoles catches up existing
// tenants. The password goes to the server as a bound value and is quoted
// there, never logged or spliced here.
//
// It does so in every database tenants live in: the role has the same name
// and password in each.
func (m *Migrator) EnsureRuntimeRole(ctx context.Context, name, password string) error {
	if name == "" || password == "" {
		return errors.New("the runtime role needs a name and a password")
	}
	sites, err := m.db.allSites(ctx)
	if err != nil {
		return err
	}
	for _, s := range sites {
		if err := ensureRuntimeRole(ctx, s, name, password); err != nil {
			return err
		}
	}
	return nil
}

// ensureRuntimeRole is EnsureRuntimeRole on one database. Only the control
// database has the registry to grant.
func ensureRuntimeRole(ctx context.Context, s *site, name, password string) error {
	err := inTx(ctx, s.owner, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&exists); err != nil {
			return err
		}
		verb := "ALTER"
		if !exists {
			verb = "CREATE"
		}
		var stmt string
		if err := tx.QueryRow(ctx, `SELECT format('`+verb+` ROLE %I WITH LOGIN INHERIT NOCREATEDB NOCREATEROLE PASSWORD %L', $1::text, $2::text)`,
			name, password).Scan(&stmt); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return err
		}
		r := pgx.Identifier{name}.Sanitize()
		stmts := []string{
			// Also the role's default, for poolers (PgBouncer) that drop
			// the search_path start-up parameter the pools send.
			`ALTER ROLE ` + r + ` SET search_path = ''`,
			`GRANT USAGE ON SCHEMA public TO ` + r,
		}
		if s.name == MainDatabase {
			stmts = append(stmts, `GRANT SELECT ON public.tenants, public.api_keys, public.tenant_tombstones, public.application_schemas, public.tenant_moves TO `+r,
				// Not url: it holds the owner's password.
				`GRANT SELECT (name, address, secret_arn, cluster_arn, draining, added_at) ON public.databases TO `+r)
		}
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The statement carries the password: report the cause only by code.
		return tenantapi.Errorf(tenantapi.CodeInternal, "creating or updating the runtime role %s failed (SQLSTATE %s)", name, sqlState(err))
	}
	return nil
}

// GrantTenantRoles makes sure every tenant has its role and that the owner
// and runtime role are members of it (and the runtime role has the rights
// directly), for tenants created before the runtime role was configured or
// before it was granted them directly. It returns how many tenants it fixed.
func (m *Migrator) GrantTenantRoles(ctx context.Context) (int, error) {
	sites, err := m.db.allSites(ctx)
	if err != nil {
		return 0, err
	}
	fixed := 0
	for _, st := range sites {
		n, err := m.grantTenantRoles(ctx, st)
		fixed += n
		if err != nil {
			return fixed, err
		}
	}
	return fixed, nil
}

// grantTenantRoles is GrantTenantRoles for the tenants of one database:
// the registry says which live there, the database's catalog what they
// lack.
func (m *Migrator) grantTenantRoles(ctx context.Context, st *site) (int, error) {
	rows, err := m.db.owner.Query(ctx, `SELECT id FROM public.tenants WHERE status <> 'deleting' AND database = $1 ORDER BY id`, st.name)
	if err != nil {
		return 0, translate(err, publicScope)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return 0, translate(err, publicScope)
	}
	member := "current_user"
	args := []any{st.rolePrefix, ids}
	if st.runtimeRole != "" {
		member = "$3"
		args = append(args, st.runtimeRole)
	}
	// A tenant whose role lacks the member, or (with a runtime role) whose
	// schema the runtime role may not use directly, as before the direct
	// grants.
	direct := ""
	if st.runtimeRole != "" {
		direct = ` OR NOT EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a
			WHERE n.nspname = 'tenant_' || t.id AND a.grantee = to_regrole(quote_ident($3)) AND a.privilege_type = 'USAGE')`
	}
	rows, err = st.owner.Query(ctx, `SELECT t.id FROM unnest($2::text[]) t(id)
		WHERE NOT EXISTS (
			SELECT 1 FROM pg_auth_members am
			JOIN pg_roles g ON g.oid = am.roleid AND g.rolname = $1 || t.id
			JOIN pg_roles u ON u.oid = am.member AND u.rolname = `+member+`)`+direct+`
		ORDER BY t.id`, args...)
	if err != nil {
		return 0, translate(err, publicScope)
	}
	if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return 0, translate(err, publicScope)
	}
	for _, id := range ids {
		err := inTx(ctx, st.owner, func(tx pgx.Tx) error { return st.grantTenant(ctx, tx, tenantapi.TenantID(id)) })
		if err != nil {
			return 0, translate(err, publicScope)
		}
	}
	return len(ids), nil
}

// schemaRelations returns the FROM and WHERE clauses that select the
// relations (pg_class rows, as c) of the schema named by the text parameter
// param. They are found through pg_depend's index on the referenced object
// (every table, sequence and view depends on its namespace), keyed by the
// schema's oid, so the cost does not grow with the number of tenants: a
// filter on pg_class.relnamespace alone has no index before PostgreSQL 18
// and would scan the whole catalog.
func schemaRelations(param string) string {
	return `FROM pg_catalog.pg_depend d
		JOIN pg_catalog.pg_class c ON c.oid = d.objid
		WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass
		  AND d.refobjid = to_regnamespace(` + param + `)
		  AND d.classid = 'pg_catalog.pg_class'::regclass
		  AND d.deptype = 'n'
		  AND c.relnamespace = to_regnamespace(` + param + `)`
}
