package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// ConfigStore manages shared settings in public.config. Values are JSON and
// come back as PostgreSQL normalizes jsonb (equal JSON, not the same bytes).
// It implements tenantapi.ConfigStore.
type ConfigStore struct {
	db *DB
}

var _ tenantapi.ConfigStore = (*ConfigStore)(nil)

// NewConfigStore returns a ConfigStore on db.
func NewConfigStore(db *DB) *ConfigStore { return &ConfigStore{db: db} }

func scanConfigEntry(row pgx.Row) (tenantapi.ConfigEntry, error) {
	var e tenantapi.ConfigEntry
	err := row.Scan(&e.Key, &e.Value, &e.UpdatedAt)
	e.UpdatedAt = e.UpdatedAt.UTC()
	return e, err
}

// ConfigEntries returns all settings ordered by key.
func (s *ConfigStore) ConfigEntries(ctx context.Context) ([]tenantapi.ConfigEntry, error) {
	rows, err := s.db.owner.Query(ctx, `SELECT key, value, updated_at FROM public.config ORDER BY key`)
	if err != nil {
		return nil, translate(err, publicScope)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tenantapi.ConfigEntry, error) { return scanConfigEntry(row) })
	return es, translate(err, publicScope)
}

// ConfigEntry returns one setting or ErrNotFound.
func (s *ConfigStore) ConfigEntry(ctx context.Context, key string) (tenantapi.ConfigEntry, error) {
	e, err := scanConfigEntry(s.db.owner.QueryRow(ctx, `SELECT key, value, updated_at FROM public.config WHERE key = $1`, key))
	return e, translate(err, configScope)
}

// PutConfigEntry creates or replaces a setting. value must be valid JSON (the
// caller validates it); anything else is CodeInternal.
func (s *ConfigStore) PutConfigEntry(ctx context.Context, key string, value []byte) (tenantapi.ConfigEntry, error) {
	// json.RawMessage, not []byte: pgx sends []byte as bytea text, which
	// jsonb would refuse.
	e, err := scanConfigEntry(s.db.owner.QueryRow(ctx, `
		INSERT INTO public.config (key, value, updated_at) VALUES ($1, $2::jsonb, now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
		RETURNING key, value, updated_at`, key, json.RawMessage(value)))
	return e, translate(err, publicScope)
}

// DeleteConfigEntry deletes a setting or returns ErrNotFound.
func (s *ConfigStore) DeleteConfigEntry(ctx context.Context, key string) error {
	tag, err := s.db.owner.Exec(ctx, `DELETE FROM public.config WHERE key = $1`, key)
	if err != nil {
		return translate(err, publicScope)
	}
	if tag.RowsAffected() == 0 {
		return tenantapi.ErrNotFound
	}
	return nil
}
