// Package progress shows what a run is doing (SPEC §8): on a terminal, a
// live bar per phase drawn with vbauerster/mpb, with log lines printed
// above the bars so that they never tear them; elsewhere, with
// --progress-every, a plain progress log record at that interval.
//
// A Display is a tokenevents.Progress: the pipeline and the stores tell it
// when phases begin and end, and it reads their meters' counters at its own
// pace.
package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/tokenevents/tokenevents"
)

// Options choose how a Display shows progress.
type Options struct {
	// Bars draws live bars; use it when the output is a terminal
	// (IsTerminal).
	Bars bool
	// Every, when Bars is off, writes a progress record at this interval;
	// 0 writes none.
	Every time.Duration
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// tick is how often bars take their meters' counts.
const tick = 100 * time.Millisecond

// Display is a run's progress output and the writer of its log lines.
// Close it when the run ends.
type Display struct {
	out   io.Writer
	every time.Duration

	mu sync.Mutex
	// emitting is held while update shows the phases it took and while
	// End removes one, so that once End returns no record or bar update
	// for that phase can still be on its way.
	emitting sync.Mutex
	bars     *mpb.Progress // nil when not drawing, and once closed
	refresh  chan any
	active   map[*tokenevents.Meter]*phase
	log      *slog.Logger

	started bool
	stop    chan struct{}
	done    chan struct{}
}

// phase is a meter being shown.
type phase struct {
	m     *tokenevents.Meter
	bar   *mpb.Bar
	start time.Time
	// ended holds the phase's length once it ended (0 before): a finished
	// bar keeps the rate and the figures it ended with.
	ended atomic.Int64
}

// figures are the phase's figures now, or as it ended.
func (ph *phase) figures() figures {
	elapsed := time.Duration(ph.ended.Load())
	if elapsed == 0 {
		elapsed = time.Since(ph.start)
	}
	f := figuresOf(ph.m, elapsed)
	f.over = ph.ended.Load() != 0
	return f
}

// New returns a display writing to out (standard error).
func New(out io.Writer, o Options) *Display {
	d := &Display{out: out, every: o.Every, active: map[*tokenevents.Meter]*phase{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if o.Bars {
		// Refreshed by hand: a log line written above the bars shows at
		// the next refresh, and Close refreshes once more so that the
		// last lines are never lost.
		d.refresh = make(chan any)
		d.bars = mpb.New(mpb.WithOutput(out), mpb.WithManualRefresh(d.refresh))
	}
	return d
}

// Write writes a log line: above the bars while they are drawn, else
// straight to the output.
func (d *Display) Write(p []byte) (int, error) {
	d.mu.Lock()
	bars := d.bars
	d.mu.Unlock()
	if bars != nil {
		if n, err := bars.Write(p); err == nil {
			return n, nil
		}
	}
	return d.out.Write(p)
}

// Start begins updating the bars, or writing records to log (which should
// write to d) every interval. It returns at once.
func (d *Display) Start(ctx context.Context, log *slog.Logger) {
	d.log, d.started = log, true
	interval := tick
	if d.bars == nil {
		interval = d.every
	}
	if interval <= 0 {
		close(d.done)
		return
	}
	go func() {
		defer close(d.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				d.update(ctx)
			case <-d.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
}

// Begin shows a new phase.
func (d *Display) Begin(m *tokenevents.Meter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ph := &phase{m: m, start: time.Now()}
	if d.bars != nil {
		ph.bar = d.newBar(ph)
	}
	d.active[m] = ph
}

// End shows a phase as over: a completed one at 100%, one that failed or
// was interrupted where it stopped.
func (d *Display) End(m *tokenevents.Meter, completed bool) {
	d.emitting.Lock()
	defer d.emitting.Unlock()
	d.mu.Lock()
	ph := d.active[m]
	delete(d.active, m)
	d.mu.Unlock()
	if ph == nil {
		return
	}
	ph.ended.Store(int64(max(1, time.Since(ph.start))))
	if ph.bar == nil {
		return
	}
	ph.bar.SetCurrent(m.Done.Load())
	if completed {
		ph.bar.SetTotal(-1, true)
	} else {
		ph.bar.Abort(false)
	}
}

// Close stops the display: phases still shown stop where they are, the
// bars are drawn a last time, and log lines go straight to the output.
func (d *Display) Close() {
	close(d.stop)
	if d.started {
		<-d.done
	}
	d.mu.Lock()
	bars := d.bars
	for m, ph := range d.active {
		if ph.bar != nil {
			ph.bar.Abort(false)
		}
		delete(d.active, m)
	}
	d.mu.Unlock()
	if bars != nil {
		d.refresh <- time.Now()
		bars.Wait()
		d.mu.Lock()
		d.bars = nil
		d.mu.Unlock()
	}
}

// update moves the bars to their meters' counts, or writes a record per
// phase.
func (d *Display) update(ctx context.Context) {
	d.emitPhases(ctx)
	if d.refresh != nil {
		select {
		case d.refresh <- time.Now():
		case <-d.stop:
		}
	}
}

// emitPhases moves each running phase's bar, or writes its record.
func (d *Display) emitPhases(ctx context.Context) {
	d.emitting.Lock()
	defer d.emitting.Unlock()
	d.mu.Lock()
	phases := make([]*phase, 0, len(d.active))
	for _, ph := range d.active {
		phases = append(phases, ph)
	}
	d.mu.Unlock()
	for _, ph := range phases {
		if ph.bar != nil {
			ph.bar.SetCurrent(ph.m.Done.Load())
			continue
		}
		if d.log != nil {
			d.log.LogAttrs(ctx, slog.LevelInfo, "progress", ph.figures().attrs()...)
		}
	}
}

func (d *Display) newBar(ph *phase) *mpb.Bar {
	m := ph.m
	name := decor.Name(fmt.Sprintf("%-9s %s", m.Phase, subject(m)), decor.WC{C: decor.DindentRight | decor.DextraSpace})
	trailer := decor.Any(func(decor.Statistics) string {
		return ph.figures().String()
	})
	if m.Total.Load() <= 0 {
		return d.bars.AddSpinner(0, mpb.PrependDecorators(name), mpb.AppendDecorators(trailer))
	}
	return d.bars.AddBar(m.Total.Load(), mpb.PrependDecorators(name),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Name(" "), trailer))
}

func subject(m *tokenevents.Meter) string {
	if m.Account != "" {
		return "account " + m.Account
	}
	return m.File
}
