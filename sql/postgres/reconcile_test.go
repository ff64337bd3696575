package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
)

func TestWorthAnalyzing(t *testing.T) {
	tests := []struct {
		changed int64
		counted float64
		want    bool
	}{
		{analyzeMinChanges - 1, -1, false}, // too few to matter, even with no statistics
		{analyzeMinChanges, -1, true},      // never analysed
		{analyzeMinChanges, 0, true},
		{analyzeMinChanges, 10 * analyzeMinChanges, true}, // a tenth
		{analyzeMinChanges, 10*analyzeMinChanges + 10, false},
		{1_000_000, 5_000_000, true},
		{100_000, 5_000_000, false}, // an incremental run's 2 %
	}
	for _, tc := range tests {
		if got := worthAnalyzing(tc.changed, tc.counted); got != tc.want {
			t.Errorf("worthAnalyzing(%d changes, %.0f counted) = %v, want %v", tc.changed, tc.counted, got, tc.want)
		}
	}
}

// TestChangesAnalysedAfterLargeRuns: a run that adds many changes to
// reconcile_changes refreshes its statistics, so that the report's query
// is planned for them; a run that adds few leaves them be.
func TestChangesAnalysedAfterLargeRuns(t *testing.T) {
	dsn := testdb.New(t)
	d := openStore(t, dsn, Options{})
	db := testdb.Open(t, dsn)
	asOf := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	next := 0
	addTokens := func(n int) {
		t.Helper()
		testdb.Must(t, execErr(db.Exec(`INSERT INTO tokens (account_id, token_type, token_value)
			SELECT 'P00000001', 'sha1:email', lpad(to_hex(i), 40, '0') FROM generate_series($1::int, $2::int) i`, next+1, next+n)), "tokens")
		testdb.Must(t, execErr(db.Exec(`INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, run_id)
			SELECT 'P00000001', 'sha1:email', lpad(to_hex(i), 40, '0'), 'e', '2024-01-01', 'OPT_OUT', 1
			FROM generate_series($1::int, $2::int) i`, next+1, next+n)), "events")
		testdb.Must(t, execErr(db.Exec(`ANALYZE tokens, token_events`)), "analyze") // as an import does
		next += n
	}
	analysed := func() bool {
		return testdb.Count(t, db, `SELECT count(*) FROM pg_statistic WHERE starelid = 'reconcile_changes'::regclass`) > 0
	}
	tests := []struct {
		name      string
		newTokens int
		full      bool
		want      bool
	}{
		{"first run, every token changes", analyzeMinChanges + 100, true, true},
		{"a few more tokens", 300, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Must(t, execErr(db.Exec(`DELETE FROM pg_statistic WHERE starelid = 'reconcile_changes'::regclass`)), "forget")
			addTokens(tc.newTokens)
			c := reconcileAccount(t, d, "P00000001", tokenevents.ReconcileOptions{AsOf: asOf, Full: tc.full, Workers: 2})
			if c.Changed != int64(tc.newTokens) {
				t.Fatalf("changed %d tokens, want %d", c.Changed, tc.newTokens)
			}
			if got := analysed(); got != tc.want {
				t.Errorf("after %d changes: analysed %v, want %v", c.Changed, got, tc.want)
			}
		})
	}
}

// reconcileAccount runs one reconcile of one account to its end.
func reconcileAccount(t *testing.T, d *DB, account string, o tokenevents.ReconcileOptions) tokenevents.ReconcileCounts {
	t.Helper()
	ctx := context.Background()
	runID, err := d.StartReconcile(ctx, []string{account}, o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.ReconcileAccount(ctx, runID, account, o)
	if err != nil {
		t.Fatal(err)
	}
	testdb.Must(t, d.FinishReconcile(ctx, runID, "done", c, o), "finish reconcile")
	return c
}
