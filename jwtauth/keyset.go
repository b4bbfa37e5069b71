package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/tenantapi/tenantapi"
)

// maxKeySetBytes bounds the JWKS document read; a real one is a few KiB.
const maxKeySetBytes = 1 << 20

// failedFetchBackoff is the longest wait after a failed fetch before the
// next one, so that a blip at start-up does not refuse every token for a
// whole RefetchInterval.
const failedFetchBackoff = 5 * time.Second

// keySet caches the issuer's signing keys by key id. It fetches them on first
// use, again once they are older than refresh, and again when a token names
// a key id it does not know (the issuer rotated its keys) — but never twice
// within refetch, whatever the tokens say.
type keySet struct {
	url     string
	client  *http.Client
	timeout time.Duration
	refresh time.Duration
	refetch time.Duration
	log     *slog.Logger
	now     func() time.Time
	fetch   chan struct{} // held by the one fetch in flight

	mu        sync.Mutex
	keys      map[string]signingKey
	fetchedAt time.Time // last successful fetch; zero before the first
	nextFetch time.Time // no fetch before this
}

// signingKey is a public key of the set, with the algorithm the JWKS pins it
// to ("" when it names none).
type signingKey struct {
	key crypto.PublicKey
	alg string
}

// key returns the key named kid. It returns an *tenantapi.Error with
// CodeUnauthorized when the set has no such key, and CodeUnavailable when
// no key set could be fetched at all.
func (s *keySet) key(ctx context.Context, kid string) (signingKey, error) {
	if k, ok, fresh := s.lookup(kid); ok && fresh {
		return k, nil
	}
	select {
	case s.fetch <- struct{}{}:
		defer func() { <-s.fetch }()
	case <-ctx.Done():
		return signingKey{}, tenantapi.Wrap(tenantapi.CodeUnavailable, ctx.Err(), "the token's signing keys are being fetched")
	}
	// Another request may have fetched while this one waited.
	k, ok, fresh := s.lookup(kid)
	if ok && fresh {
		return k, nil
	}
	var err error
	if s.mayFetch() {
		if err = s.update(ctx); err != nil {
			s.log.WarnContext(ctx, "fetching the JWKS failed", slog.String("url", s.url), slog.Any("error", err))
		}
		k, ok, _ = s.lookup(kid)
	}
	switch {
	case ok:
		// Possibly stale, when the refresh failed: the issuer's keys change
		// rarely, and refusing every token while its endpoint is down would
		// be worse.
		return k, nil
	case s.empty():
		if err == nil {
			err = fmt.Errorf("no key set yet; the last fetch failed")
		}
		return signingKey{}, tenantapi.Wrap(tenantapi.CodeUnavailable, err, "the token's signing keys cannot be fetched now")
	default:
		return signingKey{}, tenantapi.Errorf(tenantapi.CodeUnauthorized, "the token's signing key (kid) is unknown")
	}
}

// lookup returns the cached key kid and whether the set is fresh.
func (s *keySet) lookup(kid string) (k signingKey, ok, fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok = s.keys[kid]
	fresh = !s.fetchedAt.IsZero() && s.now().Sub(s.fetchedAt) < s.refresh
	return k, ok, fresh
}

// mayFetch reports whether the rate limit allows a fetch now.
func (s *keySet) mayFetch() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.now().Before(s.nextFetch)
}

func (s *keySet) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys) == 0
}

// update fetches the key set and replaces the cached one. A failure keeps
// the cached keys and allows the next attempt sooner than a success would.
func (s *keySet) update(ctx context.Context) error {
	// The fetch serves every request waiting for it, so the caller's
	// cancellation does not end it; the timeout does.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	keys, err := s.get(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.nextFetch = s.now().Add(min(s.refetch, failedFetchBackoff))
		return err
	}
	now := s.now()
	s.keys, s.fetchedAt, s.nextFetch = keys, now, now.Add(s.refetch)
	return nil
}

// get fetches and parses the key set. Keys that cannot sign RS256 or ES256
// tokens (encryption keys, other types and curves, RSA under 2048 bits) and
// keys without a key id are left out; a set with none left is an error.
func (s *keySet) get(ctx context.Context) (map[string]signingKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	var set jwkset.JWKSMarshal
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeySetBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("GET %s: not a JWK set: %w", s.url, err)
	}
	keys := make(map[string]signingKey, len(set.Keys))
	for _, m := range set.Keys {
		if m.KID == "" || (m.USE != "" && m.USE != jwkset.UseSig) || (m.KTY != jwkset.KtyRSA && m.KTY != jwkset.KtyEC) {
			continue
		}
		// Only public parameters are read: a private part is ignored.
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		switch k := jwk.Key().(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				continue
			}
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				continue
			}
		default:
			continue
		}
		keys[m.KID] = signingKey{key: jwk.Key(), alg: string(m.ALG)}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("GET %s: no RS256 or ES256 signing key with a key id", s.url)
	}
	return keys, nil
}
