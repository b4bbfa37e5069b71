package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenantapi/tenantapi"
)

// renderItem stands in for the HTTP layer's response body, in the two parts
// around the attributes that CreateItem asks for.
func renderItem(it tenantapi.Item) (head, tail []byte) {
	name, _ := json.Marshal(it.Name)
	head = fmt.Appendf(nil, `{"id":"%s","name":%s,"attributes":`, it.ID, name)
	tail = fmt.Appendf(nil, `,"version":%d}`, it.Version)
	return head, tail
}

// renderedItem is the whole body renderItem makes of it.
func renderedItem(it tenantapi.Item) []byte {
	head, tail := renderItem(it)
	return append(append(head, it.Attributes...), tail...)
}

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
	count := func() int { return s.queryInt(t, `SELECT count(*) FROM "tenant_acme".items`) }

	// The attributes come back, and are stored, as jsonb writes them.
	first, err := s.items.CreateItem(ctx, ref, input("a", `{"bb":1,"a":[2,3]}`), idemKey("k1", "a"), renderItem)
	if err != nil || first.Replayed || first.Item.Version != 1 || string(first.Item.Attributes) != `{"a": [2, 3], "bb": 1}` {
		t.Fatalf("first create = %+v (attributes %s), %v", first, first.Item.Attributes, err)
	}
	replay, err := s.items.CreateItem(ctx, ref, input("a", `{"bb":1,"a":[2,3]}`), idemKey("k1", "a"), renderItem)
	if err != nil || !replay.Replayed || string(replay.Body) != string(renderedItem(first.Item)) || replay.Item.ID != first.Item.ID {
		t.Fatalf("replay = %+v (body %s), %v; want the stored body of %s", replay, replay.Body, err, first.Item.ID)
	}
	if n := count(); n != 1 {
		t.Errorf("%d items after a replay, want 1", n)
	}

	_, err = s.items.CreateItem(ctx, ref, input("b", `{}`), idemKey("k1", "b"), renderItem)
	wantCode(t, err, tenantapi.CodeIdempotencyKeyReused)
	if n := count(); n != 1 {
		t.Errorf("%d items after a reused key, want 1", n)
	}

	// The key is scoped to the tenant.
	other := s.createTenant(t, "other")
	if c, err := s.items.CreateItem(ctx, other, input("a", `{}`), idemKey("k1", "a"), renderItem); err != nil || c.Replayed {
		t.Errorf("same key in another tenant = %+v, %v; want a new item", c, err)
	}

	// After 24 hours the key is free again, even for another body.
	s.exec(t, `UPDATE "tenant_acme"._tenantapi_idempotency_keys SET created_at = created_at - interval '24 hours 1 second'`)
	fresh, err := s.items.CreateItem(ctx, ref, input("c", `{}`), idemKey("k1", "c"), renderItem)
	if err != nil || fresh.Replayed || fresh.Item.ID == first.Item.ID {
		t.Fatalf("create after expiry = %+v, %v; want a new item", fresh, err)
	}
	replay, err = s.items.CreateItem(ctx, ref, input("c", `{}`), idemKey("k1", "c"), renderItem)
	if err != nil || !replay.Replayed || replay.Item.ID != fresh.Item.ID {
		t.Errorf("replay after takeover = %+v, %v; want %s", replay, err, fresh.Item.ID)
	}
	if n := count(); n != 2 {
		t.Errorf("%d items, want 2", n)
	}
}

func TestIdempotentCreateConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	const racers = 10
	results := make([]tenantapi.Created, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.items.CreateItem(t.Context(), ref, input("once", `{}`), idemKey("dup", "once"), renderItem)
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
	hash := sha256.Sum256([]byte("body"))

	tx, err := s.db.owner.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(t.Context()))
	if _, err := tx.Exec(t.Context(), `INSERT INTO "tenant_acme"._tenantapi_idempotency_keys (key, request_hash, response, item_id, created_at)
		VALUES ('slow', $1, '\x7b7d', '00000000-0000-7000-8000-000000000001', now())`, hash[:]); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.items.CreateItem(t.Context(), ref, input("x", `{}`), &tenantapi.Idempotency{Key: "slow", RequestHash: hash}, renderItem)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("CreateItem did not wait for the first request: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, <-done, tenantapi.CodeConflict)

	c, err := s.items.CreateItem(t.Context(), ref, input("x", `{}`), &tenantapi.Idempotency{Key: "slow", RequestHash: hash}, renderItem)
	if err != nil || !c.Replayed || string(c.Body) != "{}" {
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
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.items.CreateItem(ctx, ref, input("x", `{}`), idemKey("k", "x"), renderItem)
	if !errors.Is(err, context.Canceled) && tenantapi.ErrorCode(err) != tenantapi.CodeUnavailable {
		t.Fatalf("cancelled create = %v", err)
	}
	c, err := s.items.CreateItem(t.Context(), ref, input("x", `{}`), idemKey("k", "x"), renderItem)
	if err != nil || c.Replayed {
		t.Errorf("repeat = %+v, %v; want a new item", c, err)
	}
}
