package reconcile_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
)

// model is the plain in-memory truth: every event ever imported (last
// write wins per key) and the customers.
type model struct {
	events    map[string]tokenevents.Event // by key
	customers map[string]*tokenevents.Customer
	linked    map[string]string // account/token value → customer id
}

func key(e tokenevents.Event) string {
	return e.AccountID + "|" + e.TokenValue + "|" + e.Event + "|" + e.CreatedAt.Format(time.RFC3339Nano)
}

func (m *model) decide(account, value string, t time.Time) tokenevents.Decision {
	var evs []tokenevents.Event
	for _, e := range m.events {
		if e.AccountID == account && e.TokenValue == value {
			evs = append(evs, e)
		}
	}
	var c *tokenevents.Customer
	if id, ok := m.linked[account+"/"+value]; ok {
		c = m.customers[account+"/"+id]
	}
	return tokenevents.Decide(c, evs, t)
}

func (m *model) tokens() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range m.events {
		k := e.AccountID + "/" + e.TokenValue
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestIncrementalEqualsFullEqualsModel drives two databases through the
// same random history of imports, customer changes and --as-of instants:
// one reconciled incrementally, one with --full. After every step both must
// hold, for every token, exactly what the in-memory rule says, and both
// must report the same changes.
func TestIncrementalEqualsFullEqualsModel(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db string) {
		seeds := []uint64{1, 2, 3}
		if testing.Short() {
			seeds = seeds[:1]
		}
		for _, seed := range seeds {
			t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 99))
				inc, full := newEnv(t, db2(t, db)), newEnv(t, db2(t, db))
				m := &model{events: map[string]tokenevents.Event{}, customers: map[string]*tokenevents.Customer{}, linked: map[string]string{}}
				base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
				at := func() time.Time { return base.Add(time.Duration(r.IntN(40)) * 24 * time.Hour) }
				accounts := []string{"P00000001", "T00000002"}
				statuses := []string{"OPT_OUT", "OPT_IN", "PAUSED"}
				eventNames := []string{"a", "b", "till"}
				asOf := base.Add(5 * 24 * time.Hour)
				for step := 0; step < 12; step++ {
					// An import of a few random events, some repeating keys.
					var rows []row
					for i := 0; i < 3+r.IntN(25); i++ {
						rw := row{account: accounts[r.IntN(2)], token: fmt.Sprintf("u%d", r.IntN(15)),
							event: eventNames[r.IntN(3)], status: statuses[r.IntN(3)], created: at()}
						if r.IntN(3) == 0 {
							rw.expires = rw.created.Add(time.Duration(1+r.IntN(10)) * 24 * time.Hour)
						}
						rows = append(rows, rw)
						e := tokenevents.Event{AccountID: rw.account, TokenValue: sha1hex(rw.token), Event: rw.event,
							Status: rw.status, CreatedAt: rw.created, ExpiresAt: tokenevents.NullTime{Time: rw.expires, Valid: !rw.expires.IsZero()}}
						m.events[key(e)] = e
					}
					inc.importRows(rows)
					full.importRows(rows)

					// Now and then a customer changes or a token is linked.
					if r.IntN(3) == 0 {
						a := accounts[r.IntN(2)]
						id := fmt.Sprintf("c%d", r.IntN(3))
						c := &tokenevents.Customer{ID: id, Status: []string{"", "OPT_IN", "OPT_OUT"}[r.IntN(3)]}
						if r.IntN(4) == 0 {
							c.DeletedAt = at()
						}
						m.customers[a+"/"+id] = c
						for _, e := range []*env{inc, full} {
							e.execWrite(`INSERT INTO customers (account_id, customer_id, status, deleted_at) VALUES ($1, $2, nullif($3, ''), $4)
								ON CONFLICT (account_id, customer_id) DO UPDATE SET status = EXCLUDED.status, deleted_at = EXCLUDED.deleted_at{stamp}`,
								a, id, c.Status, nullTime(c.DeletedAt))
						}
						tok := sha1hex(fmt.Sprintf("u%d", r.IntN(15)))
						m.linked[a+"/"+tok] = id
						for _, e := range []*env{inc, full} {
							e.execWrite(`UPDATE tokens SET customer_id = $3{stamp} WHERE account_id = $1 AND token_value = $2`, a, tok, id)
						}
						if !m.tokenExists(a, tok) {
							delete(m.linked, a+"/"+tok)
						}
					}

					// Time moves on, mostly forwards.
					switch r.IntN(5) {
					case 0:
						asOf = asOf.Add(-time.Duration(r.IntN(5)) * 24 * time.Hour)
					default:
						asOf = asOf.Add(time.Duration(r.IntN(6)) * 24 * time.Hour)
					}
					_, incChanges := inc.reconcileAt(asOf, false, false)
					_, fullChanges := full.reconcileAt(asOf, true, false)
					if a, b := changeKeys(incChanges), changeKeys(fullChanges); a != b {
						t.Fatalf("step %d: reports differ\nincremental:\n%s\nfull:\n%s", step, a, b)
					}
					gotInc, gotFull := inc.statuses(), full.statuses()
					for _, k := range m.tokens() {
						var account, value string
						fmt.Sscanf(k, "%9s/%40s", &account, &value)
						d := m.decide(account, value, asOf)
						want := statusRow{Account: account, Type: "sha1:email", Value: value, Status: d.Status, DecidedBy: d.DecidedBy,
							ValidUntil: d.ValidUntil}
						if d.Event != nil {
							want.Event, want.EventCreated, want.EventExpires = d.Event.Event, d.Event.CreatedAt, d.Event.ExpiresAt.Time
						}
						for name, got := range map[string]map[string]statusRow{"incremental": gotInc, "full": gotFull} {
							if g := got[account+"/"+value]; g.String() != want.String() {
								t.Fatalf("step %d as of %s, %s: got %s\nwant %s", step, ts(asOf), name, g, want)
							}
						}
					}
				}
			})
		}
	})
}

func (m *model) tokenExists(account, value string) bool {
	for _, e := range m.events {
		if e.AccountID == account && e.TokenValue == value {
			return true
		}
	}
	return false
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func changeKeys(cs []tokenevents.Change) string {
	s := ""
	for _, c := range cs {
		s += fmt.Sprintf("%s/%s %s→%s by %s %s\n", c.AccountID, c.TokenValue[:8], c.PreviousStatus, c.Status, c.DecidedBy, c.Event)
	}
	return s
}
