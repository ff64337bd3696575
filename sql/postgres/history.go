package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/tokenevents/tokenevents"
)

var _ tokenevents.RunHistory = (*DB)(nil)

// ImportRuns lists the last imports, newest first.
func (d *DB) ImportRuns(ctx context.Context, last int) ([]tokenevents.ImportRun, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, started_at, finished_at, outcome, files, summary
		FROM import_runs ORDER BY id DESC LIMIT $1`, last)
	if err != nil {
		return nil, fmt.Errorf("import runs: %w", err)
	}
	defer rows.Close()
	var out []tokenevents.ImportRun
	for rows.Next() {
		var r tokenevents.ImportRun
		var finished sql.NullTime
		var files, summary []byte
		if err := rows.Scan(&r.ID, &r.StartedAt, &finished, &r.Outcome, &files, &summary); err != nil {
			return nil, fmt.Errorf("import runs: %w", err)
		}
		r.FinishedAt = optionalTime(finished)
		r.Files, r.Summary = rawJSON(files), rawJSON(summary)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReconcileRuns lists the last reconciles, newest first.
func (d *DB) ReconcileRuns(ctx context.Context, last int) ([]tokenevents.ReconcileRun, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, started_at, finished_at, outcome, as_of, accounts, full_run,
		coalesce(examined, 0), coalesce(changed, 0), transitions FROM reconcile_runs ORDER BY id DESC LIMIT $1`, last)
	if err != nil {
		return nil, fmt.Errorf("reconcile runs: %w", err)
	}
	defer rows.Close()
	var out []tokenevents.ReconcileRun
	for rows.Next() {
		var r tokenevents.ReconcileRun
		var finished sql.NullTime
		var transitions []byte
		if err := rows.Scan(&r.ID, &r.StartedAt, &finished, &r.Outcome, &r.AsOf, (*pq.StringArray)(&r.Accounts), &r.Full,
			&r.Examined, &r.Changed, &transitions); err != nil {
			return nil, fmt.Errorf("reconcile runs: %w", err)
		}
		r.FinishedAt = optionalTime(finished)
		if len(transitions) > 0 {
			if err := json.Unmarshal(transitions, &r.Transitions); err != nil {
				return nil, fmt.Errorf("reconcile runs: %w", err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func optionalTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// rawJSON is a stored JSON value, or JSON null when there is none.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}
