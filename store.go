package tokenevents

import (
	"context"
	"encoding/hex"
	"time"
)

// StagedEvent is an event on its way to a store, with its position in the
// input: Seq orders occurrences of the same key (the largest wins) and Row is
// the 0-based data row it came from.
type StagedEvent struct {
	Event
	Partition int
	Seq       int64
	Row       int64
	// TokenID is a fresh random UUID, used if the event's token is new.
	// Made here rather than by the database, where gen_random_uuid()
	// costs more than the rest of a token's insert.
	TokenID [16]byte
}

// Batch is one all-or-nothing staging write. It knows its source rows: a
// failure names them, and its ledger marks let a resumed run skip them.
type Batch struct {
	SourceID  int64
	File      string // display name, for errors
	FirstLine int64  // input line of the first event, for errors
	Events    []StagedEvent
	Customers []StagedCustomer
	Links     []StagedLink
	// Marks: for each partition listed, every event, customer and link of
	// an input row up to UptoRow is staged once this batch commits.
	// (A customer's partition comes from a hash of its id.)
	Marks []StageMark
}

// StageMark is one partition's progress in a Batch.
type StageMark struct {
	Partition int
	UptoRow   int64
	Events    int64 // events of this partition in the batch
	Links     int64 // links of this partition in the batch
	Customers int64 // customers of this partition in the batch
}

// MergeCounts is what merging a staged partition did. For events, Staged
// == Duplicates + New + Updated + Unchanged; for links, LinksStaged ==
// LinkDuplicates + LinksNew + LinksMoved + LinksUnchanged.
type MergeCounts struct {
	Staged     int64
	Duplicates int64 // earlier occurrences of a key within the source
	New        int64
	Updated    int64
	Unchanged  int64
	NewTokens  int64 // by events and by links

	LinksStaged    int64
	LinkDuplicates int64
	LinksNew       int64 // a token linked to a customer for the first time
	LinksMoved     int64 // a token moved from another customer
	LinksUnchanged int64 // already linked so, or the stored link is newer

	Customers CustomerCounts
}

// SourceState is the ledger of one source: a file's content read with one
// set of options.
type SourceState struct {
	ID int64
	// Merging is set once every event is staged: a resumed run then only
	// merges the partitions not yet merged.
	Merging    bool
	StagedUpto []int64 // per partition, the last staged input row, or -1
	Merged     []bool  // per partition
}

// ImportFile describes one input file of a run.
type ImportFile struct {
	Index         int    `json:"index"`
	Name          string `json:"name"`
	ContentDigest string `json:"content_digest"` // sha256 hex of the bytes as read
	OptionsDigest string `json:"options_digest"` // sha256 hex of what shapes its events
	Outcome       string `json:"outcome"`        // done, skipped, failed, interrupted, too_many_rejects
	RowsRead      int64  `json:"rows_read"`
	RowsRejected  int64  `json:"rows_rejected"`
	Events        int64  `json:"events"`
}

// ImportStore is what the importer needs from a database.
//
// An import stages each source's events (StageBatch, in batches that commit
// with their ledger marks), then merges them partition by partition
// (MergePartition, each one transaction): the last occurrence of a key in the
// source wins, unchanged events are not rewritten, and a run interrupted in
// either phase resumes from the ledger.
type ImportStore interface {
	// StartImport records a new run and returns its id. It may wait for
	// another import into the same database to finish.
	StartImport(ctx context.Context, options []byte) (int64, error)
	// SourceDone reports whether a run already imported this content with
	// these options to the end.
	SourceDone(ctx context.Context, contentDigest, optionsDigest string) (bool, error)
	// OpenSource returns the ledger of a source, creating it if new. A
	// source whose staged events were lost starts again from nothing.
	OpenSource(ctx context.Context, runID int64, sourceKey string, partitions int) (SourceState, error)
	// StageBatch stages the batch's events and its marks in one transaction.
	StageBatch(ctx context.Context, b *Batch) error
	// StagingDone records that every event of the source is staged.
	StagingDone(ctx context.Context, sourceID int64) error
	// MergePartition merges one staged partition into the token tables
	// and customers, in one transaction: its events, its links, and the
	// customers whose ids fall in it (all rows of one customer do).
	MergePartition(ctx context.Context, runID, sourceID int64, partition int) (MergeCounts, error)
	// FinishFile records a file's outcome. A done file's source and ledger
	// are dropped; with discard, so are those of a file that cannot resume.
	FinishFile(ctx context.Context, runID, sourceID int64, f ImportFile, discard bool) error
	// FinishImport records the run's end and lets the next import start.
	FinishImport(ctx context.Context, runID int64, outcome string, summary []byte, finished time.Time) error
}

// AppendUUID appends id in the canonical 8-4-4-4-12 text form.
func AppendUUID(buf []byte, id *[16]byte) []byte {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], id[10:16])
	return append(buf, b[:]...)
}

// LedgerRow is one partition of a source's ledger with what its stage
// actually holds, as the stores read it back.
type LedgerRow struct {
	Partition        int   `db:"partition"`
	StagedUpto       int64 `db:"staged_upto"`
	StagedEvents     int64 `db:"staged_events"`
	StagedLinks      int64 `db:"staged_links"`
	StagedCustomers  int64 `db:"staged_customers"`
	Merged           bool  `db:"merged"`
	Present          int64 `db:"present"`
	PresentLinks     int64 `db:"present_links"`
	PresentCustomers int64 `db:"present_customers"`
}

// StageLost is the ledger's lost-stage check, the same for every store:
// an unmerged partition whose stage holds fewer rows than its ledger
// counted was emptied (a server crash empties unlogged tables) or
// truncated, and the source must be staged again.
func StageLost(rows []LedgerRow) bool {
	for _, r := range rows {
		if !r.Merged && (r.Present != r.StagedEvents || r.PresentLinks != r.StagedLinks || r.PresentCustomers != r.StagedCustomers) {
			return true
		}
	}
	return false
}
