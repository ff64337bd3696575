package tokenevents

import (
	"context"
	"time"
)

// StagedEvent is an event on its way to a store, with its position in the
// input: Seq orders occurrences of the same key (the largest wins) and Row is
// the 0-based data row it came from.
type StagedEvent struct {
	Event
	Seq int64
	Row int64
}

// LedgerMark says that every event of one partition of a source up to and
// including input row UptoRow is committed.
type LedgerMark struct {
	Partition int
	UptoRow   int64
}

// Batch is one all-or-nothing write. It knows its source rows so that a
// failure can name them and a resumed run can skip what it committed.
type Batch struct {
	RunID     int64
	File      string // display name, for errors
	SourceKey string // content digest and options; empty when not resumable
	FirstLine int64  // input line of the first event, for errors
	Events    []StagedEvent
	Ledger    []LedgerMark
}

// BatchCounts is what one batch did. Staged == Duplicates + New + Updated +
// Unchanged.
type BatchCounts struct {
	Staged     int64
	Duplicates int64 // earlier occurrences of a key within the run, merged
	New        int64
	Updated    int64
	Unchanged  int64
	NewTokens  int64
}

// Add accumulates o into c.
func (c *BatchCounts) Add(o BatchCounts) {
	c.Staged += o.Staged
	c.Duplicates += o.Duplicates
	c.New += o.New
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
	c.NewTokens += o.NewTokens
}

// ImportFile describes one input file of a run.
type ImportFile struct {
	Index         int    `json:"index"`
	Name          string `json:"name"`
	ContentDigest string `json:"content_digest"` // sha256 hex of the bytes as read
	OptionsDigest string `json:"options_digest"` // sha256 hex of what shapes its events
	Outcome       string `json:"outcome"`        // done, skipped, failed, stopped
	RowsRead      int64  `json:"rows_read"`
	RowsRejected  int64  `json:"rows_rejected"`
	Events        int64  `json:"events"`
}

// ImportStore is what the importer needs from a database. Implementations
// must make WriteBatch atomic: its events, its tokens and its ledger marks
// commit together or not at all.
type ImportStore interface {
	// StartImport records a new run and returns its id.
	StartImport(ctx context.Context, options []byte) (int64, error)
	// SourceDone reports whether a run already imported this content with
	// these options to the end.
	SourceDone(ctx context.Context, contentDigest, optionsDigest string) (bool, error)
	// Ledger returns, per partition, the last input row committed for the
	// source by an unfinished run, or -1.
	Ledger(ctx context.Context, sourceKey string, partitions int) ([]int64, error)
	// WriteBatch upserts the batch's tokens and events and its ledger marks
	// in one transaction, retrying transient failures.
	WriteBatch(ctx context.Context, b *Batch) (BatchCounts, error)
	// FinishFile records a file's outcome; a done file's ledger is dropped.
	FinishFile(ctx context.Context, runID int64, sourceKey string, f ImportFile) error
	// FinishImport records the run's end.
	FinishImport(ctx context.Context, runID int64, outcome string, summary []byte, finished time.Time) error
}
