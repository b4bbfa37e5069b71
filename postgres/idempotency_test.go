package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
)

func idemKey(key, body string) *tenantapi.Idempotency {
	return &tenantapi.Idempotency{Key: key, RequestHash: sha256.Sum256([]byte(body))}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := setupWith(t, Config{ExecMode: mode})
			testIdempotentCreate(t, s)
		})
	}
}

func testIdempotentCreate(t *testing.T, s *stores) {
	ctx := t.Context()
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	count := func() int { return s.queryInt(t, `SELECT count(*) FROM "tenant_acme".items`) }

	// The attributes come back, and are stored, as jsonb writes them.
	first, err := s.rows.Create(ctx, ref, res, item(res, "a", `{"bb":1,"a":[2,3]}`), idemKey("k1", "a"))
	if err != nil || first.Replayed || first.Row.Version != 1 || string(decodeItem(t, first.Row).Attributes) != `{"a": [2, 3], "bb": 1}` {
		t.Fatalf("first create = %+v (JSON %s), %v", first, first.Row.JSON, err)
	}
	replay, err := s.rows.Create(ctx, ref, res, item(res, "a", `{"bb":1,"a":[2,3]}`), idemKey("k1", "a"))
	if err != nil || !replay.Replayed || string(replay.Row.JSON) != string(first.Row.JSON) || replay.Row.ID != first.Row.ID {
		t.Fatalf("replay = %+v (JSON %s), %v; want the stored body of %s: %s", replay, replay.Row.JSON, err, first.Row.ID, first.Row.JSON)
	}
	if n := count(); n != 1 {
		t.Errorf("%d items after a replay, want 1", n)
	}

	_, err = s.rows.Create(ctx, ref, res, item(res, "b", `{}`), idemKey("k1", "b"))
	wantCode(t, err, tenantapi.CodeIdempotencyKeyReused)
	if n := count(); n != 1 {
		t.Errorf("%d items after a reused key, want 1", n)
	}

	// The key is scoped to the tenant.
	other := s.createTenant(t, "other")
	if c, err := s.rows.Create(ctx, other, res, item(res, "a", `{}`), idemKey("k1", "a")); err != nil || c.Replayed {
		t.Errorf("same key in another tenant = %+v, %v; want a new item", c, err)
	}

	// After 24 hours the key is free again, even for another body.
	s.exec(t, `UPDATE "tenant_acme"._tenantapi_idempotency_keys SET created_at = created_at - interval '24 hours 1 second'`)
	fresh, err := s.rows.Create(ctx, ref, res, item(res, "c", `{}`), idemKey("k1", "c"))
	if err != nil || fresh.Replayed || fresh.Row.ID == first.Row.ID {
		t.Fatalf("create after expiry = %+v, %v; want a new item", fresh, err)
	}
	replay, err = s.rows.Create(ctx, ref, res, item(res, "c", `{}`), idemKey("k1", "c"))
	if err != nil || !replay.Replayed || replay.Row.ID != fresh.Row.ID || string(replay.Row.JSON) != string(fresh.Row.JSON) {
		t.Errorf("replay after takeover = %+v, %v; want %s", replay, err, fresh.Row.JSON)
	}
	if n := count(); n != 2 {
		t.Errorf("%d items, want 2", n)
	}
}

// A key is the tenant's across its resources: the same key and body on
// another resource is a reuse, never a replay of the other resource's
// answer, until the key expires.
func TestIdempotencyKeyAcrossResources(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()
	ref, sc := s.migrateAcme(t, Migration{Version: 2, Name: "notes", SQL: "CREATE TABLE notes (id uuid PRIMARY KEY, body text NOT NULL)"})
	items, _ := sc.Resource("items")
	notes, ok := sc.Resource("notes")
	if ref.Version != 2 || items == nil || !ok {
		t.Fatalf("tenant at version %d, schema %+v; want items and notes", ref.Version, sc)
	}
	note := values(notes, map[string]string{"body": "a"})
	count := func(table string) int { return s.queryInt(t, `SELECT count(*) FROM "tenant_acme".`+table) }

	first, err := s.rows.Create(ctx, ref, items, item(items, "a", `{}`), idemKey("k", "body"))
	if err != nil || first.Replayed {
		t.Fatalf("first create = %+v, %v", first, err)
	}
	_, err = s.rows.Create(ctx, ref, notes, note, idemKey("k", "body"))
	wantCode(t, err, tenantapi.CodeIdempotencyKeyReused)
	if n := count("notes"); n != 0 {
		t.Errorf("%d notes after a key of items was reused, want 0", n)
	}
	// The key still replays on the resource that holds it.
	if c, err := s.rows.Create(ctx, ref, items, item(items, "a", `{}`), idemKey("k", "body")); err != nil || !c.Replayed || c.Row.ID != first.Row.ID {
		t.Errorf("repeat on items = %+v, %v; want a replay of %s", c, err, first.Row.ID)
	}

	// An expired key goes to the resource that takes it over, and is then
	// a reuse on the one that held it.
	s.exec(t, `UPDATE "tenant_acme"._tenantapi_idempotency_keys SET created_at = created_at - interval '24 hours 1 second'`)
	taken, err := s.rows.Create(ctx, ref, notes, note, idemKey("k", "body"))
	if err != nil || taken.Replayed || !equalJSON(t, taken.Row.JSON, `{"id":"`+taken.Row.ID.String()+`","body":"a"}`) {
		t.Fatalf("create on notes after expiry = %+v (JSON %s), %v; want a new note", taken, taken.Row.JSON, err)
	}
	if c, err := s.rows.Create(ctx, ref, notes, note, idemKey("k", "body")); err != nil || !c.Replayed || string(c.Row.JSON) != string(taken.Row.JSON) {
		t.Errorf("repeat on notes = %+v, %v; want a replay of %s", c, err, taken.Row.JSON)
	}
	_, err = s.rows.Create(ctx, ref, items, item(items, "a", `{}`), idemKey("k", "body"))
	wantCode(t, err, tenantapi.CodeIdempotencyKeyReused)
	if n, m := count("items"), count("notes"); n != 1 || m != 1 {
		t.Errorf("%d items and %d notes, want 1 and 1", n, m)
	}
}

func TestIdempotentCreateConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	const racers = 10
	results := make([]tenantapi.CreatedRow, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.rows.Create(t.Context(), ref, res, item(res, "once", `{}`), idemKey("dup", "once"))
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i, err := range errs {
		switch {
		case err == nil && !results[i].Replayed:
			created++
		case err == nil, tenantapi.ErrorCode(err) == tenantapi.CodeConflict:
		default:
			t.Errorf("racer got %v", err)
		}
	}
	if created != 1 {
		t.Errorf("%d racers created an item, want 1", created)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM "tenant_acme".items`); n != 1 {
		t.Errorf("%d items, want exactly 1", n)
	}
}

// A repeat that arrives while the first request's transaction is open waits
// for it and is then told to retry; the retry replays.
func TestIdempotentCreateInFlight(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	hash := sha256.Sum256([]byte("body"))

	tx, err := s.db.owner.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(t.Context()))
	if _, err := tx.Exec(t.Context(), `INSERT INTO "tenant_acme"._tenantapi_idempotency_keys (key, request_hash, response, item_id, created_at, resource)
		VALUES ('slow', $1, '\x7b7d', '00000000-0000-7000-8000-000000000001', now(), 'items')`, hash[:]); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.rows.Create(t.Context(), ref, res, item(res, "x", `{}`), &tenantapi.Idempotency{Key: "slow", RequestHash: hash})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Create did not wait for the first request: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	err = <-done
	wantCode(t, err, tenantapi.CodeConflict)
	wantErr(t, err, tenantapi.ErrKeyInFlight)

	c, err := s.rows.Create(t.Context(), ref, res, item(res, "x", `{}`), &tenantapi.Idempotency{Key: "slow", RequestHash: hash})
	if err != nil || !c.Replayed || string(c.Row.JSON) != "{}" {
		t.Errorf("retry = %+v, %v; want the stored body", c, err)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM "tenant_acme".items`); n != 0 {
		t.Errorf("%d items created by repeats, want 0", n)
	}
}

// A failed first request stores nothing, so its repeat creates the item.
func TestIdempotentCreateAfterRollback(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.rows.Create(ctx, ref, res, item(res, "x", `{}`), idemKey("k", "x"))
	if !errors.Is(err, context.Canceled) && tenantapi.ErrorCode(err) != tenantapi.CodeUnavailable {
		t.Fatalf("cancelled create = %v", err)
	}
	c, err := s.rows.Create(t.Context(), ref, res, item(res, "x", `{}`), idemKey("k", "x"))
	if err != nil || c.Replayed {
		t.Errorf("repeat = %+v, %v; want a new item", c, err)
	}

	// Nor does a create the database refuses: the key is free for the
	// corrected body.
	_, err = s.rows.Create(t.Context(), ref, res, item(res, "", `{}`), idemKey("k2", "empty name"))
	wantCode(t, err, tenantapi.CodeValidationFailed)
	c, err = s.rows.Create(t.Context(), ref, res, item(res, "y", `{}`), idemKey("k2", "y"))
	if err != nil || c.Replayed {
		t.Errorf("create after a refused one = %+v, %v; want a new item", c, err)
	}
	if n := s.queryInt(t, `SELECT count(*) FROM "tenant_acme"._tenantapi_idempotency_keys`); n != 2 {
		t.Errorf("%d keys stored, want 2", n)
	}
}
