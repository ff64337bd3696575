package tokenevents

import (
	"errors"
	"time"
	"unicode/utf8"
)

// Field limits (SPEC §10), the same for every store. The importer rejects a
// row past one of them, naming the column and the limit, before the row
// reaches a store: a value one store would refuse (an index entry too large,
// a NUL byte) is a reject, never a failed merge.
const (
	MaxEventBytes         = 1024
	MaxStatusBytes        = 64
	MaxCustomerIDBytes    = 128
	MaxTokenTypeBytes     = 64 // "sha1:" and a name: a pre-hashed type is part of every key
	MaxMetadataValueBytes = 4096
	MaxMetadataBytes      = 64 << 10
	// DefaultMaxRecordBytes is --max-record-bytes: all the fields of one
	// input record together.
	DefaultMaxRecordBytes = 1 << 20
)

// The range of instants every store keeps exactly, to the microsecond.
var (
	MinTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// ErrTimeRange is returned for an instant outside [MinTime, MaxTime].
var ErrTimeRange = errors.New("outside 0001-01-01T00:00:00Z … 9999-12-31T23:59:59.999999Z")

// StorableTime is the one timestamp rule of every store: t in UTC, rounded
// to the nearest microsecond (a half rounds up, to the later instant), and
// within [MinTime, MaxTime] after rounding. Stores receive only instants
// that passed it, so none of them rounds or truncates on its own.
func StorableTime(t time.Time) (time.Time, error) {
	// Round works on the duration since Go's zero time (year 1), which is
	// never negative in range: halves go to the later microsecond.
	r := t.Round(time.Microsecond).UTC()
	if r.Before(MinTime) || r.After(MaxTime) {
		return time.Time{}, ErrTimeRange
	}
	return r, nil
}

// NullTime is an instant that may be absent (an event that never expires).
// Absence cannot be the zero time.Time: 0001-01-01T00:00:00Z is Go's zero
// value and also a valid instant that must be stored as such.
type NullTime struct {
	Time  time.Time
	Valid bool
}

// At returns a present NullTime.
func At(t time.Time) NullTime { return NullTime{Time: t, Valid: true} }

// TextProblem reports why s cannot be stored as text, or "" when it can:
// it must be valid UTF-8 without NUL or other C0 control characters; tabs
// are allowed where allowTab (free text: event, metadata values).
func TextProblem(s string, allowTab bool) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			ascii = false
		case c >= 0x20, c == '\t' && allowTab:
		case c == 0:
			return "contains a NUL byte"
		default:
			return "contains a control character"
		}
	}
	if !ascii && !utf8.ValidString(s) {
		return "not valid UTF-8 (check --encoding)"
	}
	return ""
}
