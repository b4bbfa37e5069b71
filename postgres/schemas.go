package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// RecordSchemas stores in public.application_schemas what each version of
// m's application set serves, unless every version is recorded already
// with its file's checksum (one small read). Recording applies the set to
// a scratch schema once (see Schemas), whatever the number of tenants.
func (m *Migrator) RecordSchemas(ctx context.Context) error {
	rows, err := m.db.owner.Query(ctx, `SELECT version, checksum FROM public.application_schemas`)
	if err != nil {
		return translate(err, publicScope)
	}
	have, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		Version  int
		Checksum string
	}])
	if err != nil {
		return translate(err, publicScope)
	}
	recorded := map[int]string{}
	for _, h := range have {
		recorded[h.Version] = h.Checksum
	}
	missing := false
	for _, mg := range m.app {
		if recorded[mg.Version] != mg.checksum() {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	schemas, err := m.Schemas(ctx)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	for i, s := range schemas {
		doc, err := json.Marshal(s)
		if err != nil {
			return tenantapi.Wrap(tenantapi.CodeInternal, err, "internal error")
		}
		mg := m.app[i]
		b.Queue(`INSERT INTO public.application_schemas (version, file, checksum, schema) VALUES ($1, $2, $3, $4::jsonb)
			ON CONFLICT (version) DO UPDATE SET file = excluded.file, checksum = excluded.checksum,
				schema = excluded.schema, recorded_at = now()
			WHERE application_schemas.checksum <> excluded.checksum`, mg.Version, mg.FileName(), mg.checksum(), string(doc))
	}
	return translate(m.db.owner.SendBatch(ctx, b).Close(), publicScope)
}

// SchemaStore serves the recorded shapes of the application set's
// versions (tenantapi.SchemaSource). It reads them all in one query the
// first time, and again, at most once per reloadInterval, when asked for
// a version or a resource it does not know: a tenant migrated past what
// this process has seen. Lookups of known versions take no lock.
type SchemaStore struct {
	db *DB

	mu    sync.Mutex // held while reading
	state atomic.Pointer[schemaState]
}

// schemaState is one read of the recorded schemas.
type schemaState struct {
	versions  map[int]*tenantapi.Schema
	checksums map[int]string
	names     map[string]bool // resources of any version
	loaded    time.Time
}

var _ tenantapi.SchemaSource = (*SchemaStore)(nil)

// reloadInterval bounds how often unknown versions or names re-read the
// recorded schemas.
const reloadInterval = time.Second

// NewSchemaStore returns the recorded schemas of db.
func NewSchemaStore(db *DB) *SchemaStore { return &SchemaStore{db: db} }

// empty is the schema of a tenant at version 0: no application file yet.
var empty = &tenantapi.Schema{Resources: []tenantapi.Resource{}, Private: []tenantapi.PrivateTable{}}

// lookup returns what the latest read knows, reading again (rate-bounded)
// when found says it lacks what the caller wants.
func (s *SchemaStore) lookup(ctx context.Context, found func(*schemaState) bool) (*schemaState, error) {
	if st := s.state.Load(); st != nil && found(st) {
		return st, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state.Load()
	if st != nil && (found(st) || time.Since(st.loaded) < reloadInterval) {
		return st, nil
	}
	st, err := s.load(ctx, st)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	return st, nil
}

// Schema implements tenantapi.SchemaSource.
func (s *SchemaStore) Schema(ctx context.Context, v int) (*tenantapi.Schema, error) {
	if v == 0 {
		return empty, nil
	}
	st, err := s.lookup(ctx, func(st *schemaState) bool { return st.versions[v] != nil })
	if err != nil {
		return nil, err
	}
	if sc, ok := st.versions[v]; ok {
		return sc, nil
	}
	return nil, tenantapi.Errorf(tenantapi.CodeUnavailable, "the shape of the tenant's schema version %d is not recorded yet; run tenantapi migrate", v)
}

// schemasMaxAge is how old a read Schemas answers from may be: the list
// of every version (the OpenAPI document's) shows a version recorded
// meanwhile at most this late, even when no request has needed it yet.
const schemasMaxAge = 10 * time.Second

// Schemas implements tenantapi.SchemaSource.
func (s *SchemaStore) Schemas(ctx context.Context) ([]*tenantapi.Schema, error) {
	st, err := s.lookup(ctx, func(st *schemaState) bool { return time.Since(st.loaded) < schemasMaxAge })
	if err != nil {
		return nil, err
	}
	out := make([]*tenantapi.Schema, 0, len(st.versions))
	for _, sc := range st.versions {
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b *tenantapi.Schema) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

// Known implements tenantapi.SchemaSource.
func (s *SchemaStore) Known(ctx context.Context, name string) (bool, error) {
	if tenantapi.ResourceNameProblem(name) != "" {
		return false, nil
	}
	st, err := s.lookup(ctx, func(st *schemaState) bool { return st.names[name] })
	if err != nil {
		return false, err
	}
	return st.names[name], nil
}

// load reads every recorded schema. A version whose record is unchanged
// since prev keeps its pointer: plans and caches are keyed by it.
func (s *SchemaStore) load(ctx context.Context, prev *schemaState) (*schemaState, error) {
	rows, err := s.db.runtime.Query(ctx, `SELECT version, checksum, schema::text FROM public.application_schemas ORDER BY version`)
	if err != nil {
		return nil, translate(err, publicScope)
	}
	recs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		Version  int
		Checksum string
		Doc      string
	}])
	if err != nil {
		return nil, translate(err, publicScope)
	}
	st := &schemaState{versions: make(map[int]*tenantapi.Schema, len(recs)), checksums: make(map[int]string, len(recs)),
		names: map[string]bool{}, loaded: time.Now()}
	for _, rec := range recs {
		sc, ok := (*tenantapi.Schema)(nil), false
		if prev != nil {
			sc, ok = prev.versions[rec.Version]
			ok = ok && prev.checksums[rec.Version] == rec.Checksum
		}
		if !ok {
			sc = new(tenantapi.Schema)
			if err := json.Unmarshal([]byte(rec.Doc), sc); err != nil {
				return nil, tenantapi.Wrap(tenantapi.CodeInternal, fmt.Errorf("application_schemas: %w", err), "internal error")
			}
		}
		st.versions[rec.Version], st.checksums[rec.Version] = sc, rec.Checksum
		for _, r := range sc.Resources {
			st.names[r.Name] = true
		}
	}
	return st, nil
}

// RecordedSchema returns the recorded shape of version v as the owner
// reads it (migrate's summary, before the runtime role may exist); the
// empty schema for 0.
func (m *Migrator) RecordedSchema(ctx context.Context, v int) (*tenantapi.Schema, error) {
	if v == 0 {
		return empty, nil
	}
	var doc string
	err := m.db.owner.QueryRow(ctx, `SELECT schema::text FROM public.application_schemas WHERE version = $1`, v).Scan(&doc)
	if err != nil {
		return nil, translate(err, publicScope)
	}
	sc := new(tenantapi.Schema)
	if err := json.Unmarshal([]byte(doc), sc); err != nil {
		return nil, tenantapi.Wrap(tenantapi.CodeInternal, fmt.Errorf("application_schemas: %w", err), "internal error")
	}
	return sc, nil
}
