package tokenevents

import (
	"sort"
	"time"
)

// Who decided an aggregated status.
const (
	DecidedByCustomer = "customer"
	DecidedByEvent    = "event"
	DecidedByNone     = "none"
)

// Customer is a customer's state as the status rule sees it, with what a
// lookup shows of it.
type Customer struct {
	ID        string
	Status    string    // "" when not set
	DeletedAt time.Time // zero when not deleted
	Metadata  []byte    // a JSON object; nil when not read
	CreatedAt time.Time // when the row was created here; zero: not known
	UpdatedAt time.Time // when its data was true (updated_at); zero: not known
}

// Decision is a token's aggregated status as of an instant.
type Decision struct {
	Status     string
	DecidedBy  string
	Event      *Event    // the deciding event, when DecidedBy is "event"
	ValidUntil time.Time // when the status may change on its own; zero: never
}

// Decide applies the status rule of SPEC §2 as of t: the linked customer's
// status if set and the customer is not deleted at t; else the status of the
// newest event with created_at <= t that has not expired at t (ties: the
// smallest event text in byte order); else UNKNOWN. It is the reference
// implementation the database's set-based version is tested against.
func Decide(customer *Customer, events []Event, t time.Time) Decision {
	if customer != nil && customer.Status != "" && (customer.DeletedAt.IsZero() || customer.DeletedAt.After(t)) {
		d := Decision{Status: customer.Status, DecidedBy: DecidedByCustomer}
		if !customer.DeletedAt.IsZero() {
			d.ValidUntil = customer.DeletedAt
		}
		return d
	}
	var best *Event
	var next time.Time // the earliest event not yet effective
	for i := range events {
		e := &events[i]
		if e.CreatedAt.After(t) {
			if next.IsZero() || e.CreatedAt.Before(next) {
				next = e.CreatedAt
			}
			continue
		}
		if e.ExpiresAt.Valid && !e.ExpiresAt.Time.After(t) {
			continue
		}
		if best == nil || e.CreatedAt.After(best.CreatedAt) || e.CreatedAt.Equal(best.CreatedAt) && e.Event < best.Event {
			best = e
		}
	}
	d := Decision{Status: StatusUnknown, DecidedBy: DecidedByNone, ValidUntil: next}
	if best != nil {
		d.Status, d.DecidedBy, d.Event = best.Status, DecidedByEvent, best
		if best.ExpiresAt.Valid && (d.ValidUntil.IsZero() || best.ExpiresAt.Time.Before(d.ValidUntil)) {
			d.ValidUntil = best.ExpiresAt.Time
		}
	}
	return d
}

// SortEvents orders events newest first, ties by event text, as lookups
// show them.
func SortEvents(events []Event) {
	sort.SliceStable(events, func(i, j int) bool {
		if !events[i].CreatedAt.Equal(events[j].CreatedAt) {
			return events[i].CreatedAt.After(events[j].CreatedAt)
		}
		return events[i].Event < events[j].Event
	})
}
