// Package reconcile recomputes aggregated statuses through a store, writes
// the diff report and answers token lookups.
package reconcile

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/tokenevents/tokenevents"
)

// Columns of the diff report, in the SPEC's order.
var Columns = []string{"account_id", "token_type", "token_value", "token_id", "previous_status", "status",
	"decided_by", "event", "event_created_at", "event_expires_at", "as_of"}

// ReportWriter writes diff report rows. Close completes the report; Abort
// discards it.
type ReportWriter interface {
	Write(c tokenevents.Change) error
	Close() error
	Abort() error
}

// abort marks out failed, if it is a file, and closes it: the file is removed.
func abort(out io.Closer) error {
	if af, ok := out.(*atomicFile); ok {
		af.failed = true
	}
	return out.Close()
}

// NewReportWriter picks the format by extension: .csv, .jsonl or .parquet;
// "-" writes CSV to stdout. The file is written to a temporary name and
// renamed on Close, so a failed run never leaves half a report.
func NewReportWriter(path string, stdout io.Writer) (ReportWriter, error) {
	if path == "-" {
		return newCSVReport(nopCloser{stdout}), nil
	}
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".csv", ".jsonl", ".parquet":
	default:
		return nil, tokenevents.UsageErrorf("--report %s: the extension must be .csv, .jsonl or .parquet", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		// Named as given, not by the temporary name: nothing has been
		// computed or written yet, so it is a configuration error.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, tokenevents.UsageErrorf("--report %s: cannot write there: %v", path, err)
	}
	af := &atomicFile{f: f, path: path}
	switch ext {
	case ".csv":
		return newCSVReport(af), nil
	case ".jsonl":
		return &jsonlReport{out: af, w: bufio.NewWriter(af)}, nil
	}
	return &parquetReport{out: af, w: parquet.NewGenericWriter[parquetChange](af)}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// atomicFile renames its temporary file into place when closed after a
// successful write, and removes it otherwise.
type atomicFile struct {
	f      *os.File
	path   string
	failed bool
}

func (a *atomicFile) Write(p []byte) (int, error) {
	n, err := a.f.Write(p)
	if err != nil {
		a.failed = true
	}
	return n, err
}

func (a *atomicFile) Close() error {
	err := a.f.Close()
	if err != nil || a.failed {
		return errors.Join(err, os.Remove(a.f.Name()))
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return errors.Join(fmt.Errorf("report %s: %w", a.path, unwrapPath(err)), os.Remove(a.f.Name()))
	}
	return nil
}

// unwrapPath drops an *os.PathError's operation and (temporary) path.
func unwrapPath(err error) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// rfc3339Null is an optional instant's text, "" when absent.
func rfc3339Null(t tokenevents.NullTime) string {
	if !t.Valid {
		return ""
	}
	return rfc3339(t.Time)
}

// eventTimes are the deciding event's instants, absent when no event
// decided. (Its created_at may be year 1, Go's zero time: whether there is
// one is told by DecidedBy, not by the value.)
func eventTimes(c *tokenevents.Change) (created, expires tokenevents.NullTime) {
	if c.DecidedBy != tokenevents.DecidedByEvent {
		return tokenevents.NullTime{}, tokenevents.NullTime{}
	}
	return tokenevents.At(c.EventCreatedAt), c.EventExpiresAt
}

type csvReport struct {
	out io.WriteCloser
	w   *csv.Writer
	row []string
}

func newCSVReport(out io.WriteCloser) *csvReport {
	r := &csvReport{out: out, w: csv.NewWriter(out)}
	_ = r.w.Write(Columns)
	return r
}

func (r *csvReport) Write(c tokenevents.Change) error {
	created, expires := eventTimes(&c)
	r.row = append(r.row[:0], c.AccountID, c.TokenType, c.TokenValue, c.TokenID, c.PreviousStatus, c.Status,
		c.DecidedBy, c.Event, rfc3339Null(created), rfc3339Null(expires), rfc3339(c.AsOf))
	return r.w.Write(r.row)
}

func (r *csvReport) Abort() error { return abort(r.out) }

func (r *csvReport) Close() error {
	r.w.Flush()
	return errors.Join(r.w.Error(), r.out.Close())
}

// jsonChange is a JSON Lines row; absent values are null.
type jsonChange struct {
	AccountID      string  `json:"account_id"`
	TokenType      string  `json:"token_type"`
	TokenValue     string  `json:"token_value"`
	TokenID        string  `json:"token_id"`
	PreviousStatus string  `json:"previous_status"`
	Status         string  `json:"status"`
	DecidedBy      string  `json:"decided_by"`
	Event          *string `json:"event"`
	EventCreatedAt *string `json:"event_created_at"`
	EventExpiresAt *string `json:"event_expires_at"`
	AsOf           string  `json:"as_of"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type jsonlReport struct {
	out io.WriteCloser
	w   *bufio.Writer
}

func (r *jsonlReport) Write(c tokenevents.Change) error {
	created, expires := eventTimes(&c)
	b, err := json.Marshal(jsonChange{c.AccountID, c.TokenType, c.TokenValue, c.TokenID, c.PreviousStatus, c.Status,
		c.DecidedBy, optional(c.Event), optional(rfc3339Null(created)), optional(rfc3339Null(expires)), rfc3339(c.AsOf)})
	if err != nil {
		return err
	}
	_, err = r.w.Write(append(b, '\n'))
	return err
}

func (r *jsonlReport) Abort() error { return abort(r.out) }

func (r *jsonlReport) Close() error { return errors.Join(r.w.Flush(), r.out.Close()) }

// parquetChange is a Parquet row: timestamps as UTC-adjusted microseconds.
type parquetChange struct {
	AccountID      string     `parquet:"account_id"`
	TokenType      string     `parquet:"token_type"`
	TokenValue     string     `parquet:"token_value"`
	TokenID        string     `parquet:"token_id"`
	PreviousStatus string     `parquet:"previous_status"`
	Status         string     `parquet:"status"`
	DecidedBy      string     `parquet:"decided_by"`
	Event          *string    `parquet:"event,optional"`
	EventCreatedAt *time.Time `parquet:"event_created_at,optional,timestamp(microsecond)"`
	EventExpiresAt *time.Time `parquet:"event_expires_at,optional,timestamp(microsecond)"`
	AsOf           time.Time  `parquet:"as_of,timestamp(microsecond)"`
}

func optionalTime(t tokenevents.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

type parquetReport struct {
	out io.WriteCloser
	w   *parquet.GenericWriter[parquetChange]
	buf []parquetChange
}

func (r *parquetReport) Write(c tokenevents.Change) error {
	created, expires := eventTimes(&c)
	r.buf = append(r.buf, parquetChange{c.AccountID, c.TokenType, c.TokenValue, c.TokenID, c.PreviousStatus, c.Status,
		c.DecidedBy, optional(c.Event), optionalTime(created), optionalTime(expires), c.AsOf.UTC()})
	if len(r.buf) == cap(r.buf) && len(r.buf) >= 1024 {
		return r.flush()
	}
	return nil
}

func (r *parquetReport) flush() error {
	if len(r.buf) == 0 {
		return nil
	}
	_, err := r.w.Write(r.buf)
	r.buf = r.buf[:0]
	return err
}

func (r *parquetReport) Abort() error { return abort(r.out) }

func (r *parquetReport) Close() error {
	err := r.flush()
	return errors.Join(err, r.w.Close(), r.out.Close())
}
