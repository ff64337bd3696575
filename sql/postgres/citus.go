package postgres

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/tokenevents/tokenevents"
)

// The Citus side of the store (SPEC §9). A database with the citus
// extension gets the same schema, spread over the workers by
// citus/distribute.sql; everything the two share runs the same SQL, and
// only the merge and the reconcile, whose single-server statements
// combine several writes in data-modifying CTEs (which Citus would run
// through the coordinator), are split into statements that each run as
// one task per shard (queries/citus_*.sql).

//go:embed citus/distribute.sql
var distributeSQL string

// detectCitus reports whether the database has the citus extension.
func detectCitus(ctx context.Context, conn *sqlx.Conn) (bool, error) {
	var has bool
	err := conn.GetContext(ctx, &has, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`)
	return has, err
}

// distribute spreads the tables over the cluster once: on a new database,
// or on a single-server database restored onto a coordinator (its rows
// move to the workers). Called by migrate, under the migration lock.
func (d *DB) distribute(ctx context.Context, conn *sqlx.Conn, noMigrate bool) error {
	var done bool
	if err := conn.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'tokens'::regclass)`); err != nil {
		return fmt.Errorf("citus: %w", err)
	}
	if !done && noMigrate {
		return fmt.Errorf("%w: the tables are not distributed over the Citus cluster yet (run once without --no-migrate)", tokenevents.ErrUsage)
	}
	if !done {
		if err := d.distributeOnce(ctx, conn); err != nil {
			return err
		}
	}
	// From the shard metadata: the citus_tables view also sizes every
	// table, a third of a second each run.
	if err := conn.GetContext(ctx, &d.shards, `SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'tokens'::regclass`); err != nil {
		return fmt.Errorf("citus: %w", err)
	}
	return nil
}

func (d *DB) distributeOnce(ctx context.Context, conn *sqlx.Conn) error {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("citus: %w", err)
	}
	if _, err := tx.ExecContext(ctx, distributeSQL); err != nil {
		return fmt.Errorf("citus: distribute tables: %w", joinRollback(err, tx))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("citus: distribute tables: %w", err)
	}
	d.log.Info("distributed the tables over the Citus cluster")
	return nil
}

func joinRollback(err error, tx *sqlx.Tx) error {
	if rerr := ignoreDone(tx.Rollback()); rerr != nil {
		return fmt.Errorf("%w (rollback: %v)", err, rerr)
	}
	return err
}

// rowsOf runs a statement and returns its row count.
func rowsOf(ctx context.Context, tx *sqlx.Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// errReplan: a Citus merge wrote other counts than its plan found, which
// only another writer between the two can cause; the partition is merged
// again.
var errReplan = errors.New("the stored events changed during the merge")

// citusStaged is what the ledger says a staged partition holds.
type citusStaged struct {
	Events    int64 `db:"staged_events"`
	Links     int64 `db:"staged_links"`
	Customers int64 `db:"staged_customers"`
}

// mergeCitus merges one staged partition on Citus, in the merge's
// transaction, with the statements of queries/citus_merge_*.sql,
// citus_links_*.sql and citus_customers_*.sql, and counts as the
// single-server merge does.
func mergeCitus(ctx context.Context, tx *sqlx.Tx, partition int, sourceID, runID, seq int64) (r mergeFigures, lk linkCounts, cu customerCounts, err error) {
	var st citusStaged
	err = tx.GetContext(ctx, &st, `SELECT staged_events, staged_links, staged_customers FROM tokenevents_internal.import_ledger
		WHERE source_id = $1 AND partition = $2`, sourceID, partition)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return r, lk, cu, fmt.Errorf("ledger: %w", err)
	}
	if r, lk, err = mergeCitusEventsAndLinks(ctx, tx, partition, sourceID, runID, seq, st); err != nil {
		return r, lk, cu, err
	}
	if st.Customers > 0 {
		if err := tx.GetContext(ctx, &cu, query("citus_customers_count"), partition, sourceID); err != nil {
			return r, lk, cu, fmt.Errorf("citus_customers_count: %w", err)
		}
		cu.Staged = st.Customers
		if _, err := tx.ExecContext(ctx, query("citus_customers_upsert"), partition, sourceID, seq); err != nil {
			return r, lk, cu, fmt.Errorf("citus_customers_upsert: %w", err)
		}
	}
	// The staged events and links stay until the file is done (see
	// finishMerge); the customers, a table of the coordinator alone, are
	// emptied as on a single server.
	if st.Customers > 0 { // the name is built from our partition number
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`TRUNCATE tokenevents_internal.import_stage_customers_p%02d`, partition)); err != nil {
			return r, lk, cu, err
		}
	}
	return r, lk, cu, nil
}

// mergeCitusEventsAndLinks merges a partition's staged events and links:
// one read plans the events' merge (citus_merge_plan.sql), and only the
// writes it calls for run.
func mergeCitusEventsAndLinks(ctx context.Context, tx *sqlx.Tx, partition int, sourceID, runID, seq int64, st citusStaged) (r mergeFigures, lk linkCounts, err error) {
	if st.Events > 0 {
		if err := tx.GetContext(ctx, &r, query("citus_merge_plan"), partition, sourceID); err != nil {
			return r, lk, fmt.Errorf("citus_merge_plan: %w", err)
		}
	}
	if st.Links > 0 {
		if err := tx.GetContext(ctx, &lk.Distinct, query("citus_links_distinct"), partition, sourceID); err != nil {
			return r, lk, fmt.Errorf("citus_links_distinct: %w", err)
		}
	}
	r.Staged, lk.Staged = st.Events, st.Links
	// No new event, no new token (every stored event has its token); no
	// changed event, no update; all of them new, no probe for stored ones.
	var changed, inserted int64
	for _, s := range []struct {
		n    *int64
		q    string
		args []any
		run  bool
	}{
		{&r.NewTokens, "citus_merge_tokens", []any{partition, sourceID, seq}, r.Inserted > 0},
		{&changed, "citus_merge_changed", []any{partition, sourceID, runID, seq}, r.Changed > 0},
		{&inserted, "citus_merge_new", []any{partition, sourceID, runID, seq, r.Inserted == r.Distinct}, r.Inserted > 0},
		{&lk.Moved, "citus_links_update", []any{partition, sourceID, seq, false}, st.Links > 0},
		{&lk.Linked, "citus_links_update", []any{partition, sourceID, seq, true}, st.Links > 0},
		{&lk.NewTokens, "citus_links_new", []any{partition, sourceID, seq}, st.Links > 0},
	} {
		if !s.run {
			continue
		}
		n, err := rowsOf(ctx, tx, query(s.q), s.args...)
		if err != nil {
			return r, lk, fmt.Errorf("%s: %w", s.q, err)
		}
		*s.n = n
	}
	if changed != r.Changed || inserted != r.Inserted {
		// Only one import runs at a time; another writer changed these
		// keys between the plan and the writes. Merge the partition again.
		return r, lk, errReplan
	}
	return r, lk, nil
}

// reconcileRangeCitus recomputes one key range of an account on Citus, in
// one transaction: decide into reconcile_decided, record the changes,
// store the statuses (not in a dry run), count, and clear.
func reconcileRangeCitus(ctx context.Context, tx *sqlx.Tx, runID int64, account, lo, hi string, o tokenevents.ReconcileOptions, full bool) (tokenevents.ReconcileCounts, error) {
	c := tokenevents.ReconcileCounts{Transitions: map[string]int64{}}
	args := []any{runID, account, lo, hi, o.AsOf}
	decide := pick(full, "citus_reconcile_decide_full", "citus_reconcile_decide_work")
	if _, err := tx.ExecContext(ctx, query(decide), args...); err != nil {
		return c, fmt.Errorf("%s: %w", decide, err)
	}
	if _, err := tx.ExecContext(ctx, query("citus_reconcile_changes"), args...); err != nil {
		return c, fmt.Errorf("citus_reconcile_changes: %w", err)
	}
	if !o.DryRun {
		n, err := rowsOf(ctx, tx, query("citus_reconcile_store"), args...)
		if err != nil {
			return c, fmt.Errorf("citus_reconcile_store: %w", err)
		}
		c.Stored = n
	}
	var counts []struct {
		From string `db:"previous_status"`
		To   string `db:"status"`
		N    int64  `db:"n"`
	}
	if err := tx.SelectContext(ctx, &counts, query("citus_reconcile_counts"), runID, account, lo, hi); err != nil {
		return c, fmt.Errorf("citus_reconcile_counts: %w", err)
	}
	for _, t := range counts {
		c.Examined += t.N
		if t.From != t.To {
			c.Transitions[t.From+"→"+t.To] += t.N
			c.Changed += t.N
		}
	}
	if _, err := tx.ExecContext(ctx, query("citus_reconcile_clear"), runID, account, lo, hi); err != nil {
		return c, fmt.Errorf("citus_reconcile_clear: %w", err)
	}
	return c, nil
}
