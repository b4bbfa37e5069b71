package tenantapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"hash/crc32"
	"strings"
	"time"
)

// API keys look like
//
//	tak_<key id: 16 base32 chars>_<secret: 40 base32 chars><checksum: 7 base32 chars>
//
// The "tak_" prefix lets secret scanners find leaked keys; the key id is public
// and names the key in listings and revocations; the CRC-32 checksum lets a
// mistyped or made-up key be refused without a database query. Only the
// SHA-256 of the whole key is stored.
const (
	apiKeyPrefix    = "tak_"
	apiKeyIDLen     = 16
	apiKeySecretLen = 40
	apiKeySumLen    = 7
	// APIKeyLen is the length of every well-formed key.
	APIKeyLen = len(apiKeyPrefix) + apiKeyIDLen + 1 + apiKeySecretLen + apiKeySumLen
)

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// APIKey is a stored key: everything but the secret.
type APIKey struct {
	ID        string
	TenantID  TenantID
	TenantUID int64
	Name      string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// NewAPIKeySecret returns a fresh random key and its public id.
func NewAPIKeySecret() (key, keyID string) {
	var b [35]byte // 10 bytes of id, 25 bytes of secret
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	keyID = keyEncoding.EncodeToString(b[:10])
	body := apiKeyPrefix + keyID + "_" + keyEncoding.EncodeToString(b[10:])
	return body + checksum(body), keyID
}

func checksum(body string) string {
	var sum [5]byte
	c := crc32.ChecksumIEEE([]byte(body))
	sum[0], sum[1], sum[2], sum[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	return keyEncoding.EncodeToString(sum[:])[:apiKeySumLen]
}

// ParseAPIKey checks a presented key's shape and checksum and returns its key
// id and the SHA-256 under which it is stored. ok is false for anything that
// cannot be a key this service issued.
func ParseAPIKey(key string) (keyID string, hash [32]byte, ok bool) {
	if len(key) != APIKeyLen || !strings.HasPrefix(key, apiKeyPrefix) {
		return "", hash, false
	}
	body, sum := key[:len(key)-apiKeySumLen], key[len(key)-apiKeySumLen:]
	if body[len(apiKeyPrefix)+apiKeyIDLen] != '_' || checksum(body) != sum {
		return "", hash, false
	}
	return key[len(apiKeyPrefix) : len(apiKeyPrefix)+apiKeyIDLen], HashAPIKey(key), true
}

// HashAPIKey returns the SHA-256 under which a key is stored.
func HashAPIKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// ValidAPIKeyID reports whether s has the shape of a key id.
func ValidAPIKeyID(s string) bool {
	if len(s) != apiKeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// Principal is what a valid credential proves: the key and the tenant it
// opens, with the tenant's status and own rate limit (nil: the server's
// default) at lookup time.
type Principal struct {
	KeyID        string
	Tenant       TenantRef
	TenantStatus TenantStatus
	RateLimit    *RateLimit
	ExpiresAt    *time.Time
}

// KeyStore manages API keys.
type KeyStore interface {
	// CreateKey stores a new key for the tenant and returns the key string,
	// shown once. It returns ErrTenantNotFound for an absent or deleting tenant.
	CreateKey(ctx context.Context, tenant TenantID, name string, expiresAt *time.Time) (APIKey, string, error)
	// Keys lists the tenant's keys, newest first, or ErrTenantNotFound.
	Keys(ctx context.Context, tenant TenantID) ([]APIKey, error)
	// RevokeKey revokes a key. With tenant set, the key must belong to it.
	// It returns ErrNotFound for an unknown or already revoked key.
	RevokeKey(ctx context.Context, tenant TenantID, keyID string) error
	// RevokeKeysNamed revokes every active key of the tenant with that name.
	RevokeKeysNamed(ctx context.Context, tenant TenantID, name string) (int, error)
	// Authenticate returns the principal of an active, unexpired key with
	// the given hash, or ErrUnauthorized. Expiry is checked by the caller
	// against Principal.ExpiresAt so a cached principal expires on time.
	Authenticate(ctx context.Context, hash [32]byte) (Principal, error)
}

// ConfigEntry is a shared setting in public.config.
type ConfigEntry struct {
	Key       string
	Value     []byte // JSON
	UpdatedAt time.Time
}

// ValidConfigKey reports whether s can name a shared setting:
// ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$.
func ValidConfigKey(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '_' || c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ConfigStore manages shared settings.
type ConfigStore interface {
	// ConfigEntries returns all settings ordered by key.
	ConfigEntries(ctx context.Context) ([]ConfigEntry, error)
	// ConfigEntry returns one setting or ErrNotFound.
	ConfigEntry(ctx context.Context, key string) (ConfigEntry, error)
	// PutConfigEntry creates or replaces a setting.
	PutConfigEntry(ctx context.Context, key string, value []byte) (ConfigEntry, error)
	// DeleteConfigEntry deletes a setting or returns ErrNotFound.
	DeleteConfigEntry(ctx context.Context, key string) error
}

// Lookup resolves tenants for the request path without a credential
// (AUTH_MODE=none and the checks after authentication).
type Lookup interface {
	// TenantStatus returns the tenant's identity, status and own rate limit
	// (nil: the server's default), or ErrTenantNotFound.
	TenantStatus(ctx context.Context, id TenantID) (TenantRef, TenantStatus, *RateLimit, error)
}

// RegistryChanges is what changed in the registry between two reads of the
// change feed: the hashes of keys revoked and the ids of tenants whose
// status, name or rate limit changed or that were dropped (their keys with
// them). Creations are not changes:
// nothing about a new key or tenant can be cached before it exists.
type RegistryChanges struct {
	// Until is the database's time at the read; pass it as since next time.
	Until       time.Time
	RevokedKeys [][32]byte
	Tenants     []TenantID
	// Reset says the changes since then are no longer known: drop
	// everything.
	Reset bool
}

// ChangeFeed lets a process keep key lookups and tenant statuses for long
// and still drop them within seconds of a change anywhere.
type ChangeFeed interface {
	// RegistryChanges returns every change committed after the read that
	// returned since, and possibly some reported before (dropping a cache
	// entry twice is harmless). A zero since returns only Until, with Reset.
	RegistryChanges(ctx context.Context, since time.Time) (RegistryChanges, error)
}
