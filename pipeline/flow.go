package pipeline

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tokenevents/tokenevents"
)

// fileStats are one file's counts.
type fileStats struct {
	rows, rejected, events int64
	digest                 string // set for standard input, known only at the end
	stageSeconds           float64
	// cut is set when the file's text ended early: the records before it
	// are staged and merged, and the file is not done.
	cut *CutShortError
}

// workChunk is a run of consecutive records handed to one worker.
type workChunk struct {
	seq     int64
	records []Record
}

var recordPool = sync.Pool{New: func() any { s := make([]Record, 0, 512); return &s }}

// importFile stages a file's events (unless an earlier run staged them all),
// then merges its partitions, Writers of them at a time.
func (im *Importer) importFile(ctx context.Context, runID int64, f PreparedFile, state tokenevents.SourceState,
	rejects *rejectsFile, log *slog.Logger) (fileStats, error) {
	var st fileStats
	staged := make([]int64, Partitions)
	start := time.Now()
	defer func() {
		log.Debug("file phases", "file", f.path, "stage_seconds", st.stageSeconds, "merge_seconds", time.Since(start).Seconds()-st.stageSeconds)
	}()
	if state.Merging {
		log.Info("resuming the merge of an interrupted import; the file is not read again", "file", f.path)
	} else {
		var err error
		st, err = im.stageFile(ctx, f, state, rejects, staged)
		st.stageSeconds = time.Since(start).Seconds()
		if err != nil {
			return st, err
		}
		if err := im.store.StagingDone(ctx, state.ID); err != nil {
			return st, err
		}
	}
	if err := im.mergeFile(ctx, runID, f.path, state, staged); err != nil {
		return st, err
	}
	if st.cut != nil {
		return st, st.cut
	}
	return st, nil
}

// mergeFile merges the source's staged partitions, Writers at a time.
func (im *Importer) mergeFile(ctx context.Context, runID int64, file string, state tokenevents.SourceState, staged []int64) (err error) {
	todo := make(chan int, Partitions)
	for p := range Partitions {
		if !state.Merged[p] && (state.StagedUpto[p] >= 0 || staged[p] > 0) {
			todo <- p
		}
	}
	close(todo)
	meter := tokenevents.NewMeter(tokenevents.PhaseMerging, tokenevents.UnitPartitions, int64(len(todo)))
	meter.File = file
	tokenevents.BeginPhase(im.opts.Progress, meter)
	defer func() { tokenevents.EndPhase(im.opts.Progress, meter, err == nil) }()
	g, gctx := errgroup.WithContext(ctx)
	for range im.opts.Writers {
		g.Go(func() error {
			for p := range todo {
				if err := gctx.Err(); err != nil {
					return err
				}
				c, err := im.store.MergePartition(gctx, runID, state.ID, p)
				if err != nil {
					return err
				}
				im.c.addMerge(c)
				meter.Done.Add(1)
				if state.Merging {
					im.c.events.Add(c.Staged)
				}
			}
			return nil
		})
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = ctx.Err()
	}
	return err
}

// stageFile runs one file through the staging pipeline:
//
//	reader ─▶ work ─▶ workers ─▶ results ─▶ sequencer ─▶ writer[w] ─▶ store
//
// Workers normalise and hash chunks in parallel; the sequencer puts their
// results back in input order, writes rejects, and routes each event to the
// writer that owns its partition. A writer stages its batches one after the
// other, so the ledger marks committed with a batch are exact for the
// writer's partitions. Every channel is bounded and every send and receive
// also watches ctx. staged receives, per partition, the events staged.
func (im *Importer) stageFile(ctx context.Context, f PreparedFile, state tokenevents.SourceState, rejects *rejectsFile,
	staged []int64) (st fileStats, err error) {
	o := &im.opts
	var fileEvents, fileRows, fileRejected atomic.Int64
	src, meter, err := im.openForStaging(ctx, f, &fileRows)
	if err != nil {
		return st, err
	}
	defer src.Close()
	tokenevents.BeginPhase(o.Progress, meter)
	defer func() { tokenevents.EndPhase(o.Progress, meter, err == nil && st.cut == nil) }()
	ledger := state.StagedUpto

	g, gctx := errgroup.WithContext(ctx)
	work := make(chan workChunk, 2*o.Workers)
	results := make(chan *chunkResult, 2*o.Workers)
	toWriter := make([]chan *tokenevents.Batch, o.Writers)
	for i := range toWriter {
		toWriter[i] = make(chan *tokenevents.Batch, 2)
	}
	// inflight bounds the chunks between the reader and the sequencer,
	// including those the sequencer holds back until the ones before them
	// arrive: with chunks capped by bytes, memory is bounded by bytes.
	inflight := make(chan struct{}, 3*o.Workers+2)

	g.Go(func() error { // reader
		defer close(work)
		for seq := int64(0); ; seq++ {
			select {
			case inflight <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			buf := recordPool.Get().(*[]Record)
			recs, err := src.Read(gctx, (*buf)[:0], o.ChunkRows)
			var cut *CutShortError
			if errors.As(err, &cut) && len(recs) == 0 {
				st.cut = cut // the records before it are imported; the file is not done
				err = io.EOF
			}
			if err == io.EOF {
				recordPool.Put(buf)
				return nil
			}
			if err != nil {
				return err
			}
			select {
			case work <- workChunk{seq: seq, records: recs}:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
	})

	var running atomic.Int64
	running.Store(int64(o.Workers))
	for range o.Workers {
		g.Go(func() error { // normalise and hash
			defer func() {
				if running.Add(-1) == 0 {
					close(results)
				}
			}()
			tr, err := newTransformer(f.path, f.cols, o)
			if err != nil {
				return err
			}
			for {
				var wc workChunk
				var ok bool
				select {
				case wc, ok = <-work:
					if !ok {
						return nil
					}
				case <-gctx.Done():
					return gctx.Err()
				}
				res := &chunkResult{seq: wc.seq, lastRow: -1}
				for i := range wc.records {
					if o.Customers {
						tr.transformCustomer(res, &wc.records[i])
					} else {
						tr.transform(res, &wc.records[i])
					}
				}
				clear(wc.records)
				recs := wc.records[:0]
				recordPool.Put(&recs)
				select {
				case results <- res:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		})
	}

	g.Go(func() error { // sequencer
		defer func() {
			for _, ch := range toWriter {
				close(ch)
			}
		}()
		sq := sequencer{im: im, o: o, sourceID: state.ID, file: f.path, ledger: ledger, staged: staged,
			rejects: rejects, toWriter: toWriter, batches: make([]*tokenevents.Batch, o.Writers),
			bytes: make([]int, o.Writers), counts: make([][Partitions]int64, o.Writers),
			links: make([][Partitions]int64, o.Writers), customers: make([][Partitions]int64, o.Writers), lastRow: -1}
		pending := map[int64]*chunkResult{}
		var next int64
		for {
			var res *chunkResult
			var ok bool
			select {
			case res, ok = <-results:
			case <-gctx.Done():
				return gctx.Err()
			}
			if !ok {
				break
			}
			pending[res.seq] = res
			for r := pending[next]; r != nil; r = pending[next] {
				delete(pending, next)
				next++
				<-inflight
				fileRows.Add(r.rows)
				fileRejected.Add(r.rowsRejected)
				fileEvents.Add(int64(len(r.events)))
				if err := sq.process(gctx, r); err != nil {
					return err
				}
			}
		}
		// The exact check: a file that ends past the limit is not done, so
		// running again (with a higher --max-rejects) imports it again.
		if o.MaxRejects.Exceeded(im.c.rowsRejected.Load(), im.c.rowsRead.Load(), true) {
			return tokenevents.ErrTooManyRejects
		}
		for w := range sq.batches {
			if err := sq.flush(gctx, w); err != nil {
				return err
			}
		}
		return nil
	})

	for w := range o.Writers {
		g.Go(func() error { // stages the partitions p with p % Writers == w
			for {
				var b *tokenevents.Batch
				var ok bool
				select {
				case b, ok = <-toWriter[w]:
					if !ok {
						return nil
					}
				case <-gctx.Done():
					return gctx.Err()
				}
				if err := im.store.StageBatch(gctx, b); err != nil {
					return err
				}
				putBatch(b)
			}
		})
	}

	err = g.Wait()
	st.rows, st.rejected, st.events = fileRows.Load(), fileRejected.Load(), fileEvents.Load()
	if err != nil {
		st.cut = nil
	}
	if f.stdinHash != nil && err == nil {
		st.digest = hex.EncodeToString(f.stdinHash.Sum(nil))
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = ctx.Err()
	}
	return st, err
}

// sequencer is the single goroutine that sees results in input order.
type sequencer struct {
	im        *Importer
	o         *Options
	sourceID  int64
	file      string
	ledger    []int64 // per partition, the last row an earlier run staged
	staged    []int64 // per partition, events staged by this run
	rejects   *rejectsFile
	toWriter  []chan *tokenevents.Batch
	batches   []*tokenevents.Batch
	bytes     []int
	counts    [][Partitions]int64 // per writer, events per partition in its open batch
	links     [][Partitions]int64 // per writer, links per partition in its open batch
	customers [][Partitions]int64 // per writer, customers per partition in its open batch
	lastRow   int64
}

func (s *sequencer) process(ctx context.Context, r *chunkResult) error {
	c := &s.im.c
	if err := s.rejects.write(r.rejects); err != nil {
		return err
	}
	read := c.rowsRead.Add(r.rows)
	rejected := c.rowsRejected.Add(r.rowsRejected)
	c.fieldsRejected.Add(r.fieldsRejected)
	c.events.Add(int64(len(r.events)))
	c.expiredOnArrival.Add(r.expiredOnArrival)
	if s.o.MaxRejects.Exceeded(rejected, read, false) {
		return tokenevents.ErrTooManyRejects
	}
	for i := range r.events {
		e := &r.events[i]
		if e.Row <= s.ledger[e.Partition] {
			c.resumed.Add(1) // staged by an earlier, unfinished run
			continue
		}
		w, b := s.batch(e.Partition, e.line)
		e.Seq = e.Row
		b.Events = append(b.Events, e.StagedEvent)
		s.bytes[w] += e.size
		s.counts[w][e.Partition]++
	}
	for _, cu := range r.customers {
		if cu.Row > s.ledger[cu.Partition] { // else staged by an earlier, unfinished run
			w, b := s.batch(cu.Partition, 0)
			b.Customers = append(b.Customers, cu)
			s.bytes[w] += 160 + len(cu.CustomerID) + len(cu.Metadata)
			s.customers[w][cu.Partition]++
		}
	}
	for _, l := range r.links {
		if l.Row > s.ledger[l.Partition] {
			w, b := s.batch(l.Partition, 0)
			b.Links = append(b.Links, l)
			s.bytes[w] += 160 + len(l.CustomerID)
			s.links[w][l.Partition]++
		}
	}
	if r.lastRow >= 0 {
		s.lastRow = r.lastRow
	}
	// Batches are cut at chunk boundaries only: every event of every row up
	// to lastRow has then been routed, which is what the ledger marks claim.
	for w, b := range s.batches {
		if b != nil && (len(b.Events)+len(b.Customers)+len(b.Links) >= s.o.BatchRows || s.bytes[w] >= s.o.BatchBytes) {
			if err := s.flush(ctx, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// batch returns the writer that owns partition p and its open batch.
func (s *sequencer) batch(p int, line int64) (int, *tokenevents.Batch) {
	w := p % len(s.batches)
	b := s.batches[w]
	if b == nil {
		b = getBatch()
		b.SourceID, b.File, b.FirstLine = s.sourceID, s.file, line
		s.batches[w] = b
	}
	return w, b
}

// flush sends writer w's batch with ledger marks for all its partitions.
func (s *sequencer) flush(ctx context.Context, w int) error {
	b := s.batches[w]
	if b == nil {
		return nil
	}
	for p := w; p < Partitions; p += len(s.batches) {
		n, k, c := s.counts[w][p], s.links[w][p], s.customers[w][p]
		b.Marks = append(b.Marks, tokenevents.StageMark{Partition: p, UptoRow: s.lastRow, Events: n, Links: k, Customers: c})
		s.staged[p] += n + k + c
	}
	s.batches[w], s.bytes[w] = nil, 0
	s.counts[w], s.links[w], s.customers[w] = [Partitions]int64{}, [Partitions]int64{}, [Partitions]int64{}
	select {
	case s.toWriter[w] <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var batchPool = sync.Pool{New: func() any { return &tokenevents.Batch{} }}

func getBatch() *tokenevents.Batch { return batchPool.Get().(*tokenevents.Batch) }

func putBatch(b *tokenevents.Batch) {
	clear(b.Events)
	clear(b.Customers)
	clear(b.Links)
	*b = tokenevents.Batch{Events: b.Events[:0], Customers: b.Customers[:0], Links: b.Links[:0], Marks: b.Marks[:0]}
	batchPool.Put(b)
}
