package pipeline

import (
	"context"
	"errors"
	"os"
	"sync/atomic"

	"github.com/tokenevents/tokenevents"
)

// openForStaging opens f's source for the staging phase (standard input
// was opened by Preflight) and returns the meter of its reading: bytes
// of the file's size for delimited text (compressed bytes under gzip),
// rows of the footer's count for Parquet, bytes so far for standard input.
// rows counts the file's rows as the pipeline reads them.
func (im *Importer) openForStaging(ctx context.Context, f PreparedFile, rows *atomic.Int64) (Source, *tokenevents.Meter, error) {
	m := &tokenevents.Meter{Phase: tokenevents.PhaseStaging, File: f.path, Unit: tokenevents.UnitBytes, Rows: rows}
	if f.src != nil { // standard input, counted as Preflight read it
		m.Done = f.stdinRead
		return f.src, m, nil
	}
	m.Done = new(atomic.Int64)
	src, err := openSource(ctx, f.path, nil, &im.opts, m.Done)
	if err != nil {
		return nil, nil, err
	}
	if err := selectColumns(src, f.cols); err != nil {
		return nil, nil, errors.Join(err, src.Close())
	}
	if ps, ok := src.(*parquetSource); ok {
		m.Unit, m.Done = tokenevents.UnitRows, rows
		m.Total.Store(ps.pf.NumRows())
	} else if fi, err := os.Stat(f.path); err == nil {
		m.Total.Store(fi.Size())
	}
	return src, m, nil
}
