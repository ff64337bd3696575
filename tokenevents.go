// Package tokenevents holds the domain types shared by the importer, the
// reconciler and the stores: accounts, tokens, events and the contract of a
// store. Packages below it depend on these types; this package depends on
// nothing of theirs.
package tokenevents

import (
	"errors"
	"fmt"
	"regexp"
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

var (
	accountRe = regexp.MustCompile(`^[PT][0-9]{8}$`)
	statusRe  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

// ValidAccountID reports whether id is an account id (P or T and 8 digits).
func ValidAccountID(id string) bool { return accountRe.MatchString(id) }

// ValidStatus reports whether s is an upper-case status identifier.
func ValidStatus(s string) bool { return statusRe.MatchString(s) }

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
	ExpiresAt  time.Time // zero: never expires
	Metadata   []byte    // a JSON object, "{}" when empty
}

// ErrUsage marks an error in the command line or configuration: nothing has
// been written when it is returned.
var ErrUsage = errors.New("usage error")

// UsageErrorf returns an error that wraps ErrUsage.
func UsageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// ErrTooManyRejects marks a run stopped because more rows were rejected than
// --max-rejects allows.
var ErrTooManyRejects = errors.New("too many rejected rows")
