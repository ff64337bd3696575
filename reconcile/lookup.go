package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tokenevents/tokenevents"
)

// LookupResponse is one token as the seed API's "Find / Add token events"
// answers: the token's id, its customer when linked, the token, the
// aggregated status and the events.
type LookupResponse struct {
	ID       string          `json:"id"`
	Customer *LookupCustomer `json:"customer,omitempty"`
	Token    *LookupToken    `json:"token,omitempty"`
	Status   string          `json:"status"`
	Events   []LookupEvent   `json:"events"`
}

// LookupCustomer is the part of the seed's customer object this store
// holds (no names or contact details: they are never stored).
type LookupCustomer struct {
	Type       string          `json:"type"`
	CustomerID string          `json:"customer_id"`
	Status     string          `json:"status,omitempty"`
	Metadata   json.RawMessage `json:"metadata"`
	CreatedAt  *time.Time      `json:"created_at,omitempty"`
	UpdatedAt  *time.Time      `json:"updated_at,omitempty"`
	DeletedAt  *time.Time      `json:"deleted_at,omitempty"`
}

// LookupToken is the seed's token object.
type LookupToken struct {
	Type      string    `json:"type"`
	Value     string    `json:"value"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// LookupEvent is the seed's event object.
type LookupEvent struct {
	Event     string          `json:"event"`
	ExpiresAt *time.Time      `json:"expires_at,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	Status    string          `json:"status"`
	Metadata  json.RawMessage `json:"metadata"`
}

// Lookup finds one token and computes its status as of asOf. A token never
// stored gets a random id and UNKNOWN, as the API answers.
func Lookup(ctx context.Context, store tokenevents.ReconcileStore, account, tokenType, tokenValue string, asOf time.Time) (LookupResponse, error) {
	rec, err := store.LookupToken(ctx, account, tokenType, tokenValue)
	if err != nil {
		return LookupResponse{}, err
	}
	if rec == nil {
		return LookupResponse{ID: randomUUID(), Status: tokenevents.StatusUnknown, Events: []LookupEvent{}}, nil
	}
	r := LookupResponse{ID: rec.ID, Events: []LookupEvent{},
		Token: &LookupToken{Type: rec.TokenType, Value: rec.TokenValue, ID: rec.ID, CreatedAt: rec.CreatedAt.UTC()}}
	if c := rec.Customer; c != nil {
		r.Customer = &LookupCustomer{Type: "customer", CustomerID: c.ID, Status: c.Status, Metadata: json.RawMessage(c.Metadata),
			CreatedAt: optionalTime(known(c.CreatedAt)), UpdatedAt: optionalTime(known(c.UpdatedAt)), DeletedAt: optionalTime(known(c.DeletedAt))}
		if len(c.Metadata) == 0 {
			r.Customer.Metadata = json.RawMessage(`{}`)
		}
	}
	r.Status = tokenevents.Decide(rec.Customer, rec.Events, asOf).Status
	tokenevents.SortEvents(rec.Events)
	for _, e := range rec.Events {
		le := LookupEvent{Event: e.Event, CreatedAt: e.CreatedAt.UTC(), Status: e.Status, Metadata: json.RawMessage(e.Metadata)}
		if e.ExpiresAt.Valid {
			x := e.ExpiresAt.Time.UTC()
			le.ExpiresAt = &x
		}
		r.Events = append(r.Events, le)
	}
	return r, nil
}

// known is t, absent when it is the zero time (a customer's times that
// are not set).
func known(t time.Time) tokenevents.NullTime {
	return tokenevents.NullTime{Time: t, Valid: !t.IsZero()}
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
