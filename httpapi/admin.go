package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/tenantapi/tenantapi"
)

type tenantJSON struct {
	ID            tenantapi.TenantID     `json:"id"`
	Name          string                 `json:"name"`
	Status        tenantapi.TenantStatus `json:"status"`
	SchemaVersion int                    `json:"schema_version"`
	CreatedAt     string                 `json:"created_at"`
	UpdatedAt     string                 `json:"updated_at"`
	RateLimit     *rateLimitJSON         `json:"rate_limit"`
	Database      string                 `json:"database"`
}

func toTenantJSON(t tenantapi.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Name: t.Name, Status: t.Status, SchemaVersion: t.SchemaVersion,
		CreatedAt: formatTime(t.CreatedAt), UpdatedAt: formatTime(t.UpdatedAt), RateLimit: toRateLimitJSON(t.RateLimit),
		Database: t.Database}
}

// pathTenant returns the {id} of an admin path; a malformed id names no
// tenant (404), so ids are never echoed into SQL or errors.
func pathTenant(r *http.Request) (tenantapi.TenantID, error) {
	id, err := tenantapi.ParseTenantID(r.PathValue("id"))
	if err != nil {
		return "", tenantapi.ErrTenantNotFound
	}
	noteTenant(r, id)
	return id, nil
}

// readObject reads a JSON object body (413, 400, then 422 for a
// non-object).
func readObject(r *http.Request) (map[string]any, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return decodeObject(body)
}

// checkName validates an optional display name field.
func checkName(v any, field string, fe *fieldErrors) string {
	name, ok := v.(string)
	switch {
	case !ok:
		fe.add(field, "must be a string")
	case name == "" || utf8.RuneCountInString(name) > tenantapi.MaxNameLen:
		fe.add(field, "must be 1 to 200 characters")
	default:
		checkNUL(name, field, fe)
	}
	return name
}

func unknownFields(obj map[string]any, known map[string]bool, fe *fieldErrors) {
	for k := range obj {
		if !known[k] {
			fe.add("/"+pointerToken(truncate(k, 64)), "is not a known field")
		}
	}
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) {
	obj, err := readObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var fe fieldErrors
	unknownFields(obj, map[string]bool{"id": true, "name": true, "database": true}, &fe)
	raw, _ := obj["id"].(string)
	id, idErr := tenantapi.ParseTenantID(raw)
	if idErr != nil {
		fe.add("/id", "must match ^[a-z0-9][a-z0-9_]{0,39}$")
	}
	name := string(id)
	if v, ok := obj["name"]; ok {
		name = checkName(v, "/name", &fe)
	}
	var database string
	if v, ok := obj["database"]; ok {
		if database, _ = v.(string); !tenantapi.ValidDatabaseName(database) {
			fe.add("/database", "must name a database: ^[a-z][a-z0-9_]{0,39}$")
		}
	}
	if err := fe.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.stores.Tenants.CreateTenantIn(r.Context(), id, name, database)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", basePath(r)+"/admin/tenants/"+string(t.ID))
	writeJSON(w, http.StatusCreated, "application/json", toTenantJSON(t))
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	q, err := parseListQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var after tenantapi.TenantID
	if q.cursor != "" {
		if after, err = decodeTenantCursor(q.cursor); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ts, err := s.stores.Tenants.Tenants(r.Context(), tenantapi.Page{After: string(after), Limit: q.limit + 1})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Tenants    []tenantJSON `json:"tenants"`
		NextCursor *string      `json:"next_cursor"`
	}{Tenants: []tenantJSON{}}
	if len(ts) > q.limit {
		ts = ts[:q.limit]
		c := encodeTenantCursor(ts[len(ts)-1].ID)
		out.NextCursor = &c
	}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, toTenantJSON(t))
	}
	writeJSON(w, http.StatusOK, "application/json", out)
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) {
	id, err := pathTenant(r)
	if err == nil {
		var t tenantapi.Tenant
		if t, err = s.stores.Tenants.Tenant(r.Context(), id); err == nil {
			writeJSON(w, http.StatusOK, "application/json", toTenantJSON(t))
			return
		}
	}
	s.writeError(w, r, err)
}

func (s *Server) updateTenant(w http.ResponseWriter, r *http.Request) {
	id, err := pathTenant(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := readObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var fe fieldErrors
	unknownFields(obj, map[string]bool{"id": true, "name": true, "status": true, "rate_limit": true}, &fe)
	if v, ok := obj["id"]; ok && v != string(id) {
		fe.add("/id", "a tenant id never changes")
	}
	var u tenantapi.TenantUpdate
	if v, ok := obj["name"]; ok {
		name := checkName(v, "/name", &fe)
		u.Name = &name
	}
	if v, ok := obj["status"]; ok {
		st := tenantapi.TenantStatus(asString(v))
		if st != tenantapi.TenantActive && st != tenantapi.TenantSuspended {
			fe.add("/status", `must be "active" or "suspended"`)
		}
		u.Status = &st
	}
	if v, ok := obj["rate_limit"]; ok {
		u.SetRateLimit = true
		u.RateLimit = checkRateLimit(v, &fe)
	}
	if err := fe.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.stores.Tenants.UpdateTenant(r.Context(), id, u)
	s.forgetTenant(id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", toTenantJSON(t))
}

func asString(v any) string { s, _ := v.(string); return s }

// deleteTenant marks the tenant deleting (revoking its keys), waits out the
// grace period so no process still serves it from a cache, then drops it.
// If the drop cannot get its locks the answer is 503 and the tenant stays
// deleting; repeating the call finishes it.
func (s *Server) deleteTenant(w http.ResponseWriter, r *http.Request) {
	id, err := pathTenant(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The delete outlives the request deadline on purpose: it must wait out
	// the grace period, and stopping half way only leaves it to a repeat.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.DeleteGrace+s.cfg.DropLockTimeout+30*time.Second)
	defer cancel()
	err = tenantapi.DeleteTenant(ctx, s.stores.Tenants, id, s.cfg.DeleteGrace, s.cfg.DropLockTimeout, func() { s.forgetTenant(id) })
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type keyJSON struct {
	ID        string             `json:"id"`
	Key       string             `json:"key,omitempty"`
	TenantID  tenantapi.TenantID `json:"tenant_id"`
	Name      string             `json:"name"`
	CreatedAt string             `json:"created_at"`
	ExpiresAt *string            `json:"expires_at"`
	RevokedAt *string            `json:"revoked_at,omitempty"`
}

func toKeyJSON(k tenantapi.APIKey) keyJSON {
	out := keyJSON{ID: k.ID, TenantID: k.TenantID, Name: k.Name, CreatedAt: formatTime(k.CreatedAt)}
	if k.ExpiresAt != nil {
		e := formatTime(*k.ExpiresAt)
		out.ExpiresAt = &e
	}
	if k.RevokedAt != nil {
		e := formatTime(*k.RevokedAt)
		out.RevokedAt = &e
	}
	return out
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathTenant(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj := map[string]any{}
	if hasBody(r) {
		if obj, err = readObject(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	var fe fieldErrors
	unknownFields(obj, map[string]bool{"name": true, "expires_at": true}, &fe)
	name := ""
	if v, ok := obj["name"]; ok {
		name = checkName(v, "/name", &fe)
	}
	var expires *time.Time
	if v, ok := obj["expires_at"]; ok && v != nil {
		t, err := time.Parse(time.RFC3339Nano, asString(v))
		switch {
		case err != nil:
			fe.add("/expires_at", "must be an RFC 3339 date-time")
		case !t.After(time.Now()):
			fe.add("/expires_at", "must be in the future")
		default:
			t = t.UTC().Truncate(time.Microsecond)
			expires = &t
		}
	}
	if err := fe.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	k, secret, err := s.stores.Keys.CreateKey(r.Context(), id, name, expires)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := toKeyJSON(k)
	out.Key = secret
	writeJSON(w, http.StatusCreated, "application/json", out)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	id, err := pathTenant(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	keys, err := s.stores.Keys.Keys(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		APIKeys []keyJSON `json:"api_keys"`
	}{APIKeys: []keyJSON{}}
	for _, k := range keys {
		out.APIKeys = append(out.APIKeys, toKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, "application/json", out)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathTenant(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	keyID := r.PathValue("key_id")
	if !tenantapi.ValidAPIKeyID(keyID) {
		s.writeError(w, r, tenantapi.ErrNotFound)
		return
	}
	if err := s.stores.Keys.RevokeKey(r.Context(), id, keyID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.principals.drop(func(_ [32]byte, p tenantapi.Principal) bool { return p.KeyID == keyID })
	w.WriteHeader(http.StatusNoContent)
}

type configJSON struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	UpdatedAt string          `json:"updated_at"`
}

func toConfigJSON(e tenantapi.ConfigEntry) configJSON {
	return configJSON{Key: e.Key, Value: e.Value, UpdatedAt: formatTime(e.UpdatedAt)}
}

// configKey returns the {key} of a config path; a malformed key names no
// setting (404).
func configKey(r *http.Request) (string, error) {
	k := r.PathValue("key")
	if !tenantapi.ValidConfigKey(k) {
		return "", tenantapi.ErrNotFound
	}
	return k, nil
}

func (s *Server) listConfig(w http.ResponseWriter, r *http.Request) {
	entries, err := s.stores.Config.ConfigEntries(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Config []configJSON `json:"config"`
	}{Config: []configJSON{}}
	for _, e := range entries {
		out.Config = append(out.Config, toConfigJSON(e))
	}
	writeJSON(w, http.StatusOK, "application/json", out)
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	key, err := configKey(r)
	if err == nil {
		var e tenantapi.ConfigEntry
		if e, err = s.stores.Config.ConfigEntry(r.Context(), key); err == nil {
			writeJSON(w, http.StatusOK, "application/json", toConfigJSON(e))
			return
		}
	}
	s.writeError(w, r, err)
}

// putConfig stores the body, any JSON value, as the setting.
func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	key, err := configKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := parseJSON(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var fe fieldErrors
	checkNUL(v, "", &fe)
	checkNumbers(v, "", &fe)
	switch {
	case depthOf(v) > maxParseDepth:
		fe.add("", "must nest at most 32 levels deep")
	case int64(len(body))+numericGrowth(v, MaxBodySize) > MaxBodySize:
		// PostgreSQL prints numbers in full: 1e100000 comes back as
		// 100001 digits. Bound what a read of the setting returns.
		fe.add("", "must be at most 1 MiB as PostgreSQL prints it")
	}
	if err := fe.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.stores.Config.PutConfigEntry(r.Context(), key, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", toConfigJSON(e))
}

func (s *Server) deleteConfig(w http.ResponseWriter, r *http.Request) {
	key, err := configKey(r)
	if err == nil {
		if err = s.stores.Config.DeleteConfigEntry(r.Context(), key); err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	s.writeError(w, r, err)
}
