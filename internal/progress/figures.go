package progress

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/tokenevents/tokenevents"
)

// figures are what a bar and a progress record say about a phase, taken
// from its meter at one instant.
type figures struct {
	m           *tokenevents.Meter
	done, total int64
	rows        int64 // -1: not counted
	elapsed     time.Duration
	over        bool // the phase ended
}

func figuresOf(m *tokenevents.Meter, elapsed time.Duration) figures {
	f := figures{m: m, done: m.Done.Load(), total: m.Total.Load(), rows: -1, elapsed: elapsed}
	if m.Rows != nil {
		f.rows = m.Rows.Load()
	}
	return f
}

// percent is the share done, or -1 when the total is not known.
func (f figures) percent() float64 {
	if f.total <= 0 {
		return -1
	}
	return math.Min(100, float64(f.done)*100/float64(f.total))
}

// eta is the time left at the average rate so far, or -1 when it cannot
// be told yet.
func (f figures) eta() time.Duration {
	if f.over || f.total <= 0 || f.done <= 0 || f.elapsed <= 0 {
		return -1
	}
	left := max(0, f.total-f.done)
	return time.Duration(float64(f.elapsed) * float64(left) / float64(f.done)).Round(time.Second)
}

func (f figures) rowsPerSecond() float64 {
	if f.rows < 0 || f.elapsed <= 0 {
		return 0
	}
	return float64(f.rows) / f.elapsed.Seconds()
}

// String is a bar's trailer: "12,000 rows, 5,100 rows/s, 3.1 MB, ETA 12s".
func (f figures) String() string {
	var s string
	switch {
	case f.rows >= 0:
		s = fmt.Sprintf("%s rows, %s rows/s", grouped(f.rows), grouped(int64(f.rowsPerSecond())))
		if f.m.Unit == tokenevents.UnitBytes {
			s += ", " + megabytes(f.done)
		}
	case f.total > 0:
		s = fmt.Sprintf("%d/%d %s", f.done, f.total, f.m.Unit)
	default:
		s = fmt.Sprintf("%d %s", f.done, f.m.Unit)
	}
	if eta := f.eta(); eta >= 0 {
		s += ", ETA " + eta.String()
	}
	if f.over {
		s += fmt.Sprintf(", %.1f s", f.elapsed.Seconds())
	}
	return s
}

// attrs are a progress record's fields.
func (f figures) attrs() []slog.Attr {
	a := []slog.Attr{slog.String("phase", f.m.Phase)}
	if f.m.File != "" {
		a = append(a, slog.String("file", f.m.File))
	}
	if f.m.Account != "" {
		a = append(a, slog.String("account_id", f.m.Account))
	}
	a = append(a, slog.String("unit", f.m.Unit), slog.Int64("done", f.done))
	if f.total > 0 {
		a = append(a, slog.Int64("total", f.total), slog.Float64("percent", math.Round(f.percent()*10)/10))
	}
	if f.rows >= 0 {
		a = append(a, slog.Int64("rows", f.rows), slog.Float64("rows_per_second", math.Round(f.rowsPerSecond())))
	}
	a = append(a, slog.Float64("elapsed_seconds", math.Round(f.elapsed.Seconds()*10)/10))
	if eta := f.eta(); eta >= 0 {
		a = append(a, slog.Float64("eta_seconds", eta.Seconds()))
	}
	return a
}

// grouped writes n with thousands separators: 1,234,567.
func grouped(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func megabytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
