package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/sync/errgroup"

	"github.com/tokenevents/tokenevents"
)

var _ tokenevents.ReconcileStore = (*DB)(nil)

// reconcileLockClass is the first key of the per-account advisory locks;
// the second is hashtext(account_id).
const reconcileLockClass = 0x7265636f

// Accounts lists every account with tokens.
func (d *DB) Accounts(ctx context.Context) ([]string, error) {
	var out []string
	err := d.retry.Do(ctx, d.log, "accounts", func() error {
		out = out[:0]
		return d.db.SelectContext(ctx, &out, query(pick(d.citus, "citus_accounts", "accounts")))
	})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// StartReconcile takes one advisory lock per account, in sorted order so
// that two reconciles never wait for each other in a cycle, and records the
// run unless it is a dry run.
func (d *DB) StartReconcile(ctx context.Context, accounts []string, o tokenevents.ReconcileOptions) (int64, error) {
	conn, err := d.db.Connx(ctx)
	if err != nil {
		return 0, fmt.Errorf("reconcile lock: %w", err)
	}
	sorted := append([]string{}, accounts...)
	sort.Strings(sorted)
	for _, a := range sorted {
		var got bool
		if err := conn.GetContext(ctx, &got, `SELECT pg_try_advisory_lock($1, hashtext($2))`, reconcileLockClass, a); err != nil {
			return 0, errors.Join(fmt.Errorf("reconcile lock: %w", err), conn.Close())
		}
		if !got {
			d.log.Warn("another reconcile of the account is running; waiting for it", "account_id", a, "lock_timeout", d.lockTimeout.String())
			if err := d.waitLock(ctx, conn, `SELECT pg_advisory_lock($1, hashtext($2))`, reconcileLockClass, a); err != nil {
				// Closing the session releases the locks taken so far.
				return 0, errors.Join(fmt.Errorf("reconcile lock: %w", err), conn.Close())
			}
		}
	}
	d.lock = conn
	var id int64
	err = d.retry.Do(ctx, d.log, "start reconcile", func() error {
		if o.DryRun {
			return d.db.GetContext(ctx, &id, `SELECT nextval(pg_get_serial_sequence('reconcile_runs', 'id'))`)
		}
		return d.db.GetContext(ctx, &id, `INSERT INTO reconcile_runs (as_of, accounts, full_run) VALUES ($1, $2, $3) RETURNING id`,
			o.AsOf, pqStrings(sorted), o.Full)
	})
	if err != nil {
		return 0, errors.Join(fmt.Errorf("start reconcile run: %w", err), d.unlockAll(ctx))
	}
	return id, nil
}

// ReconcileAccount recomputes one account: it takes the watermark, collects
// the candidates (unless full), recomputes key ranges in parallel, each in
// its own transaction, and then advances the watermark.
func (d *DB) ReconcileAccount(ctx context.Context, runID int64, account string, o tokenevents.ReconcileOptions) (tokenevents.ReconcileCounts, error) {
	var total tokenevents.ReconcileCounts
	mark, err := d.writeMark(ctx) // every write below it is visible from here on
	if err != nil {
		return total, fmt.Errorf("reconcile %s: %w", account, err)
	}
	full := o.Full
	if !full {
		var prev struct {
			Seq  int64     `db:"seq"`
			AsOf time.Time `db:"as_of"`
		}
		err := d.db.GetContext(ctx, &prev, `SELECT seen_seq AS seq, as_of FROM tokenevents_internal.reconcile_watermarks WHERE account_id = $1`, account)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			full = true // never reconciled: everything is new
		case err != nil:
			return total, fmt.Errorf("reconcile %s: watermark: %w", account, err)
		case o.AsOf.Before(prev.AsOf):
			// Stored statuses hold for a later instant; going back in time
			// cannot be done incrementally.
			d.log.Info("--as-of is before the previous reconcile's; recomputing every token", "account_id", account)
			full = true
		default:
			var n int64
			err := d.retry.Do(ctx, d.log, "candidates", func() error {
				res, err := d.db.ExecContext(ctx, query("reconcile_candidates"), runID, account, prev.Seq, o.AsOf)
				if err == nil {
					n, err = res.RowsAffected()
				}
				return err
			})
			if err != nil {
				return total, fmt.Errorf("reconcile %s: candidates: %w", account, err)
			}
			if n == 0 {
				return total, d.advance(ctx, runID, account, mark, o)
			}
			tokens, err := d.countTokens(ctx, account, tokenevents.PreferFullProbe(n))
			if err != nil {
				return total, fmt.Errorf("reconcile %s: %w", account, err)
			}
			if !tokenevents.PreferFull(n, tokens) {
				return d.reconcileRanges(ctx, runID, account, o, false, rangesFor(n, workRangeRows*d.shards), mark)
			}
			d.log.Info("most tokens changed since the last reconcile; recomputing every token (the same statuses, faster)",
				"account_id", account, "changed", n)
			full = true
		}
	}
	// Count the account's tokens only as far as it matters for the split.
	n, err := d.countTokens(ctx, account, rangeRows*maxRanges+1)
	if err != nil {
		return total, fmt.Errorf("reconcile %s: %w", account, err)
	}
	return d.reconcileRanges(ctx, runID, account, o, full, rangesFor(n, rangeRows*d.shards), mark)
}

// countTokens counts an account's tokens as far as limit. On Citus the
// shards count in parallel, to the end: a LIMIT there would bring rows to
// the coordinator to be cut.
func (d *DB) countTokens(ctx context.Context, account string, limit int64) (int64, error) {
	q := `SELECT count(*) FROM (SELECT 1 FROM tokens WHERE account_id = $1 LIMIT $2) t`
	if d.citus {
		q = `SELECT least(count(*), $2) FROM tokens WHERE account_id = $1`
	}
	var n int64
	err := d.retry.Do(ctx, d.log, "count tokens", func() error { return d.db.GetContext(ctx, &n, q, account, limit) })
	if err != nil {
		return 0, fmt.Errorf("count tokens: %w", err)
	}
	return n, nil
}

// rangeRows is about how many tokens one reconcile transaction handles: a
// large account is split into up to maxRanges ranges of token values (a
// power of two), so that no transaction is giant and ranges run in
// parallel, without paying a range's fixed cost more often than needed.
//
// An incremental run decides each token by index probes, which cost more
// per token than a full run's ordered pass but involve far fewer tokens:
// its ranges are smaller (workRangeRows) so that even a modest change set
// is spread over the workers.
const (
	rangeRows     = 100_000
	workRangeRows = 10_000
	maxRanges     = 256
)

// rangesFor returns how many ranges (a power of two) split tokens into
// ranges of about perRange.
func rangesFor(tokens, perRange int64) int { return tokenevents.RangesFor(tokens, perRange, maxRanges) }

func (d *DB) reconcileRanges(ctx context.Context, runID int64, account string, o tokenevents.ReconcileOptions,
	full bool, ranges int, mark int64) (total tokenevents.ReconcileCounts, err error) {
	meter := tokenevents.BeginReconcile(o.Progress, account, ranges)
	defer func() { tokenevents.EndPhase(o.Progress, meter, err == nil) }()
	results := make([]tokenevents.ReconcileCounts, ranges)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, o.Workers))
	for i := range ranges {
		lo, hi := tokenevents.KeyRange(i, ranges)
		g.Go(func() error {
			var err error
			results[i], err = d.reconcileRange(gctx, runID, account, lo, hi, o, full)
			if err == nil {
				meter.Done.Add(1)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return total, fmt.Errorf("reconcile %s: %w", account, err)
	}
	for _, r := range results {
		total.Add(r)
	}
	d.analyzeChanges(ctx, total.Changed)
	return total, d.advance(ctx, runID, account, mark, o)
}

// analyzeMinChanges is the fewest changes of an account's run that can make
// the statistics of reconcile_changes worth refreshing at once.
const analyzeMinChanges = 10_000

// analyzeChanges refreshes the planner's statistics of reconcile_changes
// when a run added at least a tenth of the rows they counted (or they were
// never taken). Planned from statistics that saw a few rows, the report's
// query sorts the run's changes serially and on disk; planned for what is
// there, in parallel (829,000 changes: 5.5 s → 3.2 s, for an ANALYZE of
// 0.5 s, which samples at most 30,000 rows however large the table). The
// statuses are stored already: a failure only costs speed, so it is
// logged, not returned. Not on Citus, where the table is distributed: the
// workers plan their shards' parts from the shards' own statistics, and
// an ANALYZE would visit every shard.
func (d *DB) analyzeChanges(ctx context.Context, changed int64) {
	if d.citus || changed < analyzeMinChanges { // a small run: not even the count is read
		return
	}
	var counted float64
	err := d.db.GetContext(ctx, &counted, `SELECT reltuples FROM pg_class WHERE oid = 'reconcile_changes'::regclass`)
	if err == nil {
		if !worthAnalyzing(changed, counted) {
			return
		}
		_, err = d.db.ExecContext(ctx, `ANALYZE reconcile_changes`)
	}
	if err != nil && ctx.Err() == nil {
		d.log.Warn("could not refresh the statistics of reconcile_changes; the report may be slower", "err", err)
	}
}

// worthAnalyzing tells whether changed new rows make statistics that
// counted rows (pg_class.reltuples: -1 when never taken) worth taking again.
func worthAnalyzing(changed int64, counted float64) bool {
	return changed >= analyzeMinChanges && (counted < 0 || float64(changed) >= counted/10)
}

func (d *DB) reconcileRange(ctx context.Context, runID int64, account, lo, hi string, o tokenevents.ReconcileOptions, full bool) (tokenevents.ReconcileCounts, error) {
	var c tokenevents.ReconcileCounts
	err := d.retry.Do(ctx, d.log, "reconcile range", func() error {
		var r struct {
			Examined    int64  `db:"examined"`
			Stored      int64  `db:"stored"`
			Transitions []byte `db:"transitions"`
		}
		decide := query("reconcile_decide_work")
		if full {
			decide = query("reconcile_decide_full")
		}
		err := d.inTx(ctx, func(tx *sqlx.Tx) error {
			// A range's events are sorted once: in memory, not on disk.
			// No JIT: compiling a range's query cost more (0.7-1 s at 5 M
			// events) than it saved.
			if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'; SET LOCAL jit = off`); err != nil {
				return err
			}
			if d.citus {
				var err error
				c, err = reconcileRangeCitus(ctx, tx, runID, account, lo, hi, o, full)
				return err
			}
			return tx.GetContext(ctx, &r, decide, runID, account, lo, hi, o.AsOf, o.DryRun)
		})
		if err != nil || d.citus {
			return err
		}
		var ts [][3]any
		if err := json.Unmarshal(r.Transitions, &ts); err != nil {
			return fmt.Errorf("transitions: %w", err)
		}
		c = tokenevents.ReconcileCounts{Examined: r.Examined, Stored: r.Stored, Transitions: map[string]int64{}}
		for _, t := range ts {
			n, _ := t[2].(float64)
			c.Transitions[fmt.Sprintf("%v→%v", t[0], t[1])] += int64(n)
			c.Changed += int64(n)
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("range [%s, %s): %w", lo, hi, err)
	}
	return c, nil
}

// advance stores the account's new watermark; a dry run stores nothing.
func (d *DB) advance(ctx context.Context, runID int64, account string, mark int64, o tokenevents.ReconcileOptions) error {
	if o.DryRun {
		return nil
	}
	err := d.retry.Do(ctx, d.log, "advance watermark", func() error {
		_, err := d.db.ExecContext(ctx, `INSERT INTO tokenevents_internal.reconcile_watermarks (account_id, seen_seq, as_of, run_id)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (account_id) DO UPDATE SET seen_seq = EXCLUDED.seen_seq, as_of = EXCLUDED.as_of, run_id = EXCLUDED.run_id`,
			account, mark, o.AsOf, runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("reconcile %s: watermark: %w", account, err)
	}
	return nil
}

// Report streams the run's changes in key order.
func (d *DB) Report(ctx context.Context, runID int64, fn func(tokenevents.Change) error) error {
	rows, err := d.db.QueryContext(ctx, query("reconcile_report"), runID)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return scanChanges(rows, fn)
}

// Snapshot calls fn with every token's current status, in key order.
func (d *DB) Snapshot(ctx context.Context, account, status string, fn func(tokenevents.Change) error) error {
	rows, err := d.db.QueryContext(ctx, query("reconcile_snapshot"), account, status)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return scanChanges(rows, fn)
}

// scanChanges streams rows in the diff report's columns to fn.
func scanChanges(rows *sql.Rows, fn func(tokenevents.Change) error) error {
	defer rows.Close()
	for rows.Next() {
		var c tokenevents.Change
		var event sql.NullString
		var created, expires sql.NullTime
		if err := rows.Scan(&c.AccountID, &c.TokenType, &c.TokenValue, &c.TokenID, &c.PreviousStatus, &c.Status,
			&c.DecidedBy, &event, &created, &expires, &c.AsOf); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		c.Event, c.EventCreatedAt = event.String, created.Time
		c.EventExpiresAt = tokenevents.NullTime{Time: expires.Time, Valid: expires.Valid}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// FinishReconcile records the run, drops its work rows (and a dry run's
// changes) and releases the account locks.
func (d *DB) FinishReconcile(ctx context.Context, runID int64, outcome string, c tokenevents.ReconcileCounts, o tokenevents.ReconcileOptions) error {
	err := d.retry.Do(ctx, d.log, "finish reconcile", func() error {
		if _, err := d.db.ExecContext(ctx, `DELETE FROM tokenevents_internal.reconcile_work WHERE run_id = $1`, runID); err != nil {
			return err
		}
		if o.DryRun {
			_, err := d.db.ExecContext(ctx, `DELETE FROM reconcile_changes WHERE run_id = $1`, runID)
			return err
		}
		ts, _ := json.Marshal(c.Transitions)
		_, err := d.db.ExecContext(ctx, `UPDATE reconcile_runs SET finished_at = now(), outcome = $2, examined = $3,
			changed = $4, transitions = $5 WHERE id = $1`, runID, outcome, c.Examined, c.Changed, string(ts))
		return err
	})
	if err != nil {
		err = fmt.Errorf("record reconcile end: %w", err)
	}
	return errors.Join(err, d.unlockAll(ctx))
}

// unlockAll releases every advisory lock of the locking session (the import
// lock or the reconcile locks). The connection goes back to the pool, so
// the locks must be released explicitly, not by closing.
func (d *DB) unlockAll(ctx context.Context) error {
	if d.lock == nil {
		return nil
	}
	_, err := d.lock.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock_all()`)
	if Transient(err) || errors.Is(err, sql.ErrConnDone) {
		err = nil
	}
	err = errors.Join(err, d.lock.Close())
	d.lock = nil
	if err != nil && !errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("release locks: %w", err)
	}
	return nil
}

// LookupToken loads a token with its events and customer.
func (d *DB) LookupToken(ctx context.Context, account, tokenType, tokenValue string) (*tokenevents.TokenRecord, error) {
	var rec *tokenevents.TokenRecord
	err := d.retry.Do(ctx, d.log, "lookup", func() error {
		var t struct {
			ID         string         `db:"id"`
			CreatedAt  time.Time      `db:"created_at"`
			CustomerID sql.NullString `db:"customer_id"`
			Status     sql.NullString `db:"status"`
			DeletedAt  sql.NullTime   `db:"deleted_at"`
			Metadata   []byte         `db:"metadata"`
			CCreatedAt sql.NullTime   `db:"customer_created_at"`
			UpdatedAt  sql.NullTime   `db:"updated_at"`
		}
		err := d.db.GetContext(ctx, &t, `SELECT t.id, t.created_at, t.customer_id, c.status, c.deleted_at,
				c.metadata, c.created_at AS customer_created_at, c.updated_at
			FROM tokens t LEFT JOIN customers c ON c.account_id = t.account_id AND c.customer_id = t.customer_id
			WHERE t.account_id = $1 AND t.token_type = $2 AND t.token_value = $3`, account, tokenType, tokenValue)
		if errors.Is(err, sql.ErrNoRows) {
			rec = nil
			return nil
		}
		if err != nil {
			return err
		}
		rec = &tokenevents.TokenRecord{AccountID: account, TokenType: tokenType, TokenValue: tokenValue, ID: t.ID, CreatedAt: t.CreatedAt}
		if t.CustomerID.Valid {
			rec.Customer = &tokenevents.Customer{ID: t.CustomerID.String, Status: t.Status.String, DeletedAt: t.DeletedAt.Time,
				Metadata: t.Metadata, CreatedAt: t.CCreatedAt.Time, UpdatedAt: t.UpdatedAt.Time}
		}
		rows, err := d.db.QueryContext(ctx, `SELECT event, status, created_at, expires_at, metadata FROM token_events
			WHERE account_id = $1 AND token_type = $2 AND token_value = $3`, account, tokenType, tokenValue)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e := tokenevents.Event{AccountID: account, TokenType: tokenType, TokenValue: tokenValue}
			var expires sql.NullTime
			if err := rows.Scan(&e.Event, &e.Status, &e.CreatedAt, &expires, &e.Metadata); err != nil {
				return err
			}
			e.ExpiresAt = tokenevents.NullTime{Time: expires.Time, Valid: expires.Valid}
			rec.Events = append(rec.Events, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	return rec, nil
}
