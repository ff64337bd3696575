package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tokenevents/tokenevents"
)

var _ tokenevents.ImportStore = (*DB)(nil)

// StartImport takes the import lock (waiting for a running import to end),
// drops what abandoned sources left staged, and records a new run.
func (d *DB) StartImport(ctx context.Context, options []byte) (int64, error) {
	if d.importLock == nil {
		l, err := acquireLock(ctx, d.path+"-import.lock", d.lockTimeout, d.log, "another import into this database is running; waiting for it to finish")
		if err != nil {
			return 0, fmt.Errorf("import lock: %w", err)
		}
		d.importLock = l
	}
	var id int64
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, query("drop_abandoned_stage")); err != nil {
			return err
		}
		// Customers and links are staged in far fewer rows than events:
		// their abandoned rows are found by a plain scan.
		if err := execAll(ctx, tx, nil,
			`DELETE FROM import_stage_customers WHERE source_id NOT IN (SELECT id FROM import_sources)`,
			`DELETE FROM import_stage_links WHERE source_id NOT IN (SELECT id FROM import_sources)`); err != nil {
			return err
		}
		return tx.GetContext(ctx, &id, `INSERT INTO import_runs (started_at, options) VALUES (?, ?) RETURNING id`,
			ts(time.Now()), string(options))
	})
	if err != nil {
		return 0, errors.Join(fmt.Errorf("start import run: %w", err), d.releaseImportLock())
	}
	return id, nil
}

// SourceDone reports whether some run imported this content with these
// options to the end.
func (d *DB) SourceDone(ctx context.Context, contentDigest, optionsDigest string) (bool, error) {
	var done bool
	err := d.db.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM import_files
		WHERE content_digest = ? AND options_digest = ? AND outcome = 'done')`, contentDigest, optionsDigest)
	if err != nil {
		return false, fmt.Errorf("look up earlier imports: %w", err)
	}
	return done, nil
}

// OpenSource returns the source's ledger, creating it if new. A partition
// whose stage holds fewer rows than its ledger counted (the file was
// restored from an old copy, say) makes the source start over.
func (d *DB) OpenSource(ctx context.Context, runID int64, sourceKey string, partitions int) (tokenevents.SourceState, error) {
	st := tokenevents.SourceState{StagedUpto: make([]int64, partitions), Merged: make([]bool, partitions)}
	for i := range st.StagedUpto {
		st.StagedUpto[i] = -1
	}
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		err := tx.QueryRowxContext(ctx, `INSERT INTO import_sources (source_key, run_id) VALUES (?, ?)
			ON CONFLICT (source_key) DO UPDATE SET run_id = excluded.run_id RETURNING id, merging`,
			sourceKey, runID).Scan(&st.ID, &st.Merging)
		if err != nil {
			return err
		}
		var rows []tokenevents.LedgerRow
		if err := tx.SelectContext(ctx, &rows, query("source_state"), st.ID); err != nil {
			return err
		}
		if tokenevents.StageLost(rows) {
			d.log.Warn("staged rows of an interrupted import are missing; staging the file again", "source_id", st.ID)
			st.Merging = false
			for i := range st.StagedUpto {
				st.StagedUpto[i], st.Merged[i] = -1, false
			}
			return execAll(ctx, tx, []any{st.ID}, `DELETE FROM import_ledger WHERE source_id = ?1`,
				`DELETE FROM import_stage WHERE source_id = ?1`, `DELETE FROM import_stage_customers WHERE source_id = ?1`,
				`DELETE FROM import_stage_links WHERE source_id = ?1`,
				`UPDATE import_sources SET merging = 0 WHERE id = ?1`)
		}
		for _, r := range rows {
			if r.Partition >= 0 && r.Partition < partitions {
				st.StagedUpto[r.Partition] = r.StagedUpto
				st.Merged[r.Partition] = r.Merged
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("open import source: %w", err)
	}
	return st, nil
}

// stageColumns is the number of values bound per staged event.
const stageColumns = 13

// stageChunk is how many events one prepared INSERT carries: 832 bound
// values, well under SQLite's limit, and few statement executions per batch.
const stageChunk = 64

func stageInsert(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO import_stage (source_id, partition, seq, ord, token_id, account_id, token_type,
		token_value, event, created_at, status, expires_at, metadata) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// StageBatch inserts the batch's events, grouped by partition so that each
// partition's run of the stage grows at its end, and records its marks, in
// one transaction.
func (d *DB) StageBatch(ctx context.Context, b *tokenevents.Batch) error {
	err := d.write(ctx, func(tx *sqlx.Tx) error { return stageTx(ctx, tx, b) })
	if err != nil {
		return fmt.Errorf("stage %d events starting at %s line %d: %w", len(b.Events), b.File, b.FirstLine, err)
	}
	return nil
}

func stageTx(ctx context.Context, tx *sqlx.Tx, b *tokenevents.Batch) error {
	// ord tells apart the events of one input row, which are adjacent.
	ord := make([]int, len(b.Events))
	for i := 1; i < len(b.Events); i++ {
		if b.Events[i].Row == b.Events[i-1].Row {
			ord[i] = ord[i-1] + 1
		}
	}
	idx := make([]int, len(b.Events))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return b.Events[idx[i]].Partition < b.Events[idx[j]].Partition })

	full, err := tx.PrepareContext(ctx, stageInsert(stageChunk))
	if err != nil {
		return err
	}
	defer full.Close()
	args := make([]any, 0, stageChunk*stageColumns)
	uuid := make([]byte, 0, 36)
	for start := 0; start < len(idx); start += stageChunk {
		end := min(start+stageChunk, len(idx))
		args = args[:0]
		for _, i := range idx[start:end] {
			e := &b.Events[i]
			args = append(args, b.SourceID, e.Partition, e.Seq, ord[i], string(tokenevents.AppendUUID(uuid[:0], &e.TokenID)), e.AccountID,
				e.TokenType, e.TokenValue, e.Event.Event, ts(e.CreatedAt), e.Status, tsNull(e.ExpiresAt), string(e.Metadata))
		}
		if end-start == stageChunk {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, stageInsert(end-start), args...)
		}
		if err != nil {
			return err
		}
	}
	if err := stageOthers(ctx, tx, b); err != nil {
		return err
	}
	for _, m := range b.Marks {
		if _, err := tx.ExecContext(ctx, query("stage_mark"), b.SourceID, m.Partition, m.UptoRow, m.Events, m.Links, m.Customers); err != nil {
			return err
		}
	}
	return nil
}

// stageOthers inserts the batch's customers and links.
func stageOthers(ctx context.Context, tx *sqlx.Tx, b *tokenevents.Batch) error {
	for i := range b.Customers {
		c := &b.Customers[i]
		var status, meta any
		if c.StatusSet && c.Status != "" {
			status = c.Status
		}
		if c.MetadataSet {
			meta = string(c.Metadata)
		}
		var deleted any
		if c.DeletedSet {
			deleted = tsNull(c.DeletedAt)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO import_stage_customers (source_id, partition, seq, account_id,
			customer_id, status, status_set, deleted_at, deleted_set, metadata, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			b.SourceID, c.Partition, c.Seq, c.AccountID, c.CustomerID, status, c.StatusSet, deleted, c.DeletedSet, meta,
			ts(c.UpdatedAt)); err != nil {
			return err
		}
	}
	uuid := make([]byte, 0, 36)
	for i := range b.Links {
		l := &b.Links[i]
		if _, err := tx.ExecContext(ctx, `INSERT INTO import_stage_links (source_id, partition, seq, token_id, account_id,
			token_type, token_value, customer_id, updated_at) VALUES (?,?,?,?,?,?,?,?,?)`,
			b.SourceID, l.Partition, l.Seq, string(tokenevents.AppendUUID(uuid[:0], &l.TokenID)), l.AccountID, l.TokenType,
			l.TokenValue, l.CustomerID, ts(l.UpdatedAt)); err != nil {
			return err
		}
	}
	return nil
}

// StagingDone marks the source's staging complete.
func (d *DB) StagingDone(ctx context.Context, sourceID int64) error {
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE import_sources SET merging = 1 WHERE id = ?`, sourceID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record staging done: %w", err)
	}
	return nil
}

// MergePartition upserts one staged partition in one transaction, then
// deletes it from the stage and marks it merged.
func (d *DB) MergePartition(ctx context.Context, runID, sourceID int64, partition int) (tokenevents.MergeCounts, error) {
	var c tokenevents.MergeCounts
	var distinct int64
	now := ts(time.Now())
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		c = tokenevents.MergeCounts{}
		if err := tx.GetContext(ctx, &c.Staged, `SELECT coalesce((SELECT staged_events FROM import_ledger
			WHERE source_id = ? AND partition = ?), 0)`, sourceID, partition); err != nil {
			return err
		}
		// The last occurrences, once, in a temporary table (a temporary
		// file when large): the tokens and the events are both taken from it.
		if _, err := tx.ExecContext(ctx, query("merge_last_table")); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM temp.merge_last`); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, query("merge_last"), sourceID, partition)
		if err != nil {
			return err
		}
		if distinct, err = res.RowsAffected(); err != nil {
			return err
		}
		if res, err = tx.ExecContext(ctx, query("merge_tokens"), now); err != nil {
			return err
		}
		if c.NewTokens, err = res.RowsAffected(); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, query("merge_events"), runID, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var inserted bool
			if err := rows.Scan(&inserted); err != nil {
				return errors.Join(err, rows.Close())
			}
			if inserted {
				c.New++
			} else {
				c.Updated++
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if err := mergeLinks(ctx, tx, sourceID, partition, now, &c); err != nil {
			return err
		}
		if err := mergeCustomers(ctx, tx, sourceID, partition, now, &c.Customers); err != nil {
			return err
		}
		// The partition's staged rows stay until the file is done: one
		// DELETE of the whole stage then costs less than 64 partial ones.
		_, err = tx.ExecContext(ctx, `UPDATE import_ledger SET merged = 1, staged_events = 0, staged_links = 0,
			staged_customers = 0 WHERE source_id = ? AND partition = ?`, sourceID, partition)
		return err
	})
	if err != nil {
		return tokenevents.MergeCounts{}, fmt.Errorf("merge partition %d: %w", partition, err)
	}
	c.Duplicates = c.Staged - distinct
	c.Unchanged = distinct - c.New - c.Updated
	return c, nil
}

// mergeLinks links the partition's tokens to their customers (after its
// events, in the merge's transaction) and adds what it did to c.
func mergeLinks(ctx context.Context, tx *sqlx.Tx, sourceID int64, partition int, now string, c *tokenevents.MergeCounts) error {
	if err := tx.GetContext(ctx, &c.LinksStaged, `SELECT coalesce((SELECT staged_links FROM import_ledger
		WHERE source_id = ? AND partition = ?), 0)`, sourceID, partition); err != nil {
		return err
	}
	if c.LinksStaged == 0 {
		return nil
	}
	var n struct {
		Distinct  int64 `db:"distinct_keys"`
		NewTokens int64 `db:"new_tokens"`
		Linked    int64 `db:"linked"`
		Moved     int64 `db:"moved"`
	}
	if err := execAll(ctx, tx, nil, query("merge_links_table"), `DELETE FROM temp.link_last`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, query("merge_links_last"), sourceID, partition); err != nil {
		return err
	}
	if err := tx.GetContext(ctx, &n, query("merge_links_count")); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, query("merge_links")); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, query("merge_links_tokens"), now); err != nil {
		return err
	}
	c.NewTokens += n.NewTokens
	c.LinkDuplicates = c.LinksStaged - n.Distinct
	c.LinksNew, c.LinksMoved = n.NewTokens+n.Linked, n.Moved
	c.LinksUnchanged = n.Distinct - c.LinksNew - c.LinksMoved
	return nil
}

// mergeCustomers merges the partition's customers (after its events and
// links, in the merge's transaction) into c.
func mergeCustomers(ctx context.Context, tx *sqlx.Tx, sourceID int64, partition int, now string, c *tokenevents.CustomerCounts) error {
	if err := tx.GetContext(ctx, &c.Staged, `SELECT coalesce((SELECT staged_customers FROM import_ledger
		WHERE source_id = ? AND partition = ?), 0)`, sourceID, partition); err != nil {
		return err
	}
	if c.Staged == 0 {
		return nil
	}
	if err := execAll(ctx, tx, nil, query("merge_customers_table"), `DELETE FROM temp.customer_last`); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, query("merge_customers_last"), sourceID, partition)
	if err != nil {
		return err
	}
	distinct, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if res, err = tx.ExecContext(ctx, query("merge_customers_update")); err != nil {
		return err
	}
	if c.Updated, err = res.RowsAffected(); err != nil {
		return err
	}
	if res, err = tx.ExecContext(ctx, query("merge_customers_insert"), now); err != nil {
		return err
	}
	if c.New, err = res.RowsAffected(); err != nil {
		return err
	}
	c.Duplicates, c.Unchanged = c.Staged-distinct, distinct-c.New-c.Updated
	return nil
}

// FinishFile records a file's outcome. The source of a done file, or of a
// file that can never resume (discard), is dropped with its ledger.
func (d *DB) FinishFile(ctx context.Context, runID, sourceID int64, f tokenevents.ImportFile, discard bool) error {
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO import_files (run_id, file_index, name, content_digest, options_digest,
			outcome, rows_read, rows_rejected, events, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, file_index) DO NOTHING`,
			runID, f.Index, f.Name, f.ContentDigest, f.OptionsDigest, f.Outcome, f.RowsRead, f.RowsRejected, f.Events,
			ts(time.Now())); err != nil {
			return err
		}
		if sourceID == 0 || f.Outcome != "done" && !discard {
			return nil
		}
		// When the stage holds this source's rows only (the usual case),
		// an unqualified DELETE empties it by dropping its pages, far
		// faster than deleting row by row. (Two seeks: "source_id <> ?"
		// would scan this source's rows.)
		var others bool
		if err := tx.GetContext(ctx, &others, `SELECT EXISTS (SELECT 1 FROM import_stage WHERE source_id < ?1)
			OR EXISTS (SELECT 1 FROM import_stage WHERE source_id > ?1)`, sourceID); err != nil {
			return err
		}
		stage := `DELETE FROM import_stage`
		if others {
			stage = `DELETE FROM import_stage WHERE source_id = ?1`
		}
		return execAll(ctx, tx, []any{sourceID}, stage, `DELETE FROM import_stage_links WHERE source_id = ?1`,
			`DELETE FROM import_stage_customers WHERE source_id = ?1`, `DELETE FROM import_sources WHERE id = ?1`)
	})
	if err != nil {
		return fmt.Errorf("record file %s: %w", f.Name, err)
	}
	return nil
}

// FinishImport records the run's end and releases the import lock.
func (d *DB) FinishImport(ctx context.Context, runID int64, outcome string, summary []byte, finished time.Time) error {
	var wrote bool
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE import_runs SET finished_at = ?2, outcome = ?3, summary = ?4,
			files = coalesce((SELECT json_group_array(json_object('index', file_index, 'name', name,
				'content_digest', content_digest, 'options_digest', options_digest, 'outcome', outcome,
				'rows_read', rows_read, 'rows_rejected', rows_rejected, 'events', events))
				FROM (SELECT * FROM import_files WHERE run_id = ?1 ORDER BY file_index)), '[]')
			WHERE id = ?1`, runID, ts(finished), outcome, string(summary)); err != nil {
			return err
		}
		return tx.GetContext(ctx, &wrote, `SELECT EXISTS (SELECT 1 FROM import_files WHERE run_id = ? AND outcome = 'done')`, runID)
	})
	if err != nil {
		err = fmt.Errorf("record run end: %w", err)
	}
	if err == nil && outcome == "done" && wrote {
		// Refresh the planner's statistics where they are stale (cheap).
		if _, oerr := d.db.ExecContext(ctx, `PRAGMA optimize`); oerr != nil {
			d.log.Warn("statistics not refreshed after the import", "err", oerr)
		}
	}
	return errors.Join(err, d.releaseImportLock())
}

func (d *DB) releaseImportLock() error {
	err := d.importLock.release()
	d.importLock = nil
	return err
}

// execAll runs statements that take the same arguments, in order.
func execAll(ctx context.Context, tx *sqlx.Tx, args []any, stmts ...string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s, args...); err != nil {
			return err
		}
	}
	return nil
}
