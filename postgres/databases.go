package postgres

import (
	"context"
	"strings"

	"github.com/tenantapi/tenantapi"
)

// DatabaseStore manages the databases tenants live in besides main
// (public.databases in the control database).
type DatabaseStore struct{ db *DB }

// NewDatabaseStore returns the DatabaseStore of db.
func NewDatabaseStore(db *DB) *DatabaseStore { return &DatabaseStore{db: db} }

// DatabaseInfo is what Add learnt of a database it added.
type DatabaseInfo struct {
	Database
	// WALLevel is the server's wal_level: moving a tenant out of a
	// database needs "logical".
	WALLevel string
}

// Add checks that d can be reached and holds no registry of its own, and
// records it. d.Name must match ^[a-z][a-z0-9_]{0,39}$ and not be main;
// exactly one of d.URL and d.SecretARN is set, and d.Address says where
// it is without credentials (Address computes it from a URL). It returns
// CodeValidationFailed for a bad name or location, CodeConflict for a name
// or address taken, CodeUnavailable when the database cannot be reached.
func (s *DatabaseStore) Add(ctx context.Context, d Database) (DatabaseInfo, error) {
	switch {
	case !tenantapi.ValidDatabaseName(d.Name):
		return DatabaseInfo{}, tenantapi.Errorf(tenantapi.CodeValidationFailed, "a database name must match ^[a-z][a-z0-9_]{0,39}$")
	case d.Name == MainDatabase:
		return DatabaseInfo{}, tenantapi.Errorf(tenantapi.CodeConflict, "main is the control database; it is always there")
	case (d.URL == "") == (d.SecretARN == ""):
		return DatabaseInfo{}, tenantapi.Errorf(tenantapi.CodeValidationFailed, "a database is a connection string or a secret ARN, one of them")
	case d.Address == "":
		return DatabaseInfo{}, tenantapi.Errorf(tenantapi.CodeValidationFailed, "the database's address is unknown")
	}
	existing, err := s.db.listDatabases(ctx)
	if err != nil {
		return DatabaseInfo{}, err
	}
	for _, e := range existing {
		switch {
		case e.Name == d.Name:
			return DatabaseInfo{}, tenantapi.Errorf(tenantapi.CodeConflict, "a database named %s exists already", d.Name)
		case e.Address == d.Address:
			return DatabaseInfo{}, tenantapi.Errorf(tenantapi.CodeConflict, "database %s is at that address already", e.Name)
		}
	}
	cfg, err := s.db.sites.config(ctx, d)
	if err != nil {
		return DatabaseInfo{}, err
	}
	st, err := openSite(ctx, d.Name, cfg)
	if err != nil {
		return DatabaseInfo{}, err
	}
	defer st.close()
	info := DatabaseInfo{Database: d}
	var registry bool
	err = st.owner.QueryRow(ctx, `SELECT current_setting('wal_level'), to_regclass('public.tenants') IS NOT NULL`).Scan(&info.WALLevel, &registry)
	if err != nil {
		return DatabaseInfo{}, tenantapi.Wrap(tenantapi.CodeUnavailable, err, "database "+d.Name+" cannot be reached: "+reachError(err))
	}
	if registry {
		return DatabaseInfo{}, tenantapi.Errorf(tenantapi.CodeConflict, "that database has a tenant registry of its own (a control database, main itself?); add an empty one")
	}
	err = s.db.owner.QueryRow(ctx, `INSERT INTO public.databases (name, url, address, secret_arn, cluster_arn)
		VALUES ($1, nullif($2, ''), $3, nullif($4, ''), nullif($5, '')) RETURNING added_at`,
		d.Name, d.URL, d.Address, d.SecretARN, d.ClusterARN).Scan(&info.AddedAt)
	if sqlState(err) == sqlUniqueViolation {
		return DatabaseInfo{}, tenantapi.Errorf(tenantapi.CodeConflict, "a database named %s exists already", d.Name)
	}
	if err != nil {
		return DatabaseInfo{}, translate(err, publicScope)
	}
	info.AddedAt = info.AddedAt.UTC()
	return info, nil
}

// reachError says why a database could not be reached without repeating
// what the driver says of the connection string (which may hold the
// password): the SQLSTATE, or the kind of failure.
func reachError(err error) string {
	if code := sqlState(err); code != "" {
		return "SQLSTATE " + code
	}
	msg := err.Error()
	for _, kind := range []string{"connection refused", "no such host", "timeout", "password authentication failed", "does not exist"} {
		if strings.Contains(msg, kind) {
			return kind
		}
	}
	return "connection failed"
}

// List returns main, then every other database by name, each with its
// tenant count.
func (s *DatabaseStore) List(ctx context.Context) ([]Database, error) {
	main := Database{Name: MainDatabase, Address: "(the control database)"}
	err := s.db.owner.QueryRow(ctx, `SELECT d.draining, (SELECT count(*) FROM public.tenants t WHERE t.database = 'main')::int
		FROM public.databases d WHERE d.name = 'main'`).Scan(&main.Draining, &main.Tenants)
	if err != nil {
		return nil, translate(err, publicScope)
	}
	others, err := s.db.listDatabases(ctx)
	if err != nil {
		return nil, err
	}
	return append([]Database{main}, others...), nil
}

// SetDraining starts (true) or stops draining the database: a draining
// database gets no new tenant by automatic placement; naming it still
// places one there. main may drain too.
func (s *DatabaseStore) SetDraining(ctx context.Context, name string, draining bool) error {
	tag, err := s.db.owner.Exec(ctx, `UPDATE public.databases SET draining = $2 WHERE name = $1`, name, draining)
	if err != nil {
		return translate(err, publicScope)
	}
	if tag.RowsAffected() == 0 {
		return tenantapi.Errorf(tenantapi.CodeNotFound, "no database is named %q", name)
	}
	return nil
}

// Remove forgets a database no tenant lives in (none being deleted or
// moved there either) and closes this process's pools of it. It returns
// CodeConflict while any does, CodeNotFound for an unknown name. The
// database itself is left as it is.
func (s *DatabaseStore) Remove(ctx context.Context, name string) error {
	if name == MainDatabase {
		return tenantapi.Errorf(tenantapi.CodeConflict, "main is the control database; it cannot be removed")
	}
	if _, err := s.db.database(ctx, name); err != nil {
		return err
	}
	var tenants, moves int
	err := s.db.owner.QueryRow(ctx, `WITH gone AS (
			DELETE FROM public.databases d WHERE d.name = $1
			AND NOT EXISTS (SELECT 1 FROM public.tenants t WHERE t.database = d.name)
			AND NOT EXISTS (SELECT 1 FROM public.tenant_moves m WHERE m.source = d.name OR m.target = d.name)
			RETURNING 1)
		SELECT (SELECT count(*) FROM public.tenants WHERE database = $1)::int,
		       (SELECT count(*) FROM public.tenant_moves WHERE source = $1 OR target = $1)::int,
		       (SELECT count(*) FROM gone)::int`, name).Scan(&tenants, &moves, new(int))
	if err != nil {
		return translate(err, publicScope)
	}
	switch {
	case tenants > 0:
		return tenantapi.Errorf(tenantapi.CodeConflict, "%d tenants live in database %s: move them elsewhere first (tenantapi tenants move ID --to NAME)", tenants, name)
	case moves > 0:
		return tenantapi.Errorf(tenantapi.CodeConflict, "a move into or out of database %s is in progress: finish or abort it first", name)
	}
	s.db.sites.forget(name)
	return nil
}
