package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tokenevents/tokenevents"
)

var _ tokenevents.ReconcileStore = (*DB)(nil)

// rangeRows is about how many tokens one reconcile transaction decides:
// the range's writes are buffered until its read ends, so this also bounds
// that buffer (a few MB).
const (
	rangeRows = 50_000
	maxRanges = 256
)

// Accounts lists every account with tokens.
func (d *DB) Accounts(ctx context.Context) ([]string, error) {
	var out []string
	if err := d.db.SelectContext(ctx, &out, query("accounts")); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// StartReconcile takes the database's reconcile lock (waiting for another
// reconcile to finish) and records the run. A dry run's record is removed
// at its end.
func (d *DB) StartReconcile(ctx context.Context, accounts []string, o tokenevents.ReconcileOptions) (int64, error) {
	if d.reconcileLock == nil {
		l, err := acquireLock(ctx, d.path+"-reconcile.lock", d.lockTimeout, d.log, "another reconcile of this database is running; waiting for it")
		if err != nil {
			return 0, fmt.Errorf("reconcile lock: %w", err)
		}
		d.reconcileLock = l
	}
	sorted := append([]string{}, accounts...)
	sort.Strings(sorted)
	list, _ := json.Marshal(sorted)
	outcome := "running"
	if o.DryRun {
		outcome = "dry_run" // removed at the end
	}
	var id int64
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &id, `INSERT INTO reconcile_runs (started_at, as_of, accounts, full_run, outcome)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, ts(time.Now()), ts(o.AsOf), string(list), o.Full, outcome)
	})
	if err != nil {
		return 0, errors.Join(fmt.Errorf("start reconcile run: %w", err), d.releaseReconcileLock())
	}
	return id, nil
}

func (d *DB) releaseReconcileLock() error {
	err := d.reconcileLock.release()
	d.reconcileLock = nil
	return err
}

// ReconcileAccount recomputes one account: every token (full), or the
// tokens written since the previous reconcile's watermark plus those due to
// change by --as-of, range by range, each range one transaction.
func (d *DB) ReconcileAccount(ctx context.Context, runID int64, account string, o tokenevents.ReconcileOptions) (tokenevents.ReconcileCounts, error) {
	total := tokenevents.ReconcileCounts{Transitions: map[string]int64{}}
	// Every write logged up to mark is visible from here on.
	var mark int64
	if err := d.db.GetContext(ctx, &mark, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'token_writes'), 0)`); err != nil {
		return total, fmt.Errorf("reconcile %s: watermark: %w", account, err)
	}
	full := o.Full
	if !full {
		var prev struct {
			Seen int64          `db:"seen_write"`
			AsOf sql.NullString `db:"as_of"`
		}
		err := d.db.GetContext(ctx, &prev, `SELECT seen_write, as_of FROM reconcile_watermarks WHERE account_id = ?`, account)
		prevAsOf, perr := parseTS(prev.AsOf)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			full = true // never reconciled: everything is new
		case err != nil:
			return total, fmt.Errorf("reconcile %s: watermark: %w", account, err)
		case perr != nil:
			return total, fmt.Errorf("reconcile %s: watermark: %w", account, perr)
		case o.AsOf.Before(prevAsOf):
			d.log.Info("--as-of is before the previous reconcile's; recomputing every token", "account_id", account)
			full = true
		default:
			var n int64
			err := d.write(ctx, func(tx *sqlx.Tx) error {
				res, err := tx.ExecContext(ctx, query("reconcile_candidates"), runID, account, prev.Seen, ts(o.AsOf))
				if err == nil {
					n, err = res.RowsAffected()
				}
				return err
			})
			if err != nil {
				return total, fmt.Errorf("reconcile %s: candidates: %w", account, err)
			}
			var tokens int64
			if err := d.db.GetContext(ctx, &tokens, `SELECT count(*) FROM (SELECT 1 FROM tokens WHERE account_id = ? LIMIT ?)`,
				account, tokenevents.PreferFullProbe(n)); err != nil {
				return total, fmt.Errorf("reconcile %s: %w", account, err)
			}
			if !tokenevents.PreferFull(n, tokens) {
				if n > 0 {
					if err := d.reconcileRanges(ctx, runID, account, o, false, tokenevents.RangesFor(n, rangeRows, maxRanges), &total); err != nil {
						return total, err
					}
				}
				return total, d.advance(ctx, runID, account, mark, o)
			}
			d.log.Info("most tokens changed since the last reconcile; recomputing every token (the same statuses, faster)",
				"account_id", account, "changed", n)
		}
	}
	var n int64
	if err := d.db.GetContext(ctx, &n, `SELECT count(*) FROM (SELECT 1 FROM tokens WHERE account_id = ? LIMIT ?)`,
		account, rangeRows*maxRanges+1); err != nil {
		return total, fmt.Errorf("reconcile %s: %w", account, err)
	}
	if err := d.reconcileRanges(ctx, runID, account, o, true, tokenevents.RangesFor(n, rangeRows, maxRanges), &total); err != nil {
		return total, err
	}
	return total, d.advance(ctx, runID, account, mark, o)
}

func (d *DB) reconcileRanges(ctx context.Context, runID int64, account string, o tokenevents.ReconcileOptions,
	full bool, ranges int, total *tokenevents.ReconcileCounts) (err error) {
	meter := tokenevents.BeginReconcile(o.Progress, account, ranges)
	defer func() { tokenevents.EndPhase(o.Progress, meter, err == nil) }()
	for i := range ranges {
		lo, hi := tokenevents.KeyRange(i, ranges)
		var c tokenevents.ReconcileCounts
		err := d.write(ctx, func(tx *sqlx.Tx) error {
			var err error
			c, err = reconcileRange(ctx, tx, runID, account, lo, hi, o, full)
			return err
		})
		if err != nil {
			return fmt.Errorf("reconcile %s: range [%s, %s): %w", account, lo, hi, err)
		}
		total.Add(c)
		meter.Done.Add(1)
	}
	return nil
}

// stored is a token's row in token_statuses, as text.
type stored struct {
	present                                       bool
	tokenID, status, decidedBy                    string
	event, eventCreated, eventExpires, validUntil sql.NullString
}

// decided is a token whose status is to be stored, and maybe reported.
type decided struct {
	tokenType, tokenValue, tokenID, previous string
	d                                        tokenevents.Decision
	store, report                            bool
}

// reconcileRange decides the tokens of [lo, hi) from their events and
// customer with tokenevents.Decide — the reference rule itself — and then
// stores the statuses that differ and records the changes. Writes wait
// until the read is over, so no cursor walks a table being written.
func reconcileRange(ctx context.Context, tx *sqlx.Tx, runID int64, account, lo, hi string,
	o tokenevents.ReconcileOptions, full bool) (tokenevents.ReconcileCounts, error) {
	c := tokenevents.ReconcileCounts{Transitions: map[string]int64{}}
	var rows *sql.Rows
	var err error
	if full {
		rows, err = tx.QueryContext(ctx, query("reconcile_facts_full"), account, lo, hi)
	} else {
		rows, err = tx.QueryContext(ctx, query("reconcile_facts_work"), account, lo, hi, runID)
	}
	if err != nil {
		return c, err
	}
	var out []decided
	var cur struct {
		typ, value, id string
		customer       *tokenevents.Customer
		st             stored
		events         []tokenevents.Event
	}
	flush := func() {
		if cur.value == "" {
			return
		}
		dec := tokenevents.Decide(cur.customer, cur.events, o.AsOf)
		x := decided{tokenType: cur.typ, tokenValue: cur.value, tokenID: cur.id, previous: tokenevents.StatusUnknown, d: dec}
		if cur.st.present {
			x.previous = cur.st.status
		}
		x.report = dec.Status != x.previous
		x.store = !o.DryRun && differs(cur.st, cur.id, dec)
		if x.report || x.store {
			if dec.Event != nil {
				ev := *dec.Event // cur.events is reused
				x.d.Event = &ev
			}
			out = append(out, x)
		}
		c.Examined++
	}
	for rows.Next() {
		var typ, value, id string
		var custID, custStatus, custDeleted sql.NullString
		var st stored
		var sTokenID, sStatus, sDecidedBy sql.NullString
		var event, status, created, expires sql.NullString
		if err := rows.Scan(&typ, &value, &id, &custID, &custStatus, &custDeleted,
			&sTokenID, &sStatus, &sDecidedBy, &st.event, &st.eventCreated, &st.eventExpires, &st.validUntil,
			&event, &status, &created, &expires); err != nil {
			return c, errors.Join(err, rows.Close())
		}
		if value != cur.value || typ != cur.typ {
			flush()
			cur.typ, cur.value, cur.id, cur.customer, cur.events = typ, value, id, nil, cur.events[:0]
			st.present, st.tokenID, st.status, st.decidedBy = sStatus.Valid, sTokenID.String, sStatus.String, sDecidedBy.String
			cur.st = st
			if custID.Valid && custStatus.Valid {
				deleted, err := parseTS(custDeleted)
				if err != nil {
					return c, errors.Join(err, rows.Close())
				}
				cur.customer = &tokenevents.Customer{ID: custID.String, Status: custStatus.String, DeletedAt: deleted}
			}
		}
		if event.Valid {
			e := tokenevents.Event{AccountID: account, TokenType: typ, TokenValue: value, Event: event.String, Status: status.String}
			var err1, err2 error
			e.CreatedAt, err1 = parseTS(created)
			e.ExpiresAt, err2 = parseNullTS(expires)
			if err := errors.Join(err1, err2); err != nil {
				return c, errors.Join(err, rows.Close())
			}
			cur.events = append(cur.events, e)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return c, err
	}
	flush()
	return c, writeDecisions(ctx, tx, runID, account, o, out, &c)
}

// differs reports whether the stored status row must be rewritten.
func differs(s stored, tokenID string, d tokenevents.Decision) bool {
	if !s.present {
		return true
	}
	event, created, expires := decidingEvent(d)
	return s.tokenID != tokenID || s.status != d.Status || s.decidedBy != d.DecidedBy ||
		!same(s.event, event) || !same(s.eventCreated, created) || !same(s.eventExpires, expires) ||
		!same(s.validUntil, tsOpt(d.ValidUntil))
}

// decidingEvent is the deciding event's columns, NULL when none.
func decidingEvent(d tokenevents.Decision) (event, created, expires any) {
	if d.Event == nil {
		return nil, nil, nil
	}
	return d.Event.Event, ts(d.Event.CreatedAt), tsNull(d.Event.ExpiresAt)
}

// same compares a stored nullable text with a value to store (nil or string).
func same(s sql.NullString, v any) bool {
	str, ok := v.(string)
	if !ok {
		return !s.Valid
	}
	return s.Valid && s.String == str
}

func writeDecisions(ctx context.Context, tx *sqlx.Tx, runID int64, account string, o tokenevents.ReconcileOptions,
	out []decided, c *tokenevents.ReconcileCounts) error {
	if len(out) == 0 {
		return nil
	}
	store, err := tx.PrepareContext(ctx, query("store_status"))
	if err != nil {
		return err
	}
	defer store.Close()
	change, err := tx.PrepareContext(ctx, `INSERT INTO reconcile_changes (run_id, account_id, token_type, token_value,
		token_id, previous_status, status, decided_by, event, event_created_at, event_expires_at, as_of)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer change.Close()
	asOf := ts(o.AsOf)
	for _, x := range out {
		event, created, expires := decidingEvent(x.d)
		if x.store {
			if _, err := store.ExecContext(ctx, account, x.tokenType, x.tokenValue, x.tokenID, x.d.Status, x.d.DecidedBy,
				event, created, expires, tsOpt(x.d.ValidUntil), asOf, runID); err != nil {
				return err
			}
			c.Stored++
		}
		if x.report {
			if _, err := change.ExecContext(ctx, runID, account, x.tokenType, x.tokenValue, x.tokenID, x.previous,
				x.d.Status, x.d.DecidedBy, event, created, expires, asOf); err != nil {
				return err
			}
			c.Changed++
			c.Transitions[x.previous+"→"+x.d.Status]++
		}
	}
	return nil
}

// advance stores the account's new watermark; a dry run stores nothing.
func (d *DB) advance(ctx context.Context, runID int64, account string, mark int64, o tokenevents.ReconcileOptions) error {
	if o.DryRun {
		return nil
	}
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO reconcile_watermarks (account_id, seen_write, as_of, run_id)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET seen_write = excluded.seen_write, as_of = excluded.as_of, run_id = excluded.run_id`,
			account, mark, ts(o.AsOf), runID)
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
		var event, created, expires, asOf sql.NullString
		if err := rows.Scan(&c.AccountID, &c.TokenType, &c.TokenValue, &c.TokenID, &c.PreviousStatus, &c.Status,
			&c.DecidedBy, &event, &created, &expires, &asOf); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		var e1, e2, e3 error
		c.Event = event.String
		c.EventCreatedAt, e1 = parseTS(created)
		c.EventExpiresAt, e2 = parseNullTS(expires)
		c.AsOf, e3 = parseTS(asOf)
		if err := errors.Join(e1, e2, e3); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// FinishReconcile records the run (or removes a dry run's traces), prunes
// the part of the write log every watermark has passed, and releases the
// reconcile lock.
func (d *DB) FinishReconcile(ctx context.Context, runID int64, outcome string, c tokenevents.ReconcileCounts, o tokenevents.ReconcileOptions) error {
	err := d.write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM reconcile_work WHERE run_id = ?`, runID); err != nil {
			return err
		}
		if o.DryRun {
			return execAll(ctx, tx, []any{runID}, `DELETE FROM reconcile_changes WHERE run_id = ?1`,
				`DELETE FROM reconcile_runs WHERE id = ?1`)
		}
		trans, _ := json.Marshal(c.Transitions)
		if _, err := tx.ExecContext(ctx, `UPDATE reconcile_runs SET finished_at = ?, outcome = ?, examined = ?,
			changed = ?, transitions = ? WHERE id = ?`, ts(time.Now()), outcome, c.Examined, c.Changed, string(trans), runID); err != nil {
			return err
		}
		return nil
	})
	if err == nil && !o.DryRun {
		err = d.pruneWrites(ctx)
	}
	if err != nil {
		err = fmt.Errorf("record reconcile end: %w", err)
	}
	return errors.Join(err, d.releaseReconcileLock())
}

// pruneChunk bounds one prune statement: SQLite collects the row ids a
// DELETE removes in memory first, so one statement over millions of rows
// would cost hundreds of MB.
const pruneChunk = 50_000

// pruneWrites drops the part of the write log that every account's
// watermark has passed, a chunk per transaction.
func (d *DB) pruneWrites(ctx context.Context) error {
	var upto sql.NullInt64
	if err := d.db.GetContext(ctx, &upto, `SELECT min(seen_write) FROM reconcile_watermarks`); err != nil || !upto.Valid {
		return err
	}
	for {
		var n int64
		err := d.write(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM token_writes WHERE id <= min(?1,
				(SELECT id FROM token_writes ORDER BY id LIMIT 1) + ?2)`, upto.Int64, pruneChunk)
			if err == nil {
				n, err = res.RowsAffected()
			}
			return err
		})
		if err != nil || n == 0 {
			return err
		}
	}
}

// LookupToken loads a token with its events and customer.
func (d *DB) LookupToken(ctx context.Context, account, tokenType, tokenValue string) (*tokenevents.TokenRecord, error) {
	rec, err := d.lookup(ctx, account, tokenType, tokenValue)
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	return rec, nil
}

func (d *DB) lookup(ctx context.Context, account, tokenType, tokenValue string) (*tokenevents.TokenRecord, error) {
	var t struct {
		ID         string         `db:"id"`
		CreatedAt  sql.NullString `db:"created_at"`
		CustomerID sql.NullString `db:"customer_id"`
		Status     sql.NullString `db:"status"`
		DeletedAt  sql.NullString `db:"deleted_at"`
		Metadata   sql.NullString `db:"metadata"`
		CCreatedAt sql.NullString `db:"customer_created_at"`
		UpdatedAt  sql.NullString `db:"updated_at"`
	}
	err := d.db.GetContext(ctx, &t, `SELECT t.id, t.created_at, t.customer_id, c.status, c.deleted_at,
			c.metadata, c.created_at AS customer_created_at, c.updated_at
		FROM tokens t LEFT JOIN customers c ON c.account_id = t.account_id AND c.customer_id = t.customer_id
		WHERE t.account_id = ? AND t.token_type = ? AND t.token_value = ?`, account, tokenType, tokenValue)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec := &tokenevents.TokenRecord{AccountID: account, TokenType: tokenType, TokenValue: tokenValue, ID: t.ID}
	if rec.CreatedAt, err = parseTS(t.CreatedAt); err != nil {
		return nil, err
	}
	if t.CustomerID.Valid {
		deleted, err1 := parseTS(t.DeletedAt)
		created, err2 := parseTS(t.CCreatedAt)
		updated, err3 := parseTS(t.UpdatedAt)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		rec.Customer = &tokenevents.Customer{ID: t.CustomerID.String, Status: t.Status.String, DeletedAt: deleted,
			CreatedAt: created, UpdatedAt: updated}
		if t.Metadata.Valid {
			rec.Customer.Metadata = []byte(t.Metadata.String)
		}
	}
	rows, err := d.db.QueryContext(ctx, `SELECT event, status, created_at, expires_at, metadata FROM token_events
		WHERE account_id = ? AND token_type = ? AND token_value = ?`, account, tokenType, tokenValue)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		e := tokenevents.Event{AccountID: account, TokenType: tokenType, TokenValue: tokenValue}
		var created, expires sql.NullString
		var meta string
		if err := rows.Scan(&e.Event, &e.Status, &created, &expires, &meta); err != nil {
			return nil, err
		}
		var e1, e2 error
		e.CreatedAt, e1 = parseTS(created)
		e.ExpiresAt, e2 = parseNullTS(expires)
		if err := errors.Join(e1, e2); err != nil {
			return nil, err
		}
		e.Metadata = []byte(meta)
		rec.Events = append(rec.Events, e)
	}
	return rec, rows.Err()
}
