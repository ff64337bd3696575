package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/tokenevents/tokenevents"
)

var _ tokenevents.ImportStore = (*DB)(nil)

// StartImport records a new run.
func (d *DB) StartImport(ctx context.Context, options []byte) (int64, error) {
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

// Ledger returns the last committed row per partition, -1 where none.
func (d *DB) Ledger(ctx context.Context, sourceKey string, partitions int) ([]int64, error) {
	marks := make([]int64, partitions)
	for i := range marks {
		marks[i] = -1
	}
	var rows []struct {
		Partition int   `db:"partition"`
		UptoRow   int64 `db:"upto_row"`
	}
	err := d.retry.Do(ctx, d.log, "ledger", func() error {
		rows = rows[:0]
		return d.db.SelectContext(ctx, &rows, `SELECT partition, upto_row FROM import_ledger WHERE source_key = $1`, sourceKey)
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	for _, r := range rows {
		if r.Partition >= 0 && r.Partition < partitions {
			marks[r.Partition] = r.UptoRow
		}
	}
	return marks, nil
}

// WriteBatch stages the batch with COPY and upserts it, all in one
// transaction with its ledger marks; transient failures are retried from
// the start of the transaction.
func (d *DB) WriteBatch(ctx context.Context, b *tokenevents.Batch) (tokenevents.BatchCounts, error) {
	var counts tokenevents.BatchCounts
	err := d.retry.Do(ctx, d.log, "write batch", func() error {
		var err error
		counts, err = d.writeBatchOnce(ctx, b)
		return err
	})
	if err != nil {
		return counts, fmt.Errorf("write batch of %d events starting at %s line %d: %w", len(b.Events), b.File, b.FirstLine, err)
	}
	return counts, nil
}

func (d *DB) writeBatchOnce(ctx context.Context, b *tokenevents.Batch) (c tokenevents.BatchCounts, err error) {
	tx, err := d.db.BeginTxx(ctx, nil)
	if err != nil {
		return c, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if _, err = tx.ExecContext(ctx, d.stage); err != nil {
		return c, fmt.Errorf("staging table: %w", err)
	}
	if err = copyEvents(ctx, tx.Tx, d.copyQ, b.Events); err != nil {
		return c, fmt.Errorf("copy: %w", err)
	}
	res, err := tx.ExecContext(ctx, d.tokens)
	if err != nil {
		return c, fmt.Errorf("upsert tokens: %w", err)
	}
	c.NewTokens, _ = res.RowsAffected()
	var r struct {
		Distinct   int64 `db:"distinct_keys"`
		DupEarlier int64 `db:"dup_earlier"`
		Inserted   int64 `db:"inserted"`
		Changed    int64 `db:"changed"`
		ChangedDup int64 `db:"changed_dup"`
	}
	if err = tx.GetContext(ctx, &r, d.upsert, b.RunID); err != nil {
		return c, fmt.Errorf("upsert events: %w", err)
	}
	if b.SourceKey != "" && len(b.Ledger) > 0 {
		parts := make([]int64, len(b.Ledger))
		rows := make([]int64, len(b.Ledger))
		for i, m := range b.Ledger {
			parts[i], rows[i] = int64(m.Partition), m.UptoRow
		}
		if _, err = tx.ExecContext(ctx, d.ledger, b.SourceKey, b.RunID, pq.Array(parts), pq.Array(rows)); err != nil {
			return c, fmt.Errorf("ledger: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return c, fmt.Errorf("commit: %w", err)
	}
	c.Staged = int64(len(b.Events))
	c.Duplicates = (c.Staged - r.Distinct) + r.DupEarlier
	c.New = r.Inserted
	c.Updated = r.Changed - r.ChangedDup
	c.Unchanged = r.Distinct - r.Inserted - c.Updated - r.DupEarlier
	return c, nil
}

// copyEvents streams the events into the staging table.
func copyEvents(ctx context.Context, tx *sql.Tx, q string, events []tokenevents.StagedEvent) (err error) {
	stmt, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stmt.Close()) }()
	for i := range events {
		e := &events[i]
		var expires any
		if !e.ExpiresAt.IsZero() {
			expires = e.ExpiresAt
		}
		if _, err := stmt.ExecContext(ctx, e.Seq, e.AccountID, e.TokenType, e.TokenValue, e.Event.Event,
			e.CreatedAt, e.Status, expires, string(e.Metadata)); err != nil {
			return err
		}
	}
	_, err = stmt.ExecContext(ctx)
	return err
}

// FinishFile records a file's outcome. A done file's ledger is deleted in
// the same transaction: from then on SourceDone answers for it.
func (d *DB) FinishFile(ctx context.Context, runID int64, sourceKey string, f tokenevents.ImportFile) error {
	err := d.retry.Do(ctx, d.log, "finish file", func() (err error) {
		tx, err := d.db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				err = errors.Join(err, ignoreDone(tx.Rollback()))
			}
		}()
		if _, err = tx.ExecContext(ctx, `INSERT INTO import_files (run_id, file_index, name, content_digest, options_digest,
			outcome, rows_read, rows_rejected, events) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (run_id, file_index) DO NOTHING`,
			runID, f.Index, f.Name, f.ContentDigest, f.OptionsDigest, f.Outcome, f.RowsRead, f.RowsRejected, f.Events); err != nil {
			return err
		}
		if f.Outcome == "done" && sourceKey != "" {
			if _, err = tx.ExecContext(ctx, `DELETE FROM import_ledger WHERE source_key = $1`, sourceKey); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("record file %s: %w", f.Name, err)
	}
	return nil
}

// FinishImport records the run's end, its outcome and summary.
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
		return fmt.Errorf("record run end: %w", err)
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
