package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tokenevents/tokenevents"
)

var _ tokenevents.RunHistory = (*DB)(nil)

// ImportRuns lists the last imports, newest first.
func (d *DB) ImportRuns(ctx context.Context, last int) ([]tokenevents.ImportRun, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, started_at, finished_at, outcome, files, summary
		FROM import_runs ORDER BY id DESC LIMIT ?`, last)
	if err != nil {
		return nil, fmt.Errorf("import runs: %w", err)
	}
	defer rows.Close()
	var out []tokenevents.ImportRun
	for rows.Next() {
		var r tokenevents.ImportRun
		var started, finished, files, summary sql.NullString
		if err := rows.Scan(&r.ID, &started, &finished, &r.Outcome, &files, &summary); err != nil {
			return nil, fmt.Errorf("import runs: %w", err)
		}
		var e1, e2 error
		r.StartedAt, e1 = parseTS(started)
		r.FinishedAt, e2 = optionalTS(finished)
		if err := errors.Join(e1, e2); err != nil {
			return nil, fmt.Errorf("import runs: %w", err)
		}
		r.Files, r.Summary = rawJSON(files), rawJSON(summary)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReconcileRuns lists the last reconciles, newest first.
func (d *DB) ReconcileRuns(ctx context.Context, last int) ([]tokenevents.ReconcileRun, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, started_at, finished_at, outcome, as_of, accounts, full_run,
		coalesce(examined, 0), coalesce(changed, 0), transitions FROM reconcile_runs ORDER BY id DESC LIMIT ?`, last)
	if err != nil {
		return nil, fmt.Errorf("reconcile runs: %w", err)
	}
	defer rows.Close()
	var out []tokenevents.ReconcileRun
	for rows.Next() {
		var r tokenevents.ReconcileRun
		var started, finished, asOf, accounts, transitions sql.NullString
		if err := rows.Scan(&r.ID, &started, &finished, &r.Outcome, &asOf, &accounts, &r.Full, &r.Examined, &r.Changed,
			&transitions); err != nil {
			return nil, fmt.Errorf("reconcile runs: %w", err)
		}
		var e1, e2, e3, e4, e5 error
		r.StartedAt, e1 = parseTS(started)
		r.FinishedAt, e2 = optionalTS(finished)
		r.AsOf, e3 = parseTS(asOf)
		if accounts.Valid {
			e4 = json.Unmarshal([]byte(accounts.String), &r.Accounts)
		}
		if transitions.Valid && transitions.String != "" {
			e5 = json.Unmarshal([]byte(transitions.String), &r.Transitions)
		}
		if err := errors.Join(e1, e2, e3, e4, e5); err != nil {
			return nil, fmt.Errorf("reconcile runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func optionalTS(s sql.NullString) (*time.Time, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	t, err := ParseTime(s.String)
	return &t, err
}

// rawJSON is a stored JSON text, or JSON null when there is none.
func rawJSON(s sql.NullString) json.RawMessage {
	if !s.Valid || s.String == "" {
		return json.RawMessage("null")
	}
	return json.RawMessage(s.String)
}
