// Package tokenevents holds the domain types shared by the importer, the
// reconciler and the stores: accounts, tokens, events and the contract of a
// store. Packages below it depend on these types; this package depends on
// nothing of theirs.
package tokenevents

import (
	"errors"
	"fmt"
	"time"
)

// Token types the importer produces. Pre-hashed input may carry any type that
// starts with TokenTypeSHA1Prefix (hashing.NormalizeTokenType checks it).
const (
	TokenTypeEmail      = "sha1:email"
	TokenTypePhone      = "sha1:phone_number"
	TokenTypeSHA1Prefix = "sha1:"
)

// StatusUnknown is the aggregated status of a token with no customer status
// and no live event.
const StatusUnknown = "UNKNOWN"

// ValidAccountID reports whether id is an account id: ^[PT][0-9]{8}$.
// (Checked by hand: a regexp here cost 5% of an import's CPU.)
func ValidAccountID(id string) bool {
	if len(id) != 9 || (id[0] != 'P' && id[0] != 'T') {
		return false
	}
	for i := 1; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// ValidStatus reports whether s is an upper-case status identifier:
// ^[A-Z][A-Z0-9_]*$.
func ValidStatus(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Event is one token event as stored. Its key is (AccountID, TokenType,
// TokenValue, Event, CreatedAt); importing the same key again updates
// Status, ExpiresAt and Metadata when they differ and writes nothing when
// they do not.
type Event struct {
	AccountID  string
	TokenType  string
	TokenValue string // 40 lower-case hex digits for sha1:* types
	Event      string
	Status     string
	CreatedAt  time.Time
	ExpiresAt  NullTime // absent: never expires
	Metadata   []byte   // a JSON object, "{}" when empty
}

// ErrUsage marks an error in the command line or configuration: nothing has
// been written when it is returned.
var ErrUsage = errors.New("usage error")

// UsageErrorf returns an error that wraps ErrUsage.
func UsageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// ErrLocked marks a run that did not start because another run held the
// lock past --lock-timeout; it wrote nothing.
var ErrLocked = errors.New("another run holds the lock")

// WaitForever is the lock timeout of a run that waits as long as it takes.
const WaitForever time.Duration = -1

// ErrTooManyRejects marks a run stopped because more rows were rejected than
// --max-rejects allows.
var ErrTooManyRejects = errors.New("too many rejected rows")
