package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tokenevents/tokenevents"
)

// Outcomes of a run and of a file, as recorded in import_runs and
// import_files.
const (
	OutcomeDone        = "done"
	OutcomeSkipped     = "skipped"
	OutcomeFailed      = "failed"
	OutcomeRejected    = "too_many_rejects"
	OutcomeInterrupted = "interrupted"
)

// Summary is what a run did. RowsRead == RowsImported + RowsRejected +
// RowsPending; when the run is done, Events == EventsNew + EventsUpdated +
// EventsUnchanged + Duplicates. EventsResumed counts the events an
// interrupted earlier run had staged: this run did not stage them again,
// but merged them.
type Summary struct {
	RunID        int64  `json:"run_id"`
	Outcome      string `json:"outcome"`
	Files        int    `json:"files"`
	FilesSkipped int    `json:"files_skipped"`
	FilesFailed  int    `json:"files_failed"`
	RowsRead     int64  `json:"rows_read"`
	RowsImported int64  `json:"rows_imported"` // in files whose events were all merged
	RowsRejected int64  `json:"rows_rejected"`
	// RowsPending were read but not merged: their file failed, was
	// interrupted or stopped at --max-rejects. Running again imports them.
	RowsPending int64 `json:"rows_pending"`
	// LinesUnread and BytesUnread measure text that was read but could not
	// be parsed into rows: a quoted field that never closes swallows the
	// rest of its file, a gzip stream cut short ends inside a line.
	LinesUnread            int64 `json:"lines_unread"`
	BytesUnread            int64 `json:"bytes_unread"`
	FieldsRejected         int64 `json:"fields_rejected"`
	EventsExpiredOnArrival int64 `json:"events_expired_on_arrival"`
	Events                 int64 `json:"events"`
	EventsNew              int64 `json:"events_new"`
	EventsUpdated          int64 `json:"events_updated"`
	EventsUnchanged        int64 `json:"events_unchanged"`
	Duplicates             int64 `json:"duplicates"`
	EventsResumed          int64 `json:"events_resumed"`
	TokensNew              int64 `json:"tokens_new"`
	// Customers (import --customers, or an events file's customer_id):
	// later rows of one customer or token in a run count as unchanged.
	CustomersNew       int64   `json:"customers_new"`
	CustomersUpdated   int64   `json:"customers_updated"`
	CustomersUnchanged int64   `json:"customers_unchanged"`
	LinksNew           int64   `json:"links_new"`
	LinksMoved         int64   `json:"links_moved"`
	LinksUnchanged     int64   `json:"links_unchanged"`
	Seconds            float64 `json:"seconds"`
	RowsPerSecond      float64 `json:"rows_per_second"`
	RejectsFile        string  `json:"rejects_file,omitempty"`
}

// counters are the run's live counts, shared by the pipeline's goroutines.
type counters struct {
	rowsRead, rowsRejected, fieldsRejected, events, resumed  atomic.Int64
	new, updated, unchanged, duplicates, tokensNew           atomic.Int64
	rowsImported, expiredOnArrival, linesUnread, bytesUnread atomic.Int64
	customersNew, customersUpdated, customersUnchanged       atomic.Int64
	linksNew, linksMoved, linksUnchanged                     atomic.Int64
}

func (c *counters) addMerge(b tokenevents.MergeCounts) {
	c.new.Add(b.New)
	c.updated.Add(b.Updated)
	c.unchanged.Add(b.Unchanged)
	c.duplicates.Add(b.Duplicates)
	c.tokensNew.Add(b.NewTokens)
	c.linksNew.Add(b.LinksNew)
	c.linksMoved.Add(b.LinksMoved)
	c.linksUnchanged.Add(b.LinksUnchanged + b.LinkDuplicates)
	c.customersNew.Add(b.Customers.New)
	c.customersUpdated.Add(b.Customers.Updated)
	c.customersUnchanged.Add(b.Customers.Unchanged + b.Customers.Duplicates)
}

// Importer runs imports. Preflight needs no store, so that usage errors are
// reported before a database is even opened; Run writes to one.
type Importer struct {
	store tokenevents.ImportStore
	opts  Options
	stdin io.Reader
	c     counters
}

// NewImporter validates the options and returns an importer. stdin is read
// for the file name "-".
func NewImporter(opts Options, stdin io.Reader) (*Importer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Importer{opts: opts, stdin: stdin}, nil
}

// PreparedFile is an input checked before anything is written.
type PreparedFile struct {
	path string
	src  Source // kept open for stdin only
	cols *columns
	// stdinHash accumulates the digest of standard input as it is read,
	// stdinRead counts its bytes.
	stdinHash hash.Hash
	stdinRead *atomic.Int64
	err       error // the file could not be opened
}

// Preflight opens every file, reads its header and maps its columns, so that
// a usage error is reported before the run writes anything.
func (im *Importer) Preflight(ctx context.Context, paths []string) ([]PreparedFile, error) {
	if len(paths) == 0 {
		return nil, tokenevents.UsageErrorf("no input files (give FILE... or - for standard input)")
	}
	var out []PreparedFile
	stdinSeen := false
	for _, p := range paths {
		if p == "-" {
			if stdinSeen {
				return nil, tokenevents.UsageErrorf("- given more than once")
			}
			stdinSeen = true
		}
		var in io.Reader
		var h hash.Hash
		var read *atomic.Int64
		if p == "-" {
			// Standard input is read once: its digest is taken on the way,
			// and its bytes counted for progress displays.
			h = sha256.New()
			read = new(atomic.Int64)
			in = io.TeeReader(&meteredReader{r: im.stdin, read: read}, h)
		}
		src, err := openSource(ctx, p, in, &im.opts, nil)
		if IsInputError(err) {
			// An unreadable file fails alone, in Run; the others still import.
			out = append(out, PreparedFile{path: p, err: err})
			continue
		}
		if err != nil {
			closeAll(out)
			return nil, err
		}
		cols, err := mapColumns(src.Header(), &im.opts)
		if err == nil {
			err = selectColumns(src, cols)
		}
		if err != nil {
			closeAll(out)
			return nil, errors.Join(fmt.Errorf("%s: %w", p, err), src.Close())
		}
		pf := PreparedFile{path: p, cols: cols, stdinHash: h, stdinRead: read}
		if p == "-" {
			pf.src = src
		} else if err := src.Close(); err != nil {
			return nil, inputError(p, err)
		}
		out = append(out, pf)
	}
	return out, nil
}

func closeAll(files []PreparedFile) {
	for _, f := range files {
		if f.src != nil {
			_ = f.src.Close()
		}
	}
}

// Run imports the prepared files in order and records the run. The summary
// is filled as far as the run got, also when it returns an error.
func (im *Importer) Run(ctx context.Context, store tokenevents.ImportStore, files []PreparedFile) (sum Summary, err error) {
	start := time.Now()
	im.store = store
	im.opts.RunStart, _ = tokenevents.StorableTime(start)
	defer closeAll(files)
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.path
	}
	runID, err := im.store.StartImport(ctx, im.opts.describe(names))
	if err != nil {
		return sum, err
	}
	sum.RunID = runID
	rejects := &rejectsFile{path: im.opts.RejectsPath}
	if rejects.path == "" {
		rejects.path = "rejects-" + strconv.FormatInt(runID, 10) + ".csv"
	}
	optsDigest := im.opts.digest()
	log := im.opts.Logger.With("run_id", runID)

	var failed []error // files that could not be read; the others go on
	for i, f := range files {
		sum.Files++
		skipped, ferr := im.runFile(ctx, runID, i, f, optsDigest, rejects, log)
		if skipped {
			sum.FilesSkipped++
		}
		var cut *CutShortError
		if (IsInputError(ferr) || errors.As(ferr, &cut)) && ctx.Err() == nil {
			log.Error("file cannot be read to its end", "file", f.path, "err", ferr)
			sum.FilesFailed++
			failed = append(failed, ferr)
			continue
		}
		if err = ferr; err != nil {
			break
		}
	}
	err = errors.Join(append(failed, err)...)

	path, rerr := rejects.close()
	sum.RejectsFile = path
	log.Debug("rejects written", "rejects", rejects.n, "seconds", rejects.spent.Seconds())
	err = errors.Join(err, rerr)
	im.fill(&sum, time.Since(start))
	sum.Outcome = outcomeOf(ctx, err)
	if errors.Is(err, tokenevents.ErrTooManyRejects) {
		err = fmt.Errorf("%w: %d of %d rows rejected, more than --max-rejects %s (see %s)", tokenevents.ErrTooManyRejects,
			sum.RowsRejected, sum.RowsRead, im.opts.MaxRejects, sum.RejectsFile)
	}
	summary, _ := json.Marshal(sum)
	ferr := im.store.FinishImport(context.WithoutCancel(ctx), runID, sum.Outcome, summary, time.Now())
	return sum, errors.Join(err, ferr)
}

// runFile imports one file and records its outcome. It reports whether the
// file was skipped as already imported.
func (im *Importer) runFile(ctx context.Context, runID int64, i int, f PreparedFile, optsDigest string,
	rejects *rejectsFile, log *slog.Logger) (skipped bool, err error) {
	rec := tokenevents.ImportFile{Index: i, Name: f.path, OptionsDigest: optsDigest}
	record := func(sourceID int64, discard bool) error {
		return im.store.FinishFile(context.WithoutCancel(ctx), runID, sourceID, rec, discard)
	}
	if f.err == nil && f.path != "-" {
		// A second read of the file, before the import: skipping an
		// unchanged file and resuming an interrupted one both need the
		// digest before the first row is read.
		rec.ContentDigest, f.err = fileDigest(ctx, f.path)
	}
	if f.err != nil {
		rec.Outcome = OutcomeFailed
		return false, errors.Join(f.err, record(0, false))
	}
	// A file read from standard input cannot be read again, so its source
	// is private to this run and dropped if the run fails.
	sourceKey := fmt.Sprintf("run:%d:%d", runID, i)
	if f.path != "-" {
		sourceKey = sourceKeyOf(rec.ContentDigest, optsDigest)
		if !im.opts.Force {
			done, err := im.store.SourceDone(ctx, rec.ContentDigest, optsDigest)
			if err != nil {
				return false, err
			}
			if done {
				log.Info("file unchanged since an earlier import, skipped (use --force to import it again)", "file", f.path)
				rec.Outcome = OutcomeSkipped
				return true, record(0, false)
			}
		}
	}
	state, err := im.store.OpenSource(ctx, runID, sourceKey, Partitions)
	if err != nil {
		return false, err
	}
	fs, err := im.importFile(ctx, runID, f, state, rejects, log)
	rec.RowsRead, rec.RowsRejected, rec.Events = fs.rows, fs.rejected, fs.events
	if fs.digest != "" {
		rec.ContentDigest = fs.digest
	}
	if err == nil || fs.cut != nil && err == error(fs.cut) {
		// Every staged event of the file is merged.
		im.c.rowsImported.Add(fs.rows - fs.rejected)
	}
	if fs.cut != nil {
		im.c.linesUnread.Add(fs.cut.LinesUnread)
		im.c.bytesUnread.Add(fs.cut.BytesUnread)
	}
	rec.Outcome = outcomeOf(ctx, err)
	log.Info("file finished", "file", f.path, "outcome", rec.Outcome, "rows", fs.rows, "events", fs.events)
	// A file cut short is merged as far as it was read, and its source is
	// dropped: running again reads it again (and fails the same way)
	// rather than resuming a merge that is complete.
	return false, errors.Join(err, record(state.ID, f.path == "-" || fs.cut != nil))
}

func outcomeOf(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return OutcomeDone
	case errors.Is(err, tokenevents.ErrTooManyRejects):
		return OutcomeRejected
	case ctx.Err() != nil:
		return OutcomeInterrupted
	}
	return OutcomeFailed
}

func (im *Importer) fill(s *Summary, elapsed time.Duration) {
	c := &im.c
	s.RowsRead = c.rowsRead.Load()
	s.RowsRejected = c.rowsRejected.Load()
	s.RowsImported = c.rowsImported.Load()
	s.RowsPending = s.RowsRead - s.RowsImported - s.RowsRejected
	s.LinesUnread = c.linesUnread.Load()
	s.BytesUnread = c.bytesUnread.Load()
	s.EventsExpiredOnArrival = c.expiredOnArrival.Load()
	s.FieldsRejected = c.fieldsRejected.Load()
	s.Events = c.events.Load()
	s.EventsResumed = c.resumed.Load()
	s.EventsNew = c.new.Load()
	s.EventsUpdated = c.updated.Load()
	s.EventsUnchanged = c.unchanged.Load()
	s.Duplicates = c.duplicates.Load()
	s.TokensNew = c.tokensNew.Load()
	s.CustomersNew, s.CustomersUpdated, s.CustomersUnchanged = c.customersNew.Load(), c.customersUpdated.Load(), c.customersUnchanged.Load()
	s.LinksNew, s.LinksMoved, s.LinksUnchanged = c.linksNew.Load(), c.linksMoved.Load(), c.linksUnchanged.Load()
	s.Seconds = elapsed.Seconds()
	if s.Seconds > 0 {
		s.RowsPerSecond = float64(s.RowsRead) / s.Seconds
	}
}

func sourceKeyOf(contentDigest, optionsDigest string) string {
	sum := sha256.Sum256([]byte(contentDigest + "/" + optionsDigest))
	return hex.EncodeToString(sum[:])
}
