package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tokenevents/tokenevents"
)

// MergePartition upserts one staged partition in one transaction, then
// empties it and marks it merged.
func (d *DB) MergePartition(ctx context.Context, runID, sourceID int64, partition int) (tokenevents.MergeCounts, error) {
	c, err := retryValue(ctx, d, "merge", func() (tokenevents.MergeCounts, error) {
		return d.mergeOnce(ctx, runID, sourceID, partition, "merge_partition")
	})
	if uniqueViolation(err) || errors.Is(err, errReplan) {
		// Another writer inserted one of these keys meanwhile: merge with
		// upserts instead, which tolerate that (on Citus: merge again).
		d.log.Warn("events were written by someone else during the merge; merging the partition again with upserts", "partition", partition)
		c, err = retryValue(ctx, d, "merge", func() (tokenevents.MergeCounts, error) {
			return d.mergeOnce(ctx, runID, sourceID, partition, "merge_partition_upsert")
		})
	}
	if err != nil {
		return c, fmt.Errorf("merge partition %d: %w", partition, err)
	}
	return c, nil
}

func (d *DB) mergeOnce(ctx context.Context, runID, sourceID int64, partition int, merge string) (tokenevents.MergeCounts, error) {
	var r mergeFigures
	var lk linkCounts
	var cu customerCounts
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		// The merge sorts one partition: give the sort memory rather than
		// disk. No JIT: its compiling (with inlining, as the merge's cost
		// estimate passes jit_inline_above_cost) took 0.9 s of a 1.4 s merge
		// of 139 k unchanged events, and won nothing back.
		if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'; SET LOCAL jit = off`); err != nil {
			return err
		}
		seq, err := writeSeq(ctx, tx)
		if err != nil {
			return err
		}
		if d.citus {
			if r, lk, cu, err = mergeCitus(ctx, tx, partition, sourceID, runID, seq); err != nil {
				return err
			}
			if lk.Staged > 0 {
				d.linksStaged.Store(true)
			}
			return d.finishMerge(ctx, tx, sourceID, partition)
		}
		args := []any{partition, sourceID, runID, seq}
		if merge == "merge_partition" {
			if merge, args, err = d.chooseMerge(ctx, tx, partition, sourceID, runID, seq); err != nil {
				return err
			}
		}
		if err := tx.GetContext(ctx, &r, query(merge), args...); err != nil {
			return err
		}
		if lk, cu, err = mergeLinksAndCustomers(ctx, tx, partition, sourceID, seq); err != nil {
			return err
		}
		return d.finishMerge(ctx, tx, sourceID, partition)
	})
	if err != nil {
		return tokenevents.MergeCounts{}, err
	}
	return d.mergeCounts(r, lk, cu), nil
}

// finishMerge empties a merged partition's stage of events (on one server)
// and marks it merged in the ledger, in the merge's transaction.
//
// On one server only one import runs at a time (the import lock), so
// whatever else the partition holds belongs to abandoned sources, whose
// ledgers will notice. On Citus the merged rows stay and the ledger's mark
// alone says they are merged: a TRUNCATE of one partition's shards and the
// other merges' reads of the partitioned table (which lock every partition
// on the coordinator) deadlock, and a DELETE of the rows cost a second of a
// 1.8 M-event merge and left dead rows to every later scan. The file's end
// empties the stage at once (finishFileTx).
func (d *DB) finishMerge(ctx context.Context, tx *sqlx.Tx, sourceID int64, partition int) error {
	if !d.citus { // the name is built from our partition number
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`TRUNCATE tokenevents_internal.import_stage_p%02d`, partition)); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE tokenevents_internal.import_ledger SET merged = true, staged_events = 0, staged_links = 0,
			staged_customers = 0 WHERE source_id = $1 AND partition = $2`, sourceID, partition)
	return err
}

// mergeCounts turns a merge's figures into the import's counts, and notes
// whether it wrote anything.
func (d *DB) mergeCounts(r mergeFigures, lk linkCounts, cu customerCounts) tokenevents.MergeCounts {
	if r.Inserted+r.Changed+r.NewTokens+lk.NewTokens+lk.Linked+lk.Moved+cu.Inserted+cu.Changed > 0 {
		d.wrote.Store(true)
	}
	linksNew := lk.NewTokens + lk.Linked
	return tokenevents.MergeCounts{Staged: r.Staged, Duplicates: r.Staged - r.Distinct, New: r.Inserted,
		Updated: r.Changed, Unchanged: r.Distinct - r.Inserted - r.Changed, NewTokens: r.NewTokens + lk.NewTokens,
		LinksStaged: lk.Staged, LinkDuplicates: lk.Staged - lk.Distinct, LinksNew: linksNew, LinksMoved: lk.Moved,
		LinksUnchanged: lk.Distinct - linksNew - lk.Moved,
		Customers: tokenevents.CustomerCounts{Staged: cu.Staged, Duplicates: cu.Staged - cu.Distinct, New: cu.Inserted,
			Updated: cu.Changed, Unchanged: cu.Distinct - cu.Inserted - cu.Changed}}
}

// mergeFigures is what merging a partition's events did.
type mergeFigures struct {
	Staged    int64 `db:"staged"`
	Distinct  int64 `db:"distinct_keys"`
	NewTokens int64 `db:"new_tokens"`
	Inserted  int64 `db:"inserted"`
	Changed   int64 `db:"changed"`
}

type linkCounts struct {
	Staged    int64 `db:"staged"`
	Distinct  int64 `db:"distinct_keys"`
	NewTokens int64 `db:"new_tokens"`
	Linked    int64 `db:"linked"`
	Moved     int64 `db:"moved"`
}

type customerCounts struct {
	Staged   int64 `db:"staged"`
	Distinct int64 `db:"distinct_keys"`
	Inserted int64 `db:"inserted"`
	Changed  int64 `db:"changed"`
}

// mergeLinksAndCustomers merges a partition's staged links and customers,
// after its events, in the merge's transaction, and empties their stage.
// The ledger says whether there are any: an events file stages none, and
// its merges skip the statements.
func mergeLinksAndCustomers(ctx context.Context, tx *sqlx.Tx, partition int, sourceID, seq int64) (lk linkCounts, cu customerCounts, err error) {
	var staged struct {
		Links     int64 `db:"staged_links"`
		Customers int64 `db:"staged_customers"`
	}
	if err := tx.GetContext(ctx, &staged, `SELECT staged_links, staged_customers FROM tokenevents_internal.import_ledger
		WHERE source_id = $1 AND partition = $2`, sourceID, partition); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return lk, cu, err
	}
	if staged.Links+staged.Customers == 0 {
		return lk, cu, nil
	}
	// A probe per staged link or customer: the planner, not knowing how
	// few rows a partition names, would hash all of tokens (0.9 s a
	// partition at 2 M tokens, against 0.07 s of probes).
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_nestloop = on; SET LOCAL enable_hashjoin = off;
		SET LOCAL enable_mergejoin = off`); err != nil {
		return lk, cu, err
	}
	// Into key ranges where nothing is stored yet (a migration into a new
	// database), links and customers go in without a probe each.
	var empty struct {
		Links     bool `db:"links_new"`
		Customers bool `db:"customers_new"`
	}
	if err := tx.GetContext(ctx, &empty, query("link_ranges_empty"), partition, sourceID); err != nil {
		return lk, cu, err
	}
	if staged.Links > 0 {
		if err := tx.GetContext(ctx, &lk, query(pick(empty.Links, "merge_links_new", "merge_links")), partition, sourceID, seq); err != nil {
			return lk, cu, err
		}
	}
	if staged.Customers > 0 {
		if err := tx.GetContext(ctx, &cu, query(pick(empty.Customers, "merge_customers_new", "merge_customers")), partition, sourceID, seq); err != nil {
			return lk, cu, err
		}
	}
	for _, stage := range []struct {
		table  string
		staged int64
	}{{"tokenevents_internal.import_stage_links", lk.Staged}, {"tokenevents_internal.import_stage_customers", cu.Staged}} {
		if stage.staged > 0 { // table names from this list and our partition number only
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`TRUNCATE %s_p%02d`, stage.table, partition)); err != nil {
				return lk, cu, err
			}
		}
	}
	return lk, cu, nil
}

// pick is a when cond holds, else b.
func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// chooseMerge picks how to merge a staged partition, within the merge's
// transaction: merge_partition_new.sql where nothing is stored yet, else
// merge_partition.sql with the join pinned to a probe per staged key or one
// ordered pass over the staged key range. It returns the query and its
// arguments.
func (d *DB) chooseMerge(ctx context.Context, tx *sqlx.Tx, partition int, sourceID, runID, seq int64) (string, []any, error) {
	var sr stagedRanges
	if err := tx.GetContext(ctx, &sr, query("staged_ranges"), partition, sourceID); err != nil {
		return "", nil, err
	}
	if sr.Empty {
		// Nothing stored yet where this partition's tokens go (a first
		// import): no row needs a probe.
		return "merge_partition_new", []any{partition, sourceID, runID, seq}, nil
	}
	pin := `SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off` // a probe per key
	if d.mergeJoin == joinRead || d.mergeJoin == joinAuto && sr.readRange() {
		pin = `SET LOCAL enable_nestloop = off`
	}
	if _, err := tx.ExecContext(ctx, pin); err != nil {
		return "", nil, err
	}
	return "merge_partition", []any{partition, sourceID, runID, seq, sr.Accounts, sr.Lo, sr.Hi}, nil
}

// joinChoice is how a merge finds the stored events of staged keys.
type joinChoice int

const (
	joinAuto  joinChoice = iota // by stagedRanges.readRange
	joinProbe                   // an index probe per staged key
	joinRead                    // one ordered pass over the staged key range
)

// stagedRanges is what staged_ranges.sql tells of a staged partition.
type stagedRanges struct {
	Empty       bool           `db:"empty"`
	Accounts    pq.StringArray `db:"accounts"`
	Lo          string         `db:"lo"`
	Hi          string         `db:"hi"`
	Staged      int64          `db:"staged"`
	StoredTotal float64        `db:"stored_total"`
}

// readRange reports whether the merge should read the stored events of the
// staged key range in one ordered pass rather than probe for each staged
// key: when the range stores no more than about three times as many events
// as are staged (a probe costs about three times a row read in order).
// Token values are uniform hashes, so the range's share of token_events is
// its share of the hex space; all accounts are counted, an upper bound.
func (r stagedRanges) readRange() bool {
	return float64(r.Staged)*3 >= r.StoredTotal*hexSpan(r.Lo, r.Hi)
}

// hexSpan is the share of the space of hex token values between lo and hi
// (inclusive), from their first eight digits.
func hexSpan(lo, hi string) float64 {
	prefix := func(s string, pad byte) float64 {
		var v uint64
		for i := range 8 {
			c := pad
			if i < len(s) {
				c = s[i]
			}
			v = v<<4 | uint64(tokenevents.HexNibble(c))
		}
		return float64(v)
	}
	return (prefix(hi, 'f') - prefix(lo, '0') + 1) / (1 << 32)
}
