package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/reconcile"
)

func day(d int) time.Time { return time.Date(2024, 3, d, 12, 0, 0, 0, time.UTC) }

// TestStatusRule runs the SPEC's rule through the database for the cases
// that matter, each on its own token.
func TestStatusRule(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db string) {
		e := newEnv(t, db)
		const acct = "P00000001"
		e.importRows([]row{
			// expiry fallback through several expired events
			{acct, "fallback", "e1", "OPT_IN", day(1), time.Time{}},
			{acct, "fallback", "e2", "OPT_OUT", day(2), day(4)},
			{acct, "fallback", "e3", "PAUSED", day(3), day(5)},
			{acct, "fallback", "e4", "OPT_OUT", day(6), day(7)},
			// ties on created_at: the smallest event text wins
			{acct, "tie", "zeta", "OPT_IN", day(2), time.Time{}},
			{acct, "tie", "alpha", "OPT_OUT", day(2), time.Time{}},
			{acct, "tie", "Beta", "PAUSED", day(1), time.Time{}},
			// only future events: UNKNOWN until the first takes effect
			{acct, "future", "later", "OPT_OUT", day(20), time.Time{}},
			// every event expired
			{acct, "expired", "e", "OPT_OUT", day(1), day(2)},
			// customer precedence, deleted customer, customer without status
			{acct, "customer", "e", "OPT_OUT", day(1), time.Time{}},
			{acct, "deleted", "e", "OPT_OUT", day(1), time.Time{}},
			{acct, "nostatus", "e", "OPT_OUT", day(1), time.Time{}},
		})
		e.exec(`INSERT INTO customers (account_id, customer_id, status, deleted_at) VALUES
			('P00000001', 'c1', 'OPT_IN', NULL), ('P00000001', 'c2', 'OPT_IN', '2024-03-08T00:00:00Z'), ('P00000001', 'c3', NULL, NULL)`)
		e.execWrite(`UPDATE tokens SET customer_id = CASE token_value WHEN $1 THEN 'c1' WHEN $2 THEN 'c2' WHEN $3 THEN 'c3' END{stamp}
			WHERE token_value IN ($1, $2, $3)`, sha1hex("customer"), sha1hex("deleted"), sha1hex("nostatus"))

		type want struct {
			status, by, event string
			until             time.Time
		}
		steps := []struct {
			asOf  time.Time
			wants map[string]want
		}{
			{day(3).Add(time.Hour), map[string]want{
				"fallback": {"PAUSED", "event", "e3", day(5)},
				"tie":      {"OPT_OUT", "event", "alpha", time.Time{}},
				"future":   {"UNKNOWN", "none", "", day(20)},
				"expired":  {"UNKNOWN", "none", "", time.Time{}},
				"customer": {"OPT_IN", "customer", "", time.Time{}},
				"deleted":  {"OPT_IN", "customer", "", time.Date(2024, 3, 8, 0, 0, 0, 0, time.UTC)},
				"nostatus": {"OPT_OUT", "event", "e", time.Time{}},
			}},
			{day(5).Add(time.Hour), map[string]want{ // e3 and e2 expired: back to e1
				"fallback": {"OPT_IN", "event", "e1", day(6)},
			}},
			{day(6), map[string]want{ // e4 takes effect exactly at its created_at
				"fallback": {"OPT_OUT", "event", "e4", day(7)},
			}},
			{day(9), map[string]want{ // e4 expired; customer c2 deleted on the 8th
				"fallback": {"OPT_IN", "event", "e1", time.Time{}},
				"deleted":  {"OPT_OUT", "event", "e", time.Time{}},
			}},
			{day(21), map[string]want{
				"future": {"OPT_OUT", "event", "later", time.Time{}},
			}},
		}
		for _, st := range steps {
			for _, full := range []bool{false, true} {
				e.reconcileAt(st.asOf, full, false)
				got := e.statuses()
				for tok, w := range st.wants {
					g := got[acct+"/"+sha1hex(tok)]
					if g.Status != w.status || g.DecidedBy != w.by || g.Event != w.event || !g.ValidUntil.Equal(w.until) {
						t.Errorf("as of %s (full %v), %s: got %s, want %+v", ts(st.asOf), full, tok, g, w)
					}
				}
			}
		}
	})
}

// TestAccountIsolation: reconciling one account never touches another.
func TestAccountIsolation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db string) {
		e := newEnv(t, db)
		e.importRows([]row{
			{"P00000001", "a", "e", "OPT_OUT", day(1), time.Time{}},
			{"P00000002", "a", "e", "OPT_IN", day(1), time.Time{}},
		})
		sum, changes := e.reconcileAt(day(2), false, false, "P00000001")
		if sum.Changed != 1 || len(changes) != 1 || changes[0].AccountID != "P00000001" {
			t.Fatalf("summary %+v, changes %+v", sum, changes)
		}
		if n := len(e.statuses()); n != 1 {
			t.Errorf("%d statuses stored, want only account P00000001's", n)
		}
		sum, _ = e.reconcileAt(day(2), true, false, "P00000002")
		if sum.Changed != 1 || len(e.statuses()) != 2 {
			t.Errorf("second account: %+v", sum)
		}
		// Both accounts by default; nothing changes a second time.
		if sum, changes := e.reconcileAt(day(2), false, false); sum.Accounts != 2 || sum.Changed != 0 || len(changes) != 0 {
			t.Errorf("second run changed %d (%+v)", sum.Changed, changes)
		}
	})
}

func TestDryRunStoresNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db string) {
		e := newEnv(t, db)
		e.importRows([]row{{"P00000001", "a", "e", "OPT_OUT", day(1), time.Time{}}})
		sum, changes := e.reconcileAt(day(2), false, true)
		if sum.Changed != 1 || len(changes) != 0 {
			// the report was written during the run; the changes table is emptied after
			t.Fatalf("dry run: %+v, %d change rows left", sum, len(changes))
		}
		for _, q := range []string{`SELECT count(*) FROM token_statuses`, `SELECT count(*) FROM reconcile_runs`,
			`SELECT count(*) FROM reconcile_watermarks`, `SELECT count(*) FROM reconcile_changes`, `SELECT count(*) FROM reconcile_work`} {
			var n int
			if err := e.db.QueryRow(q).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s = %d (%v) after a dry run", q, n, err)
			}
		}
		// A real run after the dry run still sees the change.
		if sum, _ := e.reconcileAt(day(2), false, false); sum.Changed != 1 {
			t.Errorf("real run after dry run changed %d", sum.Changed)
		}
	})
}

// TestImportDuringReconcileIsNotMissed holds a writer's transaction open
// (as an import's merge of one partition is) while a reconcile starts: the
// reconcile waits for it to end before taking its watermark, so the
// written rows are reconciled by this run, never skipped by the next one.
// The open transaction inserts as another program would, its rows
// stamped by the columns' default (007_write_sequence.sql).
//
// PostgreSQL only: SQLite lets one transaction write at a time, so there a
// reconcile (which writes) cannot run beside an uncommitted import at all.
func TestImportDuringReconcileIsNotMissed(t *testing.T) {
	e := newEnv(t, testdb.New(t))
	e.importRows([]row{{"P00000001", "a", "e", "OPT_OUT", day(1), time.Time{}}})
	e.reconcileAt(day(2), false, false)

	tx, err := e.db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := sha1hex("late")
	if _, err := tx.Exec(`INSERT INTO tokens (account_id, token_type, token_value) VALUES ('P00000001', 'sha1:email', $1)`, v); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, run_id)
		VALUES ('P00000001', 'sha1:email', $1, 'e', $2, 'OPT_IN', 0)`, v, day(1)); err != nil {
		t.Fatal(err)
	}
	type result struct {
		sum     reconcile.Summary
		changes []tokenevents.Change
	}
	done := make(chan result, 1)
	go func() {
		sum, changes := e.reconcileAt(day(2), false, false)
		done <- result{sum, changes}
	}()
	select {
	case r := <-done:
		t.Fatalf("the reconcile ran beside an open writer: %+v", r.sum)
	case <-time.After(500 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.sum.Changed != 1 || len(r.changes) != 1 || r.changes[0].TokenValue != v || r.changes[0].Status != "OPT_IN" {
		t.Fatalf("the late import was missed: %+v %+v", r.sum, r.changes)
	}
	if sum, _ := e.reconcileAt(day(2), false, false); sum.Changed != 0 {
		t.Fatalf("the next run changed more: %+v", sum)
	}
}

// TestOneReconcilePerAccount: a second reconcile of an account waits for
// the first (here another store holding the run open) to finish.
func TestOneReconcilePerAccount(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db string) {
		e := newEnv(t, db)
		e.importRows([]row{{"P00000001", "a", "e", "OPT_OUT", day(1), time.Time{}}})
		ctx := context.Background()
		other := openStore(t, db)
		o := tokenevents.ReconcileOptions{AsOf: day(2)}
		runID, err := other.StartReconcile(ctx, []string{"P00000001"}, o)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.reconcileAt(day(2), false, false, "P00000001")
		}()
		select {
		case <-done:
			t.Fatal("the reconcile ran while another held the account")
		case <-time.After(500 * time.Millisecond):
		}
		if err := other.FinishReconcile(ctx, runID, "done", tokenevents.ReconcileCounts{}, o); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the reconcile did not start after the other finished")
		}
		if len(e.statuses()) != 1 {
			t.Error("the waiting reconcile stored nothing")
		}
	})
}
