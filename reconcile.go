package tokenevents

import (
	"context"
	"fmt"
	"time"
)

// Change is one row of the diff report: a token whose aggregated status
// changed, with what decided it.
type Change struct {
	AccountID      string
	TokenType      string
	TokenValue     string
	TokenID        string
	PreviousStatus string
	Status         string
	DecidedBy      string
	Event          string    // the deciding event; "" when none
	EventCreatedAt time.Time // meaningful when DecidedBy is "event"
	EventExpiresAt NullTime  // absent when none or never expires
	AsOf           time.Time
}

// ReconcileCounts is what a reconcile examined and changed. Transitions
// counts changes per "FROM→TO".
type ReconcileCounts struct {
	Examined    int64            `json:"examined"`
	Changed     int64            `json:"changed"`
	Stored      int64            `json:"stored"`
	Transitions map[string]int64 `json:"transitions"`
}

// Add accumulates o into c.
func (c *ReconcileCounts) Add(o ReconcileCounts) {
	c.Examined += o.Examined
	c.Changed += o.Changed
	c.Stored += o.Stored
	if c.Transitions == nil {
		c.Transitions = map[string]int64{}
	}
	for k, v := range o.Transitions {
		c.Transitions[k] += v
	}
}

// ReconcileOptions shape one reconcile.
type ReconcileOptions struct {
	AsOf    time.Time
	Full    bool // recompute every token, not only changed and due ones
	DryRun  bool // compute and report, store nothing
	Workers int  // key ranges recomputed at once
	// Progress, if set, is told of each account's recompute.
	Progress Progress
}

// TokenRecord is one token with its events and customer, for lookups.
type TokenRecord struct {
	AccountID  string
	TokenType  string
	TokenValue string
	ID         string
	CreatedAt  time.Time
	Customer   *Customer
	Events     []Event
}

// ReconcileStore is what reconcile needs from a database.
type ReconcileStore interface {
	// Accounts lists every account that has tokens.
	Accounts(ctx context.Context) ([]string, error)
	// StartReconcile locks the accounts (waiting for a reconcile of any of
	// them to finish) and returns a run id; a dry run is not recorded.
	StartReconcile(ctx context.Context, accounts []string, o ReconcileOptions) (int64, error)
	// ReconcileAccount recomputes one account's statuses and records the
	// changes under the run.
	ReconcileAccount(ctx context.Context, runID int64, account string, o ReconcileOptions) (ReconcileCounts, error)
	// Report calls fn with the run's changes in key order.
	Report(ctx context.Context, runID int64, fn func(Change) error) error
	// FinishReconcile records the outcome, removes a dry run's traces and
	// releases the locks.
	FinishReconcile(ctx context.Context, runID int64, outcome string, c ReconcileCounts, o ReconcileOptions) error
	// Snapshot calls fn with every token's current status in the diff
	// report's columns (previous_status empty, as_of when it was
	// computed for), in key order; account and status "" mean all.
	Snapshot(ctx context.Context, account, status string, fn func(Change) error) error
	// LookupToken returns a token, or nil when it has never been stored.
	LookupToken(ctx context.Context, account, tokenType, tokenValue string) (*TokenRecord, error)
}

// KeyRange returns range i of n equal ranges of lower-case hex token values
// (n a power of two up to 256): [lo, hi), "" before every value and "~"
// after. Stores split an account's tokens into such ranges so that no
// transaction is giant.
func KeyRange(i, n int) (lo, hi string) {
	bound := func(k int) string {
		switch {
		case k <= 0:
			return ""
		case k >= n:
			return "~" // after every hex digit
		case n <= 16:
			return fmt.Sprintf("%x", k*16/n)
		}
		return fmt.Sprintf("%02x", k*256/n)
	}
	return bound(i), bound(i + 1)
}

// PreferFull reports whether an incremental reconcile that found
// candidates tokens to recompute should take the full plan instead: when
// they are most of the account (tokensUpTo counts the account's tokens up
// to 2*candidates+1, which is all it needs to know), reading every token
// in order costs less than visiting most of them one by one, and the full
// plan gives the same statuses.
func PreferFull(candidates, tokensUpTo int64) bool {
	return candidates > 0 && candidates*2 > tokensUpTo
}

// PreferFullProbe is how many of an account's tokens PreferFull needs
// counted for candidates.
func PreferFullProbe(candidates int64) int64 { return 2*candidates + 1 }

// HexNibble is the value of a lower-case hex digit (0 for anything else).
func HexNibble(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0
}

// RangesFor returns how many key ranges (a power of two, at most
// maxRanges) split tokens into ranges of about perRange.
func RangesFor(tokens, perRange int64, maxRanges int) int {
	n := 1
	for n < maxRanges && int64(n)*perRange < tokens {
		n *= 2
	}
	return n
}
