package postgres

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
)

// citusStore opens a store on a new database of the test cluster (skipped
// without one, outside CI) and stages n events of distinct tokens in
// partition 0, as the first batch of a source.
func citusStore(t *testing.T, n int) (d *DB, dsn string, runID, sourceID int64) {
	t.Helper()
	dsn = testdb.NewCitus(t)
	d = openStore(t, dsn, Options{})
	if !d.citus {
		t.Fatal("the store did not notice the citus extension")
	}
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	var events []tokenevents.StagedEvent
	for i := range n {
		sum := sha1.Sum([]byte(fmt.Sprint("user", i)))
		events = append(events, tokenevents.StagedEvent{Event: tokenevents.Event{AccountID: "P00000001", TokenType: "sha1:email",
			TokenValue: hex.EncodeToString(sum[:]), Event: "e", Status: "OPT_OUT", CreatedAt: at, Metadata: []byte(`{}`)},
			TokenID: [16]byte{byte(i), byte(i >> 8), 1}})
	}
	runID, sourceID = stageSource(t, d, "k", 0, events)
	return d, dsn, runID, sourceID
}

// TestCitusStatementsRunPerShard prints Citus's EXPLAIN of every statement
// of the merge and of the reconcile and requires each to run on the
// workers as one task per shard: no step that brings staged or stored rows
// to the coordinator (a "Distributed Subplan", an INSERT … SELECT "pull to
// coordinator", a repartition). The customers' statements are the one
// exception, by design: customers is a reference table, and its staged
// rows are a table of the coordinator (citus/distribute.sql).
// go test -v -run TestCitusStatementsRunPerShard ./sql/postgres prints
// the plans.
func TestCitusStatementsRunPerShard(t *testing.T) {
	d, dsn, runID, sourceID := citusStore(t, 200)
	db := testdb.Open(t, dsn)
	shards := testdb.Count(t, db, `SELECT shard_count FROM citus_tables WHERE table_name = 'tokens'::regclass`)
	asOf := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	const seq = 1
	for _, c := range []struct {
		name    string
		args    []any
		without string // a plan node the statement must not have
	}{
		{"citus_merge_plan", []any{0, sourceID}, ""},
		{"citus_merge_tokens", []any{0, sourceID, seq}, ""},
		{"citus_merge_changed", []any{0, sourceID, runID, seq}, ""},
		{"citus_merge_new", []any{0, sourceID, runID, seq, false}, ""},
		{"citus_merge_new", []any{0, sourceID, runID, seq, true}, "Anti Join"}, // a first import probes nothing
		{"citus_links_distinct", []any{0, sourceID}, ""},
		{"citus_links_update", []any{0, sourceID, seq, true}, ""},
		{"citus_links_new", []any{0, sourceID, seq}, ""},
		{"reconcile_candidates", []any{runID, "P00000001", 0, asOf}, ""},
		{"citus_reconcile_decide_full", []any{runID, "P00000001", "", "~", asOf}, ""},
		{"citus_reconcile_decide_work", []any{runID, "P00000001", "", "~", asOf}, ""},
		{"citus_reconcile_changes", []any{runID, "P00000001", "", "~", asOf}, ""},
		{"citus_reconcile_store", []any{runID, "P00000001", "", "~", asOf}, ""},
		{"citus_reconcile_counts", []any{runID, "P00000001", "", "~"}, ""},
		{"citus_reconcile_clear", []any{runID, "P00000001", "", "~"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan := explain(t, d, query(c.name), c.args...)
			t.Logf("EXPLAIN %s:\n%s", c.name, plan)
			if !strings.Contains(plan, fmt.Sprintf("Task Count: %d\n", shards)) {
				t.Errorf("%s does not run as one task per shard (%d)", c.name, shards)
			}
			if c.without != "" && strings.Contains(plan, c.without) {
				t.Errorf("%s: %q in its plan", c.name, c.without)
			}
			for _, through := range []string{"Distributed Subplan", "pull to coordinator", "repartition", "Repartition"} {
				if strings.Contains(plan, through) {
					t.Errorf("%s goes through the coordinator: %q in its plan", c.name, through)
				}
			}
		})
	}
}

// explain returns the EXPLAIN of q with args, costs left out.
func explain(t *testing.T, d *DB, q string, args ...any) string {
	t.Helper()
	rows, err := d.db.QueryContext(context.Background(), "EXPLAIN (COSTS OFF) "+q, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestCitusSpreadsTokenTables merges and reconciles a few hundred tokens
// on the cluster and requires rows of every token table on every worker,
// and none on the coordinator, counted shard by shard.
func TestCitusSpreadsTokenTables(t *testing.T) {
	d, dsn, runID, sourceID := citusStore(t, 300)
	ctx := context.Background()
	if _, err := d.MergePartition(ctx, runID, sourceID, 0); err != nil {
		t.Fatal(err)
	}
	c := reconcileAccount(t, d, "P00000001",
		tokenevents.ReconcileOptions{AsOf: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC), Full: true, Workers: 2})
	if c.Examined != 300 || c.Changed != 300 {
		t.Fatalf("reconcile examined %d and changed %d of 300 tokens", c.Examined, c.Changed)
	}
	db := testdb.Open(t, dsn)
	workers := testdb.WorkerDSNs(t, dsn)
	for _, table := range []string{"tokens", "token_events", "token_statuses"} {
		rows, err := db.Query(`SELECT p.nodename || ':' || p.nodeport, sum(r.result::bigint)
			FROM run_command_on_shards($1, 'SELECT count(*) FROM %s') r
			JOIN pg_dist_shard_placement p USING (shardid)
			GROUP BY 1 ORDER BY 1`, table)
		if err != nil {
			t.Fatal(err)
		}
		perNode := map[string]int64{}
		var total int64
		for rows.Next() {
			var node string
			var n int64
			if err := rows.Scan(&node, &n); err != nil {
				t.Fatal(err)
			}
			perNode[node], total = n, total+n
		}
		rows.Close()
		t.Logf("%s: %v", table, perNode)
		if total != 300 || len(perNode) != len(workers) {
			t.Errorf("%s: %d rows on %d nodes, want 300 on the %d workers: %v", table, total, len(perNode), len(workers), perNode)
		}
		for _, w := range workers {
			host := w[strings.Index(w, "@")+1:]
			host = host[:strings.Index(host, "/")]
			if perNode[host] == 0 {
				t.Errorf("%s: no rows on worker %s: %v", table, host, perNode)
			}
		}
	}
}
