package tenantapi

// Limits, from the product contract: an item's name and description
// (SPEC §3), any JSON value a write stores (an item's attributes, and
// every json or jsonb field of a resource), and a page of any list.
const (
	MaxNameLen        = 200    // code points
	MaxDescriptionLen = 10_000 // code points
	MaxAttributesSize = 64 << 10
	MaxAttributeDepth = 32 // the attributes object itself is depth 1
	DefaultPageLimit  = 50
	MaxPageLimit      = 500
)

// Precondition is a parsed If-Match header. The zero value (Present false)
// matches anything.
type Precondition struct {
	Present bool
	// Any is true for "If-Match: *": any existing row matches.
	Any bool
	// Versions are the strong ETags listed; weak ETags never match.
	Versions []int64
}

// Matches reports whether a row at version v satisfies the precondition.
func (p Precondition) Matches(v int64) bool {
	if !p.Present || p.Any {
		return true
	}
	for _, w := range p.Versions {
		if w == v {
			return true
		}
	}
	return false
}

// Idempotency is the Idempotency-Key of a create and the SHA-256 of its body.
type Idempotency struct {
	Key         string
	RequestHash [32]byte
}
