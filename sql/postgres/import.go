package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/sync/errgroup"

	"github.com/tokenevents/tokenevents"
)

var _ tokenevents.ImportStore = (*DB)(nil)

const copyStage = `COPY tokenevents_internal.import_stage (source_id, partition, seq, token_id, account_id, token_type, token_value, event,
	created_us, status, expires_us, metadata) FROM STDIN`

// StartImport takes the import lock (waiting for a running import to end)
// and records a new run.
func (d *DB) StartImport(ctx context.Context, options []byte) (int64, error) {
	if d.lock == nil {
		conn, err := d.db.Connx(ctx)
		if err != nil {
			return 0, fmt.Errorf("import lock: %w", err)
		}
		var got bool
		if err := conn.GetContext(ctx, &got, `SELECT pg_try_advisory_lock($1)`, importLockKey); err != nil {
			return 0, errors.Join(fmt.Errorf("import lock: %w", err), conn.Close())
		}
		if !got {
			d.log.Warn("another import into this database is running; waiting for it to finish", "lock_timeout", d.lockTimeout.String())
			if err := d.waitLock(ctx, conn, `SELECT pg_advisory_lock($1)`, importLockKey); err != nil {
				return 0, errors.Join(fmt.Errorf("import lock: %w", err), conn.Close())
			}
		}
		d.lock = conn
	}
	d.wrote.Store(false)
	var id int64
	err := d.retry.Do(ctx, d.log, "start import", func() error {
		return d.db.GetContext(ctx, &id, `INSERT INTO import_runs (options) VALUES ($1) RETURNING id`, string(options))
	})
	if err != nil {
		return 0, fmt.Errorf("start import run: %w", err)
	}
	return id, nil
}

// SourceDone reports whether some run imported this content with these
// options to the end.
func (d *DB) SourceDone(ctx context.Context, contentDigest, optionsDigest string) (bool, error) {
	var done bool
	err := d.retry.Do(ctx, d.log, "source done", func() error {
		return d.db.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM import_files
			WHERE content_digest = $1 AND options_digest = $2 AND outcome = 'done')`, contentDigest, optionsDigest)
	})
	if err != nil {
		return false, fmt.Errorf("look up earlier imports: %w", err)
	}
	return done, nil
}

// OpenSource returns the source's ledger. If any unmerged partition has
// fewer staged rows than its ledger counted (a crash emptied the unlogged
// stage, or another source's merge truncated it), the source starts over.
func (d *DB) OpenSource(ctx context.Context, runID int64, sourceKey string, partitions int) (tokenevents.SourceState, error) {
	st, err := retryValue(ctx, d, "open source", func() (tokenevents.SourceState, error) {
		return d.openSourceOnce(ctx, runID, sourceKey, partitions)
	})
	if err != nil {
		return st, fmt.Errorf("open import source: %w", err)
	}
	return st, nil
}

func (d *DB) openSourceOnce(ctx context.Context, runID int64, sourceKey string, partitions int) (tokenevents.SourceState, error) {
	st := tokenevents.SourceState{StagedUpto: make([]int64, partitions), Merged: make([]bool, partitions)}
	for i := range st.StagedUpto {
		st.StagedUpto[i] = -1
	}
	err := d.db.QueryRowxContext(ctx, `INSERT INTO tokenevents_internal.import_sources (source_key, run_id) VALUES ($1, $2)
		ON CONFLICT (source_key) DO UPDATE SET run_id = EXCLUDED.run_id RETURNING id, merging`,
		sourceKey, runID).Scan(&st.ID, &st.Merging)
	if err != nil {
		return st, err
	}
	var rows []tokenevents.LedgerRow
	if err := d.db.SelectContext(ctx, &rows, query("source_state"), st.ID); err != nil {
		return st, err
	}
	lost := tokenevents.StageLost(rows)
	if lost {
		d.log.Warn("staged rows of an interrupted import were lost (server restart?); staging the file again", "source_id", st.ID)
		_, err := d.db.ExecContext(ctx, `WITH l AS (DELETE FROM tokenevents_internal.import_ledger WHERE source_id = $1),
			s AS (DELETE FROM tokenevents_internal.import_stage WHERE source_id = $1),
			c AS (DELETE FROM tokenevents_internal.import_stage_customers WHERE source_id = $1),
			k AS (DELETE FROM tokenevents_internal.import_stage_links WHERE source_id = $1)
			UPDATE tokenevents_internal.import_sources SET merging = false WHERE id = $1`, st.ID)
		st.Merging = false
		return st, err
	}
	for _, r := range rows {
		if r.Merged {
			d.wrote.Store(true) // by the run that was interrupted, perhaps
		}
		if r.Partition >= 0 && r.Partition < partitions {
			st.StagedUpto[r.Partition] = r.StagedUpto
			st.Merged[r.Partition] = r.Merged
		}
	}
	return st, nil
}

// StageBatch copies the batch into import_stage and records its marks, in
// one transaction; transient failures are retried from the start.
func (d *DB) StageBatch(ctx context.Context, b *tokenevents.Batch) error {
	err := d.retry.Do(ctx, d.log, "stage batch", func() error { return d.stageOnce(ctx, b) })
	if err != nil {
		return fmt.Errorf("stage %d events starting at %s line %d: %w", len(b.Events), b.File, b.FirstLine, err)
	}
	return nil
}

// inTx runs fn in a transaction, committed when fn succeeds and rolled
// back otherwise.
func (d *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := d.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err = fn(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return tx.Commit()
}

func (d *DB) stageOnce(ctx context.Context, b *tokenevents.Batch) error {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	*buf = encodeCopyRows((*buf)[:0], b)
	var others []byte
	var split int
	if len(b.Customers)+len(b.Links) > 0 {
		others, split = encodeOthers(nil, b)
	}
	if len(b.Links) > 0 {
		d.linksStaged.Store(true)
	}
	return errors.Join(conn.Raw(func(dc any) error { return stageRaw(ctx, dc, b, *buf, others, split) }), conn.Close())
}

// copyBufs recycles the buffers batches are encoded into.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// StagingDone marks the source's staging complete.
func (d *DB) StagingDone(ctx context.Context, sourceID int64) error {
	err := d.retry.Do(ctx, d.log, "staging done", func() error {
		_, err := d.db.ExecContext(ctx, `UPDATE tokenevents_internal.import_sources SET merging = true WHERE id = $1`, sourceID)
		return err
	})
	if err != nil {
		return fmt.Errorf("record staging done: %w", err)
	}
	return nil
}

// FinishFile records a file's outcome. The source of a done file, or of a
// file that can never resume (discard), is dropped with its ledger.
func (d *DB) FinishFile(ctx context.Context, runID, sourceID int64, f tokenevents.ImportFile, discard bool) error {
	err := d.retry.Do(ctx, d.log, "finish file", func() error {
		return d.inTx(ctx, func(tx *sqlx.Tx) error {
			return d.finishFileTx(ctx, tx, runID, sourceID, f, discard)
		})
	})
	if err != nil {
		return fmt.Errorf("record file %s: %w", f.Name, err)
	}
	return nil
}

func (d *DB) finishFileTx(ctx context.Context, tx *sqlx.Tx, runID, sourceID int64, f tokenevents.ImportFile, discard bool) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO import_files (run_id, file_index, name, content_digest, options_digest,
			outcome, rows_read, rows_rejected, events) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (run_id, file_index) DO NOTHING`,
		runID, f.Index, f.Name, f.ContentDigest, f.OptionsDigest, f.Outcome, f.RowsRead, f.RowsRejected, f.Events); err != nil {
		return err
	}
	if sourceID == 0 || f.Outcome != "done" && !discard {
		return nil
	}
	if discard {
		for _, stage := range []string{"tokenevents_internal.import_stage", "tokenevents_internal.import_stage_customers", "tokenevents_internal.import_stage_links"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+stage+` WHERE source_id = $1`, sourceID); err != nil {
				return err
			}
		}
	}
	if d.citus && f.Outcome == "done" {
		// Citus merges leave the rows they merged (see finishMerge). Files
		// are imported one after the other under the import lock, so the
		// distributed stages now hold only those and the rows of abandoned
		// sources, as a single server's merges truncate them too (an
		// abandoned source's ledger notices, and it is staged again).
		stages := "tokenevents_internal.import_stage"
		if d.linksStaged.Load() {
			stages += ", tokenevents_internal.import_stage_links"
		}
		if _, err := tx.ExecContext(ctx, `TRUNCATE `+stages); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM tokenevents_internal.import_sources WHERE id = $1`, sourceID)
	return err
}

// FinishImport records the run's end and releases the import lock.
func (d *DB) FinishImport(ctx context.Context, runID int64, outcome string, summary []byte, finished time.Time) error {
	err := d.retry.Do(ctx, d.log, "finish import", func() error {
		_, err := d.db.ExecContext(ctx, `UPDATE import_runs SET finished_at = $2, outcome = $3, summary = $4,
			files = coalesce((SELECT jsonb_agg(jsonb_build_object('index', file_index, 'name', name,
				'content_digest', content_digest, 'options_digest', options_digest, 'outcome', outcome,
				'rows_read', rows_read, 'rows_rejected', rows_rejected, 'events', events) ORDER BY file_index)
				FROM import_files WHERE run_id = $1), '[]')
			WHERE id = $1`, runID, finished, outcome, string(summary))
		return err
	})
	if err != nil {
		err = fmt.Errorf("record run end: %w", err)
	}
	// A run that wrote nothing (an unchanged file imported with --force)
	// leaves the statistics as they are: analysing costs seconds at 10^7 rows.
	if err == nil && outcome == "done" && d.wrote.Load() {
		if aerr := d.afterImport(ctx); aerr != nil {
			d.log.Warn("statistics not refreshed after the import", "err", aerr)
		}
	}
	return errors.Join(err, d.unlockAll(ctx))
}

// afterImport summarises the new BRIN ranges and refreshes the planner's
// numbers, so that the next incremental reconcile finds what the run wrote
// by reading just that, and the next merge knows the table's size. The two
// tables are done side by side: each read is a few seconds at 10^7 rows.
func (d *DB) afterImport(ctx context.Context) error {
	if d.citus {
		for _, table := range []string{"token_events", "tokens"} {
			var ok bool
			if err := d.db.GetContext(ctx, &ok, query("citus_after_import"), table); err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s: a shard's statistics were not refreshed", table)
			}
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range []struct{ analyze, brin string }{
		{`ANALYZE token_events`, "token_events_written"},
		{`ANALYZE tokens`, "tokens_written"},
	} {
		g.Go(func() error {
			if _, err := d.db.ExecContext(gctx, query("after_import"), t.brin); err != nil {
				return err
			}
			_, err := d.db.ExecContext(gctx, t.analyze)
			return err
		})
	}
	return g.Wait()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
